package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestScale is `make scale`'s harness, not part of `make test`: it runs only
// with SSM_SCALE set (the number of remote Services). It starts a real
// kube-apiserver, seeds it with SSM_SCALE Services of SSM_SCALE_ADDRS
// addresses each, runs `ssm run` into a local bare repository and reports,
// per binary and layout:
//
//   - the time from start to the first commit, and peak RSS;
//   - CPU per one-Service change, and change → commit p50/p99;
//   - the bytes each such commit adds to the repository;
//   - watch and list requests per minute on the remote at steady state,
//     from the API server's audit log (its /metrics cannot tell ssm's
//     requests from the server's own).
//
// SSM_SCALE_BASELINE names another ssm binary (an older commit, built by
// `make scale BASELINE=<rev>`) measured the same way in the same run.
// SSM_SCALE_SMALL Services (1,000 by default) of the same remote measure peak
// RSS at that size, and SSM_SCALE_PEER names a semaphore-service-mirror
// binary (hack/scale/peer.sh) measured there side by side. SSM_SCALE_SOAK
// one-Service changes (with a 100ms debounce) sample RSS and Go heap for an
// upward trend.
func TestScale(t *testing.T) {
	cfg := scaleConfig(t)
	ctx := t.Context()
	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	auditLog := filepath.Join(dir, "audit.log")
	rem, err := startAPIServer(ctx, testbin, dir, "scale-remote",
		"--audit-policy-file="+policy, "--audit-log-path="+auditLog, "--audit-log-format=json", "--audit-log-mode=batch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rem.Stop)
	grantReader(t, rem.Client)
	readerKC := filepath.Join(dir, "reader.kubeconfig")
	if err := os.WriteFile(readerKC, []byte(kubeconfig(rem.URL, rem.CAFile, readerToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	seeded := seedServices(t, rem, cfg)
	t.Logf("seeded %d Services × %d addresses (%d of them labelled scale-small=true) in %s",
		cfg.services, cfg.addrs, min(cfg.small, cfg.services), time.Since(start).Round(time.Millisecond))

	h := &scaleHarness{t: t, cfg: cfg, remote: rem, readerKC: readerKC, audit: auditLog, seeded: seeded}
	var report []string
	type subject struct{ name, bin string }
	subjects := []subject{{"ssm", ssmBin}}
	if cfg.baseline != "" {
		subjects = slices.Insert(subjects, 0, subject{"baseline", cfg.baseline})
	}
	if cfg.small > 0 {
		for _, s := range subjects {
			report = append(report, h.runSSM(s.name, s.bin, "flat", "scale-small=true", cfg.small, 0, 0, cfg.debounce).String())
			t.Log(report[len(report)-1])
		}
		if cfg.peer != "" {
			report = append(report, h.runPeer(cfg.small).String())
			t.Log(report[len(report)-1])
		}
	}
	for _, s := range subjects {
		for _, layout := range cfg.layouts {
			if layout != "flat" && !supports(t, s.bin, "--layout") {
				t.Logf("%s (%s) has no --layout: %s layout not measured", s.name, s.bin, layout)
				continue
			}
			report = append(report, h.runSSM(s.name, s.bin, layout, "scale=true", cfg.services, cfg.changes, cfg.steady, cfg.debounce).String())
			t.Log(report[len(report)-1])
		}
	}
	if cfg.soak > 0 {
		for _, s := range subjects {
			report = append(report, h.runSSM(s.name+" soak", s.bin, "flat", "scale=true", cfg.services, cfg.soak, 0, 100*time.Millisecond).String())
			t.Log(report[len(report)-1])
		}
	}
	out := strings.Join(report, "\n")
	t.Logf("scale report (%d Services × %d addresses, debounce %s):\n%s", cfg.services, cfg.addrs, cfg.debounce, out)
	if cfg.report != "" {
		if err := os.WriteFile(cfg.report, []byte(out+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// auditPolicy records the list and watch requests of the reader ssm (and
// the peer) use, at the start of each watch and the end of each list.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ["` + readerUser + `"]
  verbs: ["list", "watch"]
- level: None
`

type scaleSettings struct {
	services, addrs, small, changes, soak int
	debounce, steady                      time.Duration
	layouts                               []string
	baseline, peer, report                string
}

func scaleConfig(t *testing.T) scaleSettings {
	v := os.Getenv("SSM_SCALE")
	if v == "" {
		t.Skip("the scale harness runs with `make scale` (SSM_SCALE=<Services>)")
	}
	if !scaleOnly {
		t.Skip(cmp.Or(skipReason, "SSM_SCALE is read at start: no shared servers were started for it"))
	}
	num := func(name string, def int) int {
		s := os.Getenv(name)
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Fatalf("%s=%q: want a number", name, s)
		}
		return n
	}
	dur := func(name string, def time.Duration) time.Duration {
		s := os.Getenv(name)
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, s, err)
		}
		return d
	}
	c := scaleSettings{
		services: num("SSM_SCALE", 10000), addrs: num("SSM_SCALE_ADDRS", 10), small: num("SSM_SCALE_SMALL", 1000),
		changes: num("SSM_SCALE_CHANGES", 20), soak: num("SSM_SCALE_SOAK", 0),
		debounce: dur("SSM_SCALE_DEBOUNCE", 2*time.Second), steady: dur("SSM_SCALE_STEADY", 3*time.Minute),
		layouts:  strings.Split(cmp.Or(os.Getenv("SSM_SCALE_LAYOUTS"), "flat,namespaces"), ","),
		baseline: os.Getenv("SSM_SCALE_BASELINE"), peer: os.Getenv("SSM_SCALE_PEER"), report: os.Getenv("SSM_SCALE_REPORT"),
	}
	if c.services < 1 || c.addrs < 1 || c.addrs > 250 {
		t.Fatalf("SSM_SCALE=%d, SSM_SCALE_ADDRS=%d: want at least one Service, 1 to 250 addresses", c.services, c.addrs)
	}
	return c
}

// supports says whether the ssm binary's run command has flag.
func supports(t *testing.T, bin, flag string) bool {
	out, _ := exec.Command(bin, "run", "--help").CombinedOutput()
	return bytes.Contains(out, []byte(flag+" "))
}

// seeded is where the seeded Services are: their namespaces and names, in
// the order changes walk them.
type seeded struct{ ns, name []string }

// seedServices creates the Services and their Endpoints through 32
// concurrent client-go writers: 100 Services a namespace, each with one
// port and addrs addresses. The first small Services (spread over the
// namespaces) are also labelled scale-small=true.
func seedServices(t *testing.T, s *apiServer, cfg scaleSettings) seeded {
	c, err := kubernetes.NewForConfig(&rest.Config{Host: s.URL, BearerToken: adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile}, QPS: -1, WarningHandler: rest.NoWarnings{}})
	if err != nil {
		t.Fatal(err)
	}
	namespaces := max(cfg.services/100, 1)
	for i := range namespaces {
		ensureNamespace(t, c, fmt.Sprintf("team-%03d", i))
	}
	var out seeded
	for i := range cfg.services {
		out.ns = append(out.ns, fmt.Sprintf("team-%03d", i%namespaces))
		out.name = append(out.name, fmt.Sprintf("service-%05d", i))
	}
	work := make(chan int)
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				if err := createScaleService(t.Context(), c, out.ns[i], out.name[i], i, cfg); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range cfg.services {
		select {
		case work <- i:
		case err := <-errs:
			close(work)
			t.Fatal(err)
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return out
}

func createScaleService(ctx context.Context, c kubernetes.Interface, ns, name string, i int, cfg scaleSettings) error {
	labels := map[string]string{"scale": "true", "app": name}
	if i < cfg.small {
		labels["scale-small"] = "true"
	}
	meta := metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}
	svc := &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}}
	if _, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Service %s/%s: %w", ns, name, err)
	}
	ep := &corev1.Endpoints{ObjectMeta: meta, Subsets: []corev1.EndpointSubset{{
		Addresses: scaleAddresses(ns, name, i, 0, cfg.addrs), Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
	if _, err := c.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Endpoints %s/%s: %w", ns, name, err)
	}
	return nil
}

// scaleAddresses returns the addresses of Service i at version v: distinct
// per Service, the first one changing with v. Version 0 (the seed) is the
// only one whose first address is .250: a change never writes back what
// was seeded, which would be no change and no commit. Versions 250-n
// apart repeat (changes skips a version that would write what is there).
// Each names its pod and node, as the endpoints controller writes them.
func scaleAddresses(ns, name string, i, v, n int) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, n)
	for a := range n {
		x := i*256 + a
		switch {
		case a == 0 && v == 0:
			x = i*256 + 250
		case a == 0:
			x = i*256 + 249 - (v-1)%(250-n)
		}
		podV := 0 // the first pod is replaced with each version, the others stay
		if a == 0 {
			podV = v
		}
		pod := fmt.Sprintf("%s-%08x-%d", name, podV, a)
		out[a] = corev1.EndpointAddress{IP: fmt.Sprintf("10.%d.%d.%d", 64+x>>16&63, x>>8&255, x&255),
			NodeName: ptr(fmt.Sprintf("node-%03d", (i+a)%500)),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod,
				UID: types.UID(fmt.Sprintf("%08x-%04x-4000-8000-%012x", i, a, podV))}}
	}
	return out
}

type scaleHarness struct {
	t        *testing.T
	cfg      scaleSettings
	remote   *apiServer
	readerKC string
	audit    string
	seeded   seeded
	version  int // of the changed addresses, so that every change is one
}

// scaleResult is what one run measured.
type scaleResult struct {
	name, layout       string
	services           int
	firstCommit        time.Duration
	files              int   // mirror files in the first commit
	rssFirst, peakRSS  int64 // bytes, a second after the first commit; VmHWM at the end
	heapFirst, heapEnd float64
	changes            int
	cpuPerChange       time.Duration
	latencies          []time.Duration
	commitBytes        []int64 // new objects' size on disk, per change commit
	repoGrowth         int64   // growth of the objects directory over the changes
	steady             time.Duration
	watches, lists     map[string]int // per resource, during the steady window
	rssTrend           []int64        // soak: VmRSS after every tenth of the changes
	heapTrend          []float64
	note               string
}

func (r scaleResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %d Services, %s layout: first commit %s (%d mirror files), RSS %.1f MiB after it, peak %.1f MiB",
		r.name, r.services, r.layout, r.firstCommit.Round(time.Millisecond), r.files, mib(r.rssFirst), mib(r.peakRSS))
	if r.heapFirst > 0 {
		fmt.Fprintf(&b, "; Go heap in use %.1f MiB after it, %.1f MiB at the end", r.heapFirst/(1<<20), r.heapEnd/(1<<20))
	}
	if r.changes > 0 {
		fmt.Fprintf(&b, "\n  %d one-Service changes: CPU %s a change", r.changes, r.cpuPerChange.Round(100*time.Microsecond))
		if lat := slices.Sorted(slices.Values(r.latencies)); len(lat) > 0 { // a soak keeps none
			fmt.Fprintf(&b, "; change → commit p50 %s p99 %s max %s", pct(lat, 50), pct(lat, 99), lat[len(lat)-1].Round(time.Millisecond))
		}
		if cb := slices.Sorted(slices.Values(r.commitBytes)); len(cb) > 0 {
			fmt.Fprintf(&b, "; bytes a commit adds: median %d, max %d", cb[len(cb)/2], cb[len(cb)-1])
		}
		fmt.Fprintf(&b, "; objects directory grew %d bytes a change", r.repoGrowth/int64(r.changes))
	}
	if r.steady > 0 {
		fmt.Fprintf(&b, "\n  steady %s: watches opened %v, lists %v (per minute: %.2f watches, %.2f lists)",
			r.steady.Round(time.Second), r.watches, r.lists, perMinute(r.watches, r.steady), perMinute(r.lists, r.steady))
	}
	if len(r.rssTrend) > 0 {
		fmt.Fprintf(&b, "\n  soak: VmRSS MiB after each tenth of the changes:")
		for _, v := range r.rssTrend {
			fmt.Fprintf(&b, " %.1f", mib(v))
		}
		fmt.Fprintf(&b, "\n  soak: Go heap in use MiB after each tenth:")
		for _, v := range r.heapTrend {
			fmt.Fprintf(&b, " %.1f", v/(1<<20))
		}
	}
	if r.note != "" {
		fmt.Fprintf(&b, "\n  %s", r.note)
	}
	return b.String()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)].Round(time.Millisecond)
}

func perMinute(m map[string]int, d time.Duration) float64 {
	n := 0
	for _, v := range m {
		n += v
	}
	return float64(n) / d.Minutes()
}

// runSSM runs bin into a new bare repository with the Services sel selects
// (want of them), makes changes one-Service changes one at a time, then
// watches the remote's requests for steady.
func (h *scaleHarness) runSSM(name, bin, layout, sel string, want, changes int, steady, debounce time.Duration) scaleResult {
	t := h.t
	t.Logf("%s: %d Services, %s layout, debounce %s", name, want, layout, debounce)
	res := scaleResult{name: name, layout: layout, services: want}
	bare := bareRepo(t)
	initial := refHash(t, bare)
	const gitPath = "clusters/scale/mirrors"
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"run", "--target-kube-config", h.readerKC, "--label-selector", sel, "--svc-prefix", "scale",
		"--mirror-ns", "scale-mirrors", "--git-url", bare, "--git-path", gitPath, "--debounce", debounce.String(),
		"--max-delay", "10s", "--listen-address", addr, "--log-level", "info"}
	if supports(t, bin, "--admin-address") {
		args = append(args, "--admin-address=")
	}
	if layout != "flat" {
		args = append(args, "--layout", layout)
	}
	p := startMeasured(t, name, bin, args...)
	defer p.stop()
	// First commit.
	eventually(t, 10*time.Minute, name+": the first commit", func() bool { return refHash(t, bare) != initial })
	res.firstCommit = time.Since(p.started)
	head := refHash(t, bare)
	res.files = strings.Count(git(t, bare, "ls-tree", "-r", "--name-only", head, gitPath), "-73736d-")
	if res.files != want {
		t.Errorf("%s: the first commit holds %d mirror files, want %d", name, res.files, want)
	}
	time.Sleep(time.Second)
	res.rssFirst = p.stats().rss
	res.heapFirst = metricValue(addr, "go_memstats_heap_inuse_bytes")
	if changes > 0 {
		h.changes(&res, p, bare, changes, debounce)
		if changes >= 100 {
			// A soak: no timing, the trend of memory.
			res.latencies = nil
		}
	}
	if steady > 0 {
		from := time.Now()
		time.Sleep(steady)
		res.steady = time.Since(from)
		res.watches, res.lists = auditCounts(t, h.audit, from, time.Now())
	}
	res.heapEnd = metricValue(addr, "go_memstats_heap_inuse_bytes")
	res.peakRSS = p.stats().hwm
	return res
}

// changes makes n one-Service changes, each waiting for its commit.
func (h *scaleHarness) changes(res *scaleResult, p *measured, bare string, n int, debounce time.Duration) {
	t := h.t
	c := h.remote.Client
	// Idle CPU before the changes, subtracted from theirs.
	idleFrom, idleCPU := time.Now(), p.stats().cpu
	time.Sleep(5 * time.Second)
	idleRate := float64(p.stats().cpu-idleCPU) / float64(time.Since(idleFrom))
	objects := filepath.Join(bare, "objects")
	sizeBefore := dirSize(t, objects)
	cpuBefore, from := p.stats().cpu, time.Now()
	tenth := max(n/10, 1)
	for k := range n {
		h.version++
		// Services spread over the namespaces, and only those selected
		// (the first small ones carry the small selector).
		i := (k * 7919) % min(res.services, len(h.seeded.name))
		ns, name := h.seeded.ns[i], h.seeded.name[i]
		old := refHash(t, bare)
		ep, err := c.CoreV1().Endpoints(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		next := scaleAddresses(ns, name, i, h.version, len(ep.Subsets[0].Addresses))
		if next[0].IP == ep.Subsets[0].Addresses[0].IP { // no change: no commit to wait for
			h.version++
			next = scaleAddresses(ns, name, i, h.version, len(next))
		}
		ep.Subsets[0].Addresses = next
		if _, err := c.CoreV1().Endpoints(ns).Update(t.Context(), ep, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		changed := time.Now()
		var head string
		for head = refHash(t, bare); head == old; head = refHash(t, bare) {
			if time.Since(changed) > time.Minute {
				t.Fatalf("%s: change %d of %s/%s not committed within a minute", res.name, k+1, ns, name)
			}
			time.Sleep(5 * time.Millisecond)
		}
		res.latencies = append(res.latencies, time.Since(changed))
		res.commitBytes = append(res.commitBytes, newObjectBytes(t, bare, old, head))
		if (k+1)%tenth == 0 && n >= 100 {
			res.rssTrend = append(res.rssTrend, p.stats().rss)
			res.heapTrend = append(res.heapTrend, metricValue(p.addr(), "go_memstats_heap_inuse_bytes"))
		}
		// Let the debounce of this change end before the next.
		time.Sleep(debounce / 10)
	}
	elapsed := time.Since(from)
	cpu := p.stats().cpu - cpuBefore - time.Duration(idleRate*float64(elapsed))
	res.changes, res.cpuPerChange = n, cpu/time.Duration(n)
	res.repoGrowth = dirSize(t, objects) - sizeBefore
	res.note = fmt.Sprintf("idle CPU %.4f s/s before the changes", idleRate)
}

// runPeer runs semaphore-service-mirror (SSM_SCALE_PEER) on the small
// selection, writing into a local API server as it does, for the side by
// side memory figure. It runs until it wrote every mirror or for five
// minutes, whichever is first.
func (h *scaleHarness) runPeer(want int) scaleResult {
	t := h.t
	res := scaleResult{name: "semaphore-service-mirror", layout: "(writes the local API)", services: want}
	loc, err := startAPIServer(t.Context(), testbin, t.TempDir(), "scale-local")
	if err != nil {
		t.Fatal(err)
	}
	defer loc.Stop()
	ensureNamespace(t, loc.Client, "scale-peer")
	conf := map[string]any{
		"global": map[string]any{"mirrorSvcLabelSelector": "scale-small=true", "globalSvcLabelSelector": "scale-global=true",
			"globalSvcRoutingStrategyLabel": "scale-topology=true", "mirrorNamespace": "scale-peer"},
		"localCluster":   map[string]any{"name": "local", "kubeConfigPath": loc.KubeConfig},
		"remoteClusters": []any{map[string]any{"name": "remote", "kubeConfigPath": h.readerKC, "servicePrefix": "peer", "resyncPeriod": "1h"}},
	}
	b, _ := json.Marshal(conf)
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startMeasured(t, "semaphore-service-mirror", h.cfg.peer, "-config", path, "-kube-config", loc.KubeConfig, "-log-level", "info")
	defer p.stop()
	count := func() int {
		l, err := loc.Client.CoreV1().Endpoints("scale-peer").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return -1
		}
		return len(l.Items)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) && count() < want {
		select {
		case <-p.done:
			t.Fatalf("semaphore-service-mirror exited: %v", p.cmd.ProcessState)
		case <-time.After(time.Second):
		}
	}
	n := count()
	res.files = n
	if n >= want {
		res.firstCommit = time.Since(p.started)
	}
	st := p.stats()
	res.rssFirst, res.peakRSS = st.rss, st.hwm
	res.note = fmt.Sprintf("wrote %d of %d mirrors (Endpoints) in %s; first commit above is the time it took to write them all (0: not all within the time)",
		n, want, time.Since(p.started).Round(time.Second))
	return res
}

// measured is a process whose memory and CPU the harness samples.
type measured struct {
	t       *testing.T
	cmd     *exec.Cmd
	args    []string
	started time.Time
	log     string
	done    chan struct{}
}

func startMeasured(t *testing.T, name, bin string, args ...string) *measured {
	p := &measured{t: t, args: args, log: filepath.Join(t.TempDir(), "process.log"), started: time.Now()}
	p.cmd, p.done = startLogged(t, p.log, bin, args...)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s log (last 4 KiB):\n%s", name, b[max(len(b)-4096, 0):])
		}
	})
	return p
}

func (p *measured) addr() string {
	for i, a := range p.args {
		if a == "--listen-address" && i+1 < len(p.args) {
			return p.args[i+1]
		}
	}
	return ""
}

func (p *measured) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

type procStats struct {
	rss, hwm int64 // bytes
	cpu      time.Duration
}

// stats reads the process's resident memory (now and peak) and CPU time
// (user + system) from /proc.
func (p *measured) stats() procStats {
	t := p.t
	var st procStats
	pid := p.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status of %d: %v", pid, err)
	}
	for l := range strings.SplitSeq(string(status), "\n") {
		k, v, _ := strings.Cut(l, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			st.rss = n << 10
		case "VmHWM":
			st.hwm = n << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read stat of %d: %v", pid, err)
	}
	// Fields after the command name (in parentheses, which may hold spaces):
	// utime and stime are the 12th and 13th, in clock ticks of 10ms.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	st.cpu = time.Duration(ut+stt) * 10 * time.Millisecond
	return st
}

// refHash returns what main points at in the bare repository, reading the
// loose ref (ssm writes loose refs) or packed-refs.
func refHash(t *testing.T, bare string) string {
	if b, err := os.ReadFile(filepath.Join(bare, "refs", "heads", "main")); err == nil {
		return strings.TrimSpace(string(b))
	}
	b, err := os.ReadFile(filepath.Join(bare, "packed-refs"))
	if err != nil {
		return ""
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if h, ok := strings.CutSuffix(l, " refs/heads/main"); ok {
			return h
		}
	}
	return ""
}

// newObjectBytes sums the size on disk (compressed, or packed) of the
// objects head has that old does not: what the commit added to the
// repository, and about what a push of it sends.
func newObjectBytes(t *testing.T, bare, old, head string) int64 {
	list := exec.Command("git", "-C", bare, "rev-list", "--objects", head, "^"+old)
	objs, err := list.Output()
	if err != nil {
		t.Fatalf("rev-list: %v", err)
	}
	var ids bytes.Buffer
	for l := range strings.SplitSeq(strings.TrimSpace(string(objs)), "\n") {
		id, _, _ := strings.Cut(l, " ")
		ids.WriteString(id + "\n")
	}
	check := exec.Command("git", "-C", bare, "cat-file", "--batch-check=%(objectsize:disk)")
	check.Stdin = &ids
	out, err := check.Output()
	if err != nil {
		t.Fatalf("cat-file: %v", err)
	}
	var sum int64
	for f := range strings.FieldsSeq(string(out)) {
		n, _ := strconv.ParseInt(f, 10, 64)
		sum += n
	}
	return sum
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// metricValue returns one unlabelled sample of the process's /metrics; 0
// when it is missing.
func metricValue(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// auditCounts counts the reader's watches opened and lists completed per
// resource between from and to. The audit log is written in batches: it
// waits for the batch holding to first.
func auditCounts(t *testing.T, path string, from, to time.Time) (watches, lists map[string]int) {
	time.Sleep(2 * time.Second)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	watches, lists = map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Stage     string    `json:"stage"`
			Verb      string    `json:"verb"`
			Received  time.Time `json:"requestReceivedTimestamp"`
			ObjectRef struct {
				Resource string `json:"resource"`
			} `json:"objectRef"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Received.Before(from) || ev.Received.After(to) {
			continue
		}
		switch {
		case ev.Verb == "watch" && ev.Stage == "ResponseStarted":
			watches[ev.ObjectRef.Resource]++
		case ev.Verb == "list" && ev.Stage == "ResponseComplete":
			lists[ev.ObjectRef.Resource]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return watches, lists
}

// TestScaleReport: a soak keeps no latencies; its report still prints.
func TestScaleReport(t *testing.T) {
	soak := scaleResult{name: "ssm soak", layout: "flat", services: 10, changes: 3, commitBytes: []int64{3, 1, 2},
		rssTrend: []int64{1 << 20}, heapTrend: []float64{1 << 20}}
	if s := soak.String(); !strings.Contains(s, "3 one-Service changes") || strings.Contains(s, "p50") || !strings.Contains(s, "median 2, max 3") {
		t.Errorf("soak report:\n%s", s)
	}
	run := scaleResult{name: "ssm", layout: "flat", services: 10, changes: 2, latencies: []time.Duration{2 * time.Second, time.Second}}
	if s := run.String(); !strings.Contains(s, "p50 1s p99 2s max 2s") {
		t.Errorf("report:\n%s", s)
	}
}
