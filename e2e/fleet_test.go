package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFleet is `make scale FLEET=…`'s harness, not part of `make test`: it
// runs only with SSM_FLEET set, a list of fleet sizes K ("10,20,40"). It
// starts the largest K real kube-apiservers on one shared etcd (each its
// own --etcd-prefix), seeds each with SSM_FLEET_SERVICES Services of
// SSM_SCALE_ADDRS addresses, and for each K runs `ssm run --config` over
// the first K clusters into a local bare repository, measuring per binary:
// the first commit, RSS after it and at its peak, goroutines, open
// sockets, CPU a one-Service change (the changes walk the clusters), and
// change → commit p50/p99. SSM_SCALE_BASELINE measures another binary the
// same way in the same run. It ends with a fit of the peak RSS and the CPU
// a change to fixed + per cluster + per Service.
func TestFleet(t *testing.T) {
	cfg := fleetConfig(t)
	ctx := t.Context()
	dir := t.TempDir()
	etcd, err := startSharedEtcd(ctx, testbin, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.stop)
	largest := slices.Max(cfg.sizes)
	clusters := make([]*apiServer, largest)
	kubeconfigs := make([]string, largest)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, largest)
	sem := make(chan struct{}, 4) // API servers starting at once: the machine has two cores
	for i := range largest {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("fleet-%02d", i)
			clusters[i], errs[i] = startAPIServerOn(ctx, testbin, dir, name, etcd.url)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(clusters[i].Stop)
	}
	t.Logf("%d kube-apiservers on one etcd ready in %s", largest, time.Since(start).Round(time.Second))
	seed := scaleSettings{services: cfg.services, addrs: cfg.addrs}
	start = time.Now()
	seededBy := make([]seeded, largest)
	for i, c := range clusters {
		grantReader(t, c.Client)
		kubeconfigs[i] = readerKubeConfig(t, c)
		seededBy[i] = seedServices(t, c, seed)
	}
	t.Logf("seeded %d clusters × %d Services × %d addresses in %s", largest, cfg.services, cfg.addrs, time.Since(start).Round(time.Second))
	h := &fleetHarness{t: t, cfg: cfg, clusters: clusters, kubeconfigs: kubeconfigs, seeded: seededBy}
	subjects := [][2]string{{"ssm", ssmBin}}
	if cfg.baseline != "" {
		subjects = slices.Insert(subjects, 0, [2]string{"baseline", cfg.baseline})
	}
	var results []fleetResult
	for _, s := range subjects {
		for _, k := range cfg.sizes {
			r := h.run(s[0], s[1], k)
			t.Log(r)
			results = append(results, r)
		}
	}
	report := fleetTable(results) + "\n" + fleetFit(results, cfg.services)
	t.Logf("fleet report (%d Services a cluster × %d addresses, debounce %s):\n%s", cfg.services, cfg.addrs, cfg.debounce, report)
	if cfg.report != "" {
		if err := os.WriteFile(cfg.report, []byte(report+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
}

type fleetSettings struct {
	sizes                    []int
	services, addrs, changes int
	debounce                 time.Duration
	baseline, report, layout string
}

func fleetConfig(t *testing.T) fleetSettings {
	v := os.Getenv("SSM_FLEET")
	if v == "" {
		t.Skip("the fleet harness runs with `make scale FLEET=10,20,40`")
	}
	if !scaleOnly {
		t.Skip(cmp.Or(skipReason, "SSM_FLEET is read at start: no shared servers were started for it"))
	}
	var c fleetSettings
	for f := range strings.SplitSeq(v, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			t.Fatalf("SSM_FLEET=%q: want fleet sizes such as 10,20,40", v)
		}
		c.sizes = append(c.sizes, k)
	}
	num := func(name string, def int) int {
		n, err := strconv.Atoi(cmp.Or(os.Getenv(name), strconv.Itoa(def)))
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", name, os.Getenv(name))
		}
		return n
	}
	c.services, c.addrs, c.changes = num("SSM_FLEET_SERVICES", 250), num("SSM_SCALE_ADDRS", 10), num("SSM_FLEET_CHANGES", 40)
	d, err := time.ParseDuration(cmp.Or(os.Getenv("SSM_SCALE_DEBOUNCE"), "2s"))
	if err != nil {
		t.Fatalf("SSM_SCALE_DEBOUNCE: %v", err)
	}
	c.debounce, c.baseline, c.report = d, os.Getenv("SSM_SCALE_BASELINE"), os.Getenv("SSM_SCALE_REPORT")
	c.layout = cmp.Or(os.Getenv("SSM_FLEET_LAYOUT"), "flat")
	return c
}

