package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestMCSReplicas: three `ssm run --api mcs` replicas commit one clusterset
// to one branch while Services are exported, unexported and their
// endpoints change, more of them at times than the ClusterSetIP range
// holds; one replica sees the remote through a lagging link. Over the
// whole history of the branch (followed without git's rename detection,
// which would hide a removal and an addition alike): no two imports ever
// share a ClusterSetIP,
// no import changes its IP while it exists, and no IP an import held is
// given to another in the commit that removes it (so that a held removal
// could never make two); the range full is an error naming the Service;
// and the branch ends equal to the exports.
func TestMCSReplicas(t *testing.T) {
	requireEnv(t)
	installMCSCRDs(t, remote, remote2, local)
	grantMCSReaders(t)
	churn := churnFor(t, 20*time.Second)
	const ns, path, pool, capacity = "mcsrep-a", "clusters/local/mcsrep", 24, 14
	spec := corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}
	name := func(i int) string { return fmt.Sprintf("svc-%d", i) }
	for i := range pool {
		mcsService(t, remote, ns, name(i), spec, endpoint{ip: fmt.Sprintf("10.66.%d.1", i), ready: true})
	}
	for i := range 4 { // imports of two clusters
		mcsService(t, remote2, ns, name(i), spec, endpoint{ip: fmt.Sprintf("10.67.%d.1", i), ready: true})
		exportService(t, remote2, ns, name(i))
	}
	exported := map[int]bool{}
	for i := range 10 {
		exportService(t, remote, ns, name(i))
		exported[i] = true
	}
	root := t.TempDir()
	bare := gittest.NewServedBare(t, root, "mcsrep.git")
	pushForeign(t, bare, map[string]string{"README.md": "# cluster config\n"}, "seed")
	lag := startLagProxy(t, strings.TrimPrefix(remote.URL, "https://"), 300*time.Millisecond)
	lagged := filepath.Join(t.TempDir(), "lagged.kubeconfig")
	if err := os.WriteFile(lagged, []byte(kubeconfig("https://"+lag.addr, remote.CAFile, readerToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	var replicas []*proc
	for i, cfg := range []string{mcsConfigFile(t, "mcsrep", nil), mcsConfigFile(t, "mcsrep", nil), mcsConfigFileVia(t, "mcsrep", nil, lagged)} {
		// The removal guard is off: a churn that removes most of a
		// cluster's exports at once would be held (TestMCSFlux shows it),
		// and this test is about the ClusterSetIPs of what is written.
		args := append([]string{"--config", cfg, "--git-url", bare, "--git-path", path, "--debounce", "200ms", "--max-delay", "1s", "--git-timeout", "10s",
			"--max-removals", "100%"}, mcsRanges(4)...)
		replicas = append(replicas, startRun(t, fmt.Sprintf("mcs-replica-%d", i+1), args...))
	}
	importsAt := func() []string {
		var out []string
		for _, f := range lsPath(t, bare, path+"/imports") {
			if f != "kustomization.yaml" {
				out = append(out, strings.TrimSuffix(strings.TrimPrefix(f, ns+"."), ".yaml"))
			}
		}
		return out
	}
	eventually(t, 60*time.Second, "the first commit", func() bool { return len(importsAt()) == 10 })

	// More exports than the range holds, then churn.
	for i := 10; i < pool; i++ {
		exportService(t, remote, ns, name(i))
		exported[i] = true
		time.Sleep(50 * time.Millisecond)
	}
	changes := 0
	for end := time.Now().Add(churn); time.Now().Before(end); changes++ {
		i := rand.IntN(pool)
		switch {
		case rand.IntN(3) == 0:
			mcsService(t, remote, ns, name(i), spec, endpoint{ip: fmt.Sprintf("10.66.%d.%d", i, 1+rand.IntN(250)), ready: true})
		case exported[i]:
			unexportService(t, remote, ns, name(i))
			exported[i] = false
		default:
			exportService(t, remote, ns, name(i))
			exported[i] = true
		}
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
	}
	// As many imports as the range holds, at most: all of them imported.
	imported := func() int {
		n := 0
		for i := range pool {
			if exported[i] || i < 4 {
				n++
			}
		}
		return n
	}
	for i := pool - 1; i >= 4 && imported() > capacity-2; i-- {
		if exported[i] {
			unexportService(t, remote, ns, name(i))
			exported[i] = false
		}
	}
	want := map[string]bool{}
	for i := range pool {
		if exported[i] || i < 4 {
			want[name(i)] = true
		}
	}
	eventually(t, 90*time.Second, "the branch equal to the exports", func() bool {
		got := importsAt()
		return len(got) == len(want) && !slices.ContainsFunc(got, func(n string) bool { return !want[n] })
	})
	full, fullLine := 0, ""
	for _, r := range replicas {
		r.terminate()
		for l := range strings.Lines(r.logs()) {
			if strings.Contains(l, "reason=ClusterSetIPRangeFull") {
				full++
				fullLine = cmp.Or(fullLine, l)
			}
		}
	}
	if full == 0 {
		t.Error("no replica reported the range full, with more exports than the range holds")
	} else if !strings.Contains(fullLine, "level=ERROR") || !strings.Contains(fullLine, "service="+ns+"/") || !strings.Contains(fullLine, "10.96.0.64/28") {
		t.Errorf("the range full is not an error naming the Service and the range:\n%s", fullLine)
	}
	h := clusterSetHistory(t, bare, path)
	t.Logf("%s of churn, %d remote changes, %d commits by ssm, %d imports seen, %d range-full reports; shared IPs %d, IPs changed %d, IPs reused in the commit freeing them %d",
		churn, changes, h.commits, h.imports, full, len(h.shared), len(h.changed), len(h.reused))
	for _, p := range [][]string{h.shared, h.changed, h.reused} {
		for _, msg := range p {
			t.Error(msg)
		}
	}
	if h.commits < 5 {
		t.Errorf("%d commits by ssm: the churn did not reach the branch", h.commits)
	}
}

// allocationHistory is what clusterSetHistory found.
type allocationHistory struct {
	commits, imports        int
	shared, changed, reused []string
}

// clusterSetHistory walks main oldest first, following the ClusterSetIPs
// of every ServiceImport under path, and reports every commit in which two
// imports share an IP, an import present before changes its IP, or an
// import new in it takes an IP an import of the commit before held.
func clusterSetHistory(t *testing.T, bare, path string) allocationHistory {
	out, err := exec.Command("git", "-C", bare, "log", "--reverse", "--raw", "--no-renames", "--no-abbrev", "--format=commit %H", "main", "--", path+"/imports").Output()
	if err != nil {
		t.Fatal(err)
	}
	var changes []fileChange
	var order []string
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "commit "); ok {
			cur = rest
			order = append(order, cur)
			continue
		}
		if f := strings.Fields(sc.Text()); len(f) == 6 && strings.HasSuffix(f[5], ".yaml") && !strings.HasSuffix(f[5], "/kustomization.yaml") {
			changes = append(changes, fileChange{cur, f[5], f[3]})
		}
	}
	blobs := catBlobs(t, bare, changes)
	var h allocationHistory
	state := map[string]string{} // file → its import's IPs
	seen := map[string]bool{}
	for _, c := range order {
		before := maps.Clone(state)
		for _, ch := range changes {
			if ch.commit != c {
				continue
			}
			if ch.blob == strings.Repeat("0", 40) {
				delete(state, ch.file)
				continue
			}
			state[ch.file] = importIPsOf(t, blobs[ch.blob])
			seen[ch.file] = true
		}
		h.commits++
		holders := map[string]string{}
		for f, ips := range state {
			if other, dup := holders[ips]; dup {
				h.shared = append(h.shared, fmt.Sprintf("%s: %s and %s share ClusterSetIP %s", c[:12], f, other, ips))
			}
			holders[ips] = f
			if was, ok := before[f]; ok && was != ips {
				h.changed = append(h.changed, fmt.Sprintf("%s: %s moved from %s to %s", c[:12], f, was, ips))
			}
			if _, existed := before[f]; !existed {
				for g, gips := range before {
					if gips == ips && g != f {
						h.reused = append(h.reused, fmt.Sprintf("%s: %s, new, takes %s, which %s held in the commit before", c[:12], f, ips, g))
					}
				}
			}
		}
	}
	h.imports = len(seen)
	return h
}

// importIPsOf reads the ClusterSetIPs of a stored import file.
func importIPsOf(t *testing.T, file string) string {
	t.Helper()
	first, _, _ := strings.Cut(file, "\n---\n")
	var si mcsv1a1.ServiceImport
	if err := yaml.Unmarshal([]byte(first), &si); err != nil {
		t.Fatalf("stored import: %v\n%s", err, file)
	}
	return strings.Join(si.Spec.IPs, ",")
}
