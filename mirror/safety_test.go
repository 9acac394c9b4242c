package mirror_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ssm-dev/ssm/mirror"
)

// TestRunHoldsRemovals: deleting every mirror of a cluster at once is held
// (the files stay, Approvals lists the set) while other changes flow; an
// approval of that set lets it go at once.
func TestRunHoldsRemovals(t *testing.T) {
	noWatchList(t)
	dir := t.TempDir()
	east := remote(t, "a", "b", "c", "d")
	approvals := mirror.NewApprovals()
	var logs logBuffer
	started(t, flatConfig(t), dirSink(dir), mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": east}),
		Timing: fastTiming, Approvals: approvals, Logger: logs.logger()})
	waitFor(t, "the first render", func() bool { return len(mirrorsIn(readDir(t, dir))) == 4 })
	ctx := t.Context()
	for _, n := range []string{"a", "b", "c", "d"} {
		if err := east.CoreV1().Services("shop").Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the removal held", func() bool { return len(approvals.Held()) == 1 })
	if _, err := east.CoreV1().Services("shop").Create(ctx, service("shop", "e"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "e written while the removal is held", func() bool { _, ok := readDir(t, dir)["east-shop-73736d-e.yaml"]; return ok })
	if got := mirrorsIn(readDir(t, dir)); len(got) != 5 {
		t.Fatalf("held mirrors removed: %v", got)
	}
	held := approvals.Held()[0]
	if held.Cluster != "east" || len(held.Files) != 4 || held.Stored != 4 || held.Allowed != 2 {
		t.Fatalf("held %+v", held)
	}
	if n := strings.Count(logs.String(), "removals held"); n != 1 {
		t.Errorf("the held set logged %d times, want once", n)
	}
	if err := approvals.Approve("east", held.Digest); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved removal", func() bool { return len(mirrorsIn(readDir(t, dir))) == 1 })
	waitFor(t, "no hold left once written", func() bool { return len(approvals.Held()) == 0 })
}

// TestRunNeverBackwards: another replica wrote a newer state of east than
// this one's caches hold (east stopped answering this replica before its
// last change); renders for west's changes are then not written, so east
// never goes back; once east answers, both go through. A recorded state
// newer than the cluster itself (rebuilt) does not stop anything.
func TestRunNeverBackwards(t *testing.T) {
	noWatchList(t)
	dir := t.TempDir()
	cfg := treeConfig(t)
	east, west := remote(t, "web"), remote(t, "db")
	down := newOutage(east)
	var logs logBuffer
	started(t, cfg, dirSink(dir), mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": east, "west": west}),
		Timing: fastTiming, Logger: logs.logger()})
	waitFor(t, "the first render", func() bool { return len(mirrorsIn(readDir(t, dir))) == 2 })
	down.stop()
	// East moves on; another replica, which saw it, wrote it.
	setIP(t, east, "web", "10.9.9.9")
	seen := remote(t, "web")
	setIP(t, seen, "web", "10.9.9.9")
	newer := t.TempDir()
	if _, err := mirror.RunOnce(t.Context(), cfg, dirSink(newer), mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": seen, "west": west})}); err != nil {
		t.Fatal(err)
	}
	// The other replica saw east's endpoints at the version the change made:
	// newer than this replica's, not newer than east itself.
	revs := readDir(t, dir)[mirror.RevisionsFile]
	m := regexp.MustCompile(`east endpoints=(\d+)`).FindStringSubmatch(revs)
	if m == nil {
		t.Fatalf("no revision of east's endpoints in %q", revs)
	}
	seenRV, _ := strconv.Atoi(m[1])
	ahead := strings.Replace(revs, m[0], fmt.Sprintf("east endpoints=%d", seenRV+1), 1)
	writeAll(t, dir, readDir(t, newer), map[string]string{mirror.RevisionsFile: ahead})
	eastFile := readDir(t, dir)["east/east-shop-73736d-web.yaml"]
	if !strings.Contains(eastFile, "10.9.9.9") {
		t.Fatalf("the newer state was not written:\n%s", eastFile)
	}
	if _, err := west.CoreV1().Services("shop").Create(t.Context(), service("shop", "cart"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the render not written", func() bool {
		return strings.Contains(logs.String(), "not written: the stored mirrors were rendered from a newer state")
	})
	time.Sleep(200 * time.Millisecond)
	if got := readDir(t, dir); got["east/east-shop-73736d-web.yaml"] != eastFile || got["west/west-shop-73736d-cart.yaml"] != "" {
		t.Fatal("a replica behind wrote its render")
	}
	down.down.Store(false)
	waitFor(t, "west's change once east is caught up", func() bool { return readDir(t, dir)["west/west-shop-73736d-cart.yaml"] != "" })
	if got := readDir(t, dir)["east/east-shop-73736d-web.yaml"]; !strings.Contains(got, "10.9.9.9") {
		t.Errorf("east went back:\n%s", got)
	}
}

// TestRunRecordedStateFromAnotherHistory: revisions far ahead of the
// cluster's own (it was rebuilt) are logged and rendered over.
func TestRunRecordedStateFromAnotherHistory(t *testing.T) {
	noWatchList(t)
	dir := t.TempDir()
	writeAll(t, dir, map[string]string{"east-shop-73736d-old.yaml": "old\n", "kustomization.yaml": kustomization("east-shop-73736d-old.yaml"),
		mirror.RevisionsFile: "east endpoints=99999999 services=99999999\n"}, nil)
	var logs logBuffer
	started(t, flatConfig(t), dirSink(dir), mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web", "api")}),
		Timing: fastTiming, Logger: logs.logger()})
	waitFor(t, "the render", func() bool { return readDir(t, dir)["east-shop-73736d-web.yaml"] != "" })
	if !strings.Contains(logs.String(), "the recorded state is newer than the cluster itself") {
		t.Errorf("not logged:\n%s", logs.String())
	}
	if got := readDir(t, dir)[mirror.RevisionsFile]; strings.Contains(got, "99999999") || !strings.HasPrefix(got, "east ") {
		t.Errorf("revisions file %q", got)
	}
}

func setIP(t *testing.T, c kubernetes.Interface, name, ip string) {
	t.Helper()
	e, err := c.CoreV1().Endpoints("shop").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.Subsets[0].Addresses[0].IP = ip
	if _, err := c.CoreV1().Endpoints("shop").Update(t.Context(), e, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// writeAll makes dir hold files and extra, nothing else but what is there.
func writeAll(t *testing.T, dir string, files, extra map[string]string) {
	t.Helper()
	all := maps.Clone(files)
	maps.Copy(all, extra)
	for p, b := range all {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func kustomization(files ...string) string {
	s := "# Code generated by ssm. DO NOT EDIT.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
	for _, f := range files {
		s += fmt.Sprintf("- %s\n", f)
	}
	return s
}