// sharedEtcd is one etcd for many API servers, each under its own prefix.
type sharedEtcd struct {
	url  string
	proc *apiServer // only its etcd runs
}

func startSharedEtcd(ctx context.Context, bin, dir string) (*sharedEtcd, error) {
	s := &apiServer{name: "fleet-etcd", dir: filepath.Join(dir, "fleet-etcd")}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	if err := s.startEtcd(bin); err != nil {
		return nil, err
	}
	return &sharedEtcd{url: s.etcdURL, proc: s}, nil
}

func (e *sharedEtcd) stop() { e.proc.Stop() }

type fleetHarness struct {
	t           *testing.T
	cfg         fleetSettings
	clusters    []*apiServer
	kubeconfigs []string
	seeded      []seeded
	version     int
}

// fleetResult is what one run over k clusters measured.
type fleetResult struct {
	name               string
	clusters, services int // services: a cluster's
	firstCommit        time.Duration
	rssFirst, peakRSS  int64
	goroutines         float64
	sockets            int
	cpuPerChange       time.Duration
	latencies          []time.Duration
}

func (r fleetResult) String() string {
	lat := slices.Sorted(slices.Values(r.latencies))
	return fmt.Sprintf("%s, %d clusters × %d Services: first commit %s, RSS %.1f MiB after it, peak %.1f MiB, %.0f goroutines, %d sockets, "+
		"CPU %s a change, change → commit p50 %s p99 %s", r.name, r.clusters, r.services, r.firstCommit.Round(time.Millisecond),
		mib(r.rssFirst), mib(r.peakRSS), r.goroutines, r.sockets, r.cpuPerChange.Round(100*time.Microsecond), pct(lat, 50), pct(lat, 99))
}

// run runs bin over the first k clusters until the first commit, then
// makes one-Service changes, each in the next cluster, waiting for its
// commit.
func (h *fleetHarness) run(name, bin string, k int) fleetResult {
	t := h.t
	res := fleetResult{name: name, clusters: k, services: h.cfg.services}
	var remotes []any
	for i := range k {
		remotes = append(remotes, map[string]any{"name": fmt.Sprintf("c%02d", i), "kubeConfigPath": h.kubeconfigs[i],
			"servicePrefix": fmt.Sprintf("c%02d", i), "resyncPeriod": "1h"})
	}
	conf, _ := json.Marshal(map[string]any{"global": map[string]any{"mirrorSvcLabelSelector": "scale=true", "mirrorNamespace": "fleet-mirrors"},
		"remoteClusters": remotes})
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	bare := bareRepo(t)
	initial := refHash(t, bare)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"run", "--config", path, "--git-url", bare, "--git-path", "clusters/fleet", "--debounce", h.cfg.debounce.String(),
		"--max-delay", "10s", "--listen-address", addr, "--admin-address=", "--log-level", "info"}
	if h.cfg.layout != "flat" {
		args = append(args, "--layout", h.cfg.layout)
	}
	p := startMeasured(t, name, bin, args...)
	defer p.stop()
	want := k * h.cfg.services
	// The first commit may hold fewer clusters than k: those not read yet
	// keep what is stored. Wait for the one that holds every mirror.
	eventually(t, 15*time.Minute, fmt.Sprintf("%s: every mirror of %d clusters committed", name, k), func() bool {
		head := refHash(t, bare)
		return head != initial && strings.Count(git(t, bare, "ls-tree", "-r", "--name-only", head, "clusters/fleet"), "-73736d-") == want
	})
	res.firstCommit = time.Since(p.started)
	time.Sleep(time.Second)
	res.rssFirst = p.stats().rss
	res.goroutines = metricValue(addr, "go_goroutines")
	res.sockets = sockets(t, p.cmd.Process.Pid)
	h.changes(&res, p, bare, k)
	res.peakRSS = p.stats().hwm
	return res
}

