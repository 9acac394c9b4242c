package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestRun runs `ssm run` against a real remote API server and a real bare
// repository: first commit, no-op resyncs, add/update/delete within the
// debounce, a foreign commit kept, two replicas converging, a remote outage
// that commits no deletion, SIGTERM in a burst and a restart that continues.
// After the steps, the checked-out branch is applied to the local API server
// with a pruning kubectl apply, as a GitOps agent would.
func TestRun(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const prefix, mirrorNS, gitPath = "run", "run-mirrors", "clusters/local/mirrors"
	sel := map[string]string{"mirror.e2e/run": "true"}
	mk := func(name string, ips ...string) service {
		s := service{ns: "runshop", name: name, labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
		for _, ip := range ips {
			s.subsets[0].Addresses = append(s.subsets[0].Addresses, addr(ip))
		}
		return s
	}
	mk("a", "10.20.0.1").apply(ctx, t, remote.Client)
	mk("b", "10.20.0.2").apply(ctx, t, remote.Client)
	ensureNamespace(t, local.Client, mirrorNS)

	bare := bareRepo(t)
	const debounce = 500 * time.Millisecond
	args := []string{"--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/run=true",
		"--svc-prefix", prefix, "--mirror-ns", mirrorNS, "--git-url", bare, "--git-path", gitPath,
		"--debounce", debounce.String(), "--max-delay", "3s", "--resync-period", "2s", "--git-author-name", "ssm-e2e"}
	r1 := startRun(t, "replica-1", args...)
	eventually(t, 30*time.Second, "the first commit", func() bool { return len(commits(t, bare, "main")) == 2 })
	first := commits(t, bare, "main")[0]
	if first.author != "ssm-e2e" || !strings.Contains(first.subject, "ssm: mirror Services of run") {
		t.Errorf("first commit %+v, want ssm's", first)
	}
	assertPath(t, bare, gitPath, []string{"kustomization.yaml", "run-runshop-73736d-a.yaml", "run-runshop-73736d-b.yaml"})
	eventually(t, 10*time.Second, "ready", func() bool { code, _ := r1.get("/readyz"); return code == 200 })

	// Resyncs re-render from the cache (every 2s) but change nothing.
	eventually(t, 10*time.Second, "two resync renders", func() bool {
		return r1.metric(`ssm_watch_events_total{cluster="run",event="resync",resource="services"}`) >= 4
	})
	if n := len(commits(t, bare, "main")); n != 2 {
		t.Fatalf("%d commits after resyncs with no change, want 2", n)
	}

	// Each remote change becomes a commit within the debounce and a second.
	var latencies []time.Duration
	// change makes a remote change and requires exactly one commit for it
	// within limit.
	commitWithin := func(limit time.Duration, what string, f func()) time.Duration {
		t.Helper()
		before := len(commits(t, bare, "main"))
		f()
		d := eventually(t, 60*time.Second, what, func() bool { return len(commits(t, bare, "main")) >= before+1 })
		if got := len(commits(t, bare, "main")); got != before+1 {
			t.Fatalf("%s: %d commits, want 1", what, got-before)
		}
		if d > limit {
			t.Errorf("%s: commit after %s, want within %s", what, d, limit)
		}
		return d
	}
	change := func(what string, f func()) {
		t.Helper()
		latencies = append(latencies, commitWithin(debounce+time.Second, what, f))
	}
	change("add c", func() { mk("c", "10.20.0.3").apply(ctx, t, remote.Client) })
	change("update a", func() { mk("a", "10.20.0.1", "10.20.0.11").apply(ctx, t, remote.Client) })
	change("delete b", func() { deleteService(t, remote.Client, "runshop", "b") })
	t.Logf("event-to-commit latencies (debounce %s): %v", debounce, latencies)
	assertPath(t, bare, gitPath, []string{"kustomization.yaml", "run-runshop-73736d-a.yaml", "run-runshop-73736d-c.yaml"})
	applyCheckout(t, bare, prefix, mirrorNS, gitPath)

	// A person pushes to another path of the branch; ssm's next commit lands on top.
	pushForeign(t, bare, map[string]string{"apps/other.yaml": "kind: ConfigMap\n"}, "foreign change")
	foreign := commits(t, bare, "main")[0]
	change("update c", func() { mk("c", "10.20.0.3", "10.20.0.33").apply(ctx, t, remote.Client) })
	head := commits(t, bare, "main")
	if head[1].hash != foreign.hash || git(t, bare, "show", "main:apps/other.yaml") != "kind: ConfigMap" {
		t.Fatalf("foreign commit not kept under ssm's: %+v", head[:2])
	}

	// A second replica on the same branch and path: it has nothing to add,
	// and a change makes exactly one commit between the two.
	r2 := startRun(t, "replica-2", args...)
	eventually(t, 30*time.Second, "replica-2 ready", func() bool { code, _ := r2.get("/readyz"); return code == 200 })
	change("add d with two replicas", func() { mk("d", "10.20.0.4").apply(ctx, t, remote.Client) })
	n := len(commits(t, bare, "main"))
	time.Sleep(3 * time.Second) // room for a duplicate commit to show up
	if got := commits(t, bare, "main"); len(got) != n {
		t.Fatalf("%d commits for one change with two replicas: %+v", len(got)-n+1, got[:len(got)-n+1])
	}

	// The remote API server goes away: both replicas keep their last state
	// and commit nothing; when it is back they follow it again.
	remote.Stop()
	time.Sleep(6 * time.Second) // three resync periods
	if got := len(commits(t, bare, "main")); got != n {
		t.Fatalf("%d commits during the remote outage, want none", got-n)
	}
	for _, r := range []*proc{r1, r2} {
		if !strings.Contains(r.logs(), "remote unreachable") || r.metric(`ssm_remote_up{cluster="run"}`) != 0 {
			t.Errorf("%s did not report the outage (ssm_remote_up %v)", r.name, r.metric(`ssm_remote_up{cluster="run"}`))
		}
	}
	for _, r := range []*proc{r1, r2} {
		if v := r.metric(`ssm_watch_errors_total{cluster="run",resource="services"}`); v < 1 {
			t.Errorf("%s counted %v failed requests during the outage", r.name, v)
		}
	}
	if err := remote.Start(ctx, testbin); err != nil {
		t.Fatalf("restart remote: %v\n%s", err, remote.Logs())
	}
	// A change made right after the return is committed within the
	// debounce and a few seconds: a probe finds the remote back and every
	// resource is listed anew at once, instead of waiting out client-go's
	// backoff (up to 30s); and no commit shows d half gone (a Service
	// without its endpoints) on the way.
	back := len(commits(t, bare, "main"))
	d := commitWithin(debounce+5*time.Second, "delete d after the outage", func() { deleteService(t, remote.Client, "runshop", "d") })
	t.Logf("a change made right after the remote restart was committed after %s", d)
	for _, c := range commits(t, bare, "main")[:len(commits(t, bare, "main"))-back] {
		if out, err := exec.Command("git", "-C", bare, "show", c.hash+":"+gitPath+"/run-runshop-73736d-d.yaml").Output(); err == nil && !strings.Contains(string(out), "10.20.0.4") {
			t.Errorf("commit %s holds d without its endpoints:\n%s", c.hash, out)
		}
	}
	for _, r := range []*proc{r1, r2} {
		eventually(t, 10*time.Second, r.name+" reconnected", func() bool { return r.metric(`ssm_remote_up{cluster="run"}`) == 1 })
	}

	// SIGTERM in the middle of a burst of changes: both stop within a few
	// seconds and leave a consistent repository; a new start commits the rest.
	for i := range 5 {
		mk(fmt.Sprintf("burst-%d", i), fmt.Sprintf("10.20.1.%d", i)).apply(ctx, t, remote.Client)
	}
	r1.terminate()
	r2.terminate()
	if r1.exited > 5*time.Second || r2.exited > 5*time.Second {
		t.Errorf("shutdown took %s and %s, want under 5s", r1.exited, r2.exited)
	}
	t.Logf("replicas stopped %s and %s after SIGTERM", r1.exited, r2.exited)
	git(t, bare, "fsck", "--strict")
	r3 := startRun(t, "replica-3", args...)
	want := []string{"kustomization.yaml", "run-runshop-73736d-a.yaml"}
	for i := range 5 {
		want = append(want, fmt.Sprintf("run-runshop-73736d-burst-%d.yaml", i))
	}
	want = append(want, "run-runshop-73736d-c.yaml")
	eventually(t, 30*time.Second, "the burst committed after restart", func() bool { return slices.Equal(lsPath(t, bare, gitPath), want) })
	assertSameAsRender(t, bare, gitPath, prefix, mirrorNS)
	deleteService(t, remote.Client, "runshop", "burst-0")
	eventually(t, 15*time.Second, "burst-0 removed", func() bool { return !slices.Contains(lsPath(t, bare, gitPath), "run-runshop-73736d-burst-0.yaml") })
	applyCheckout(t, bare, prefix, mirrorNS, gitPath)
	r3.terminate()
	if got := git(t, bare, "log", "--format=%an", "main"); strings.Count(got, "Human") != 2 {
		t.Errorf("foreign commits lost:\n%s", got)
	}
}

// lsPath lists the files under path on main, but revisionsFile.
func lsPath(t *testing.T, bare, path string) []string {
	t.Helper()
	out := git(t, bare, "ls-tree", "--name-only", "main", path+"/")
	var names []string
	for l := range strings.SplitSeq(out, "\n") {
		if l != "" && l != path+"/"+revisionsFile {
			names = append(names, strings.TrimPrefix(l, path+"/"))
		}
	}
	return names
}

func assertPath(t *testing.T, bare, path string, want []string) {
	t.Helper()
	if got := lsPath(t, bare, path); !slices.Equal(got, want) {
		t.Fatalf("%s on main holds %v, want %v", path, got, want)
	}
}

// assertSameAsRender checks the committed path equals `ssm render` of the
// remote now.
func assertSameAsRender(t *testing.T, bare, path, prefix, ns string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "render")
	r := ssm(t, nil, "render", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/run=true",
		"--svc-prefix", prefix, "--mirror-ns", ns, "-o", dir)
	if r.code != 0 {
		t.Fatalf("render: %d %s", r.code, r.stderr)
	}
	assertSameTree(t, dir, filepath.Join(checkout(t, bare), path))
}