// changes makes one-Service changes, each in the next of k clusters.
func (h *fleetHarness) changes(res *fleetResult, p *measured, bare string, k int) {
	t := h.t
	idleFrom, idleCPU := time.Now(), p.stats().cpu
	time.Sleep(5 * time.Second)
	idleRate := float64(p.stats().cpu-idleCPU) / float64(time.Since(idleFrom))
	cpuBefore, from := p.stats().cpu, time.Now()
	n := h.cfg.changes
	for c := range n {
		h.version++
		cl, s := h.clusters[c%k], h.seeded[c%k]
		i := (c * 7919) % len(s.name)
		ns, name := s.ns[i], s.name[i]
		old := refHash(t, bare)
		ep, err := cl.Client.CoreV1().Endpoints(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		next := scaleAddresses(ns, name, i, h.version, len(ep.Subsets[0].Addresses))
		if next[0].IP == ep.Subsets[0].Addresses[0].IP {
			h.version++
			next = scaleAddresses(ns, name, i, h.version, len(next))
		}
		ep.Subsets[0].Addresses = next
		if _, err := cl.Client.CoreV1().Endpoints(ns).Update(t.Context(), ep, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		changed := time.Now()
		for refHash(t, bare) == old {
			if time.Since(changed) > time.Minute {
				t.Fatalf("%s: change %d (cluster %d) not committed within a minute", res.name, c+1, c%k)
			}
			time.Sleep(5 * time.Millisecond)
		}
		res.latencies = append(res.latencies, time.Since(changed))
		time.Sleep(h.cfg.debounce / 10)
	}
	elapsed := time.Since(from)
	res.cpuPerChange = (p.stats().cpu - cpuBefore - time.Duration(idleRate*float64(elapsed))) / time.Duration(n)
}

// sockets counts the open sockets of a process: its connections to the
// API servers, the git server and its listeners.
func sockets(t *testing.T, pid int) int {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// fleetTable writes the results as a Markdown table, a row per binary and
// fleet size.
func fleetTable(rs []fleetResult) string {
	var b strings.Builder
	b.WriteString("| binary | K clusters | S Services each | first commit | RSS after / peak (MiB) | goroutines | sockets | CPU a change | p50 / p99 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		lat := slices.Sorted(slices.Values(r.latencies))
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %.1f / %.1f | %.0f | %d | %s | %s / %s |\n", r.name, r.clusters, r.services,
			r.firstCommit.Round(time.Millisecond), mib(r.rssFirst), mib(r.peakRSS), r.goroutines, r.sockets,
			r.cpuPerChange.Round(100*time.Microsecond), pct(lat, 50), pct(lat, 99))
	}
	return b.String()
}

// fleetFit fits, per binary, peak RSS = fixed + per cluster × K, and the
// same of goroutines and CPU a change, by least squares over the fleet
// sizes. The per-Service share is in the per-cluster term (S is the same
// in every run); docs/scale.md combines it with make scale's figures.
func fleetFit(rs []fleetResult, services int) string {
	byName := map[string][]fleetResult{}
	var names []string
	for _, r := range rs {
		if _, ok := byName[r.name]; !ok {
			names = append(names, r.name)
		}
		byName[r.name] = append(byName[r.name], r)
	}
	var b strings.Builder
	for _, n := range names {
		runs := byName[n]
		if len(runs) < 2 {
			continue
		}
		fit := func(y func(fleetResult) float64) (float64, float64) {
			var sx, sy, sxx, sxy float64
			for _, r := range runs {
				x := float64(r.clusters)
				sx, sy, sxx, sxy = sx+x, sy+y(r), sxx+x*x, sxy+x*y(r)
			}
			m := float64(len(runs))
			slope := (m*sxy - sx*sy) / (m*sxx - sx*sx)
			return (sy - slope*sx) / m, slope
		}
		f, p := fit(func(r fleetResult) float64 { return mib(r.peakRSS) })
		fg, pg := fit(func(r fleetResult) float64 { return r.goroutines })
		fc, pc := fit(func(r fleetResult) float64 { return float64(r.cpuPerChange) / float64(time.Millisecond) })
		fmt.Fprintf(&b, "%s: peak RSS ≈ %.1f MiB + %.2f MiB a cluster of %d Services (%.1f KiB a Service); goroutines ≈ %.0f + %.1f a cluster; "+
			"CPU a change ≈ %.1f ms + %.2f ms a cluster\n", n, f, p, services, p*1024/float64(services), fg, pg, fc, pc)
		if math.IsNaN(p) {
			b.WriteString("  (fit undefined: the fleet sizes must differ)\n")
		}
	}
	return b.String()
}