// applyCheckout applies the committed path to the local cluster with
// pruning, and checks the result.
func applyCheckout(t *testing.T, bare, prefix, ns, path string) {
	t.Helper()
	dir := filepath.Join(checkout(t, bare), path)
	applyPruning(t, prefix, ns, dir)
	assertApplied(t, local, dir, ns, "mirror-svc-prefix-sync="+prefix)
	if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err != nil {
		t.Fatal(err)
	}
}

// TestRunDirectory keeps a directory equal to the remote with `ssm run
// --output`, exactly as render writes it.
func TestRunDirectory(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	sel := map[string]string{"mirror.e2e/rundir": "true"}
	svc := service{ns: "rundir", name: "api", labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
		subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.30.0.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
	svc.apply(ctx, t, remote.Client)
	out := filepath.Join(t.TempDir(), "mirrors")
	common := []string{"--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/rundir=true", "--svc-prefix", "dir", "--mirror-ns", "m"}
	// The last mirror of a cluster going is held by default (see
	// TestRunRemovalGuard); here one may go.
	p := startRun(t, "run-dir", append(common, "--output", out, "--debounce", "200ms", "--max-delay", "1s", "--max-removals", "1")...)
	file := filepath.Join(out, "dir-rundir-73736d-api.yaml")
	eventually(t, 30*time.Second, "the first write", func() bool { _, err := os.Stat(file); return err == nil })

	svc.subsets[0].Addresses = append(svc.subsets[0].Addresses, addr("10.30.0.2"))
	svc.apply(ctx, t, remote.Client)
	eventually(t, 10*time.Second, "the update", func() bool { b, _ := os.ReadFile(file); return strings.Contains(string(b), "10.30.0.2") })
	deleteService(t, remote.Client, "rundir", "api")
	eventually(t, 10*time.Second, "the removal", func() bool { _, err := os.Stat(file); return os.IsNotExist(err) })
	p.terminate()

	// What run left is what render writes, and --check agrees.
	r := ssm(t, nil, append([]string{"render", "--check", "-o", out}, common...)...)
	if r.code != 0 {
		t.Fatalf("render --check after run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if p.metric("ssm_commits_total") != -1 { // the server is gone with the process
		t.Fatal("metrics still served after SIGTERM")
	}
}

// TestRunHTTPGit runs `ssm run` against a loopback smart-HTTP git server
// with basic auth. The password file first holds a wrong password: every
// sync fails and is retried with backoff, and the process stays up and not
// ready. When the file is fixed, as a rotated secret would be, the next
// retry pushes the newest state, changes made meanwhile included.
func TestRunHTTPGit(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	root := t.TempDir()
	srv := gittest.StartHTTP(t, root, "ssm", "s3cret")
	bare := gittest.NewServedBare(t, root, "repo.git")
	password := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(password, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sel := map[string]string{"mirror.e2e/runhttp": "true"}
	mk := func(name string) service {
		return service{ns: "runhttp", name: name, labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.40.0.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
	}
	mk("a").apply(ctx, t, remote.Client)
	p := startRun(t, "run-http", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/runhttp=true",
		"--svc-prefix", "http", "--mirror-ns", "m", "--git-url", srv.URL+"/repo.git", "--git-path", "mirrors",
		"--git-username", "ssm", "--git-password-path", password, "--debounce", "200ms", "--max-delay", "1s")

	eventually(t, 30*time.Second, "two failed syncs", func() bool { return p.metric("ssm_sync_failures_total") >= 2 })
	if code, body := p.get("/readyz"); code != 503 || !strings.Contains(body, "no successful sync yet; last sync failed: fetch main from "+srv.URL+"/repo.git: ") {
		t.Errorf("/readyz while pushes fail: %d %q, want 503 saying why", code, body)
	}
	if heads := git(t, bare, "for-each-ref", "refs/heads"); heads != "" {
		t.Fatalf("something was pushed with a wrong password: %s", heads)
	}
	mk("b").apply(ctx, t, remote.Client) // a change while git is failing
	if err := os.WriteFile(password, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{"http-runhttp-73736d-a.yaml", "http-runhttp-73736d-b.yaml", "kustomization.yaml"}
	eventually(t, 60*time.Second, "the push once the password is right", func() bool {
		return git(t, bare, "for-each-ref", "refs/heads") != "" && slices.Equal(lsPath(t, bare, "mirrors"), want)
	})
	if n := gittest.CommitCount(t, bare, "main"); n != 1 {
		t.Errorf("%d commits, want 1 carrying both changes", n)
	}
	eventually(t, 10*time.Second, "ready", func() bool { code, _ := p.get("/readyz"); return code == 200 })
	if !strings.Contains(p.logs(), "sync failed; retrying") || strings.Contains(p.logs(), "s3cret") {
		t.Errorf("logs should say why syncs failed, and never hold the password:\n%s", p.logs())
	}
	p.terminate()
}
