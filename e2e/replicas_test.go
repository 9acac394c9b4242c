package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// churnFor is how long the replica test changes the remote: briefly in
// `make test`, for minutes in `make soak` (SSM_SOAK=5m).
func churnFor(t *testing.T, short time.Duration) time.Duration {
	if v := os.Getenv("SSM_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SSM_SOAK=%q: %v", v, err)
		}
		return d
	}
	return short
}

// TestReplicas runs three `ssm run` replicas against one branch while the
// remote's endpoints churn and a person pushes to another path. One
// replica sees the remote through a lagging link, so its cache is always
// a little behind the others'. Over the whole history: no force push, no
// lost foreign commit, no empty or duplicate commit, no mirror moved back
// to older endpoints than an earlier commit held, and the branch ends
// equal to the remote.
func TestReplicas(t *testing.T) {
	requireEnv(t)
	for _, transport := range []string{"local", "http"} {
		t.Run(transport, func(t *testing.T) { replicaChurn(t, transport, churnFor(t, 20*time.Second)) })
	}
}

// versionIP encodes a mirror's version in its endpoint address.
func versionIP(v int) string { return fmt.Sprintf("10.60.%d.%d", v/256, v%256) }

var ipVersion = regexp.MustCompile(`(?m)(?:ip: |^  - )10\.60\.(\d+)\.(\d+)$`) // Endpoints or EndpointSlices

func replicaChurn(t *testing.T, transport string, churn time.Duration) {
	ctx := t.Context()
	ns := "rep-" + transport
	label := map[string]string{"mirror.e2e/rep": transport}
	const n, gitPath = 20, "clusters/local/rep"
	svc := func(i, v int) service {
		return service{ns: ns, name: fmt.Sprintf("svc-%d", i), labels: label, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(versionIP(v))}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
	}
	versions := make([]int, n)
	for i := range n {
		svc(i, 0).apply(ctx, t, remote.Client)
	}
	root := t.TempDir()
	bare := gittest.NewServedBare(t, root, "rep.git")
	git(t, bare, "config", "core.logAllRefUpdates", "always")
	pushForeign(t, bare, map[string]string{"README.md": "# cluster config\n"}, "seed")
	url, extra := bare, []string(nil)
	if transport == "http" {
		srv := gittest.StartHTTP(t, root, "ssm", "s3cret")
		pw := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(pw, []byte("s3cret"), 0o600); err != nil {
			t.Fatal(err)
		}
		url, extra = srv.URL+"/rep.git", []string{"--git-username", "ssm", "--git-password-path", pw}
	}
	lag := startLagProxy(t, strings.TrimPrefix(remote.URL, "https://"), 300*time.Millisecond)
	lagged := filepath.Join(t.TempDir(), "lagged.kubeconfig")
	if err := os.WriteFile(lagged, []byte(kubeconfig("https://"+lag.addr, remote.CAFile, adminToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(kc string) []string {
		return append([]string{"--target-kube-config", kc, "--label-selector", "mirror.e2e/rep=" + transport, "--svc-prefix", "r",
			"--mirror-ns", "rep-mirrors", "--git-url", url, "--git-path", gitPath, "--debounce", "200ms", "--max-delay", "1s", "--git-timeout", "10s"}, extra...)
	}
	var replicas []*proc
	for i, kc := range []string{remote.KubeConfig, remote.KubeConfig, lagged} {
		replicas = append(replicas, startRun(t, fmt.Sprintf("%s-replica-%d", transport, i+1), args(kc)...))
	}
	eventually(t, 60*time.Second, "the first commit", func() bool { return len(lsPath(t, bare, gitPath)) == n+1 })

	heads := watchHeads(t, bare)
	var foreign []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { foreign = foreignWriter(t, bare, stop) })
	changes := 0
	for end := time.Now().Add(churn); time.Now().Before(end); changes++ {
		i := rand.IntN(n)
		versions[i]++
		setEndpoints(t, ns, fmt.Sprintf("svc-%d", i), versionIP(versions[i]))
		time.Sleep(time.Duration(20+rand.IntN(60)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	want := map[string]int{}
	for i, v := range versions {
		want[fmt.Sprintf("%s/r-%s-73736d-svc-%d.yaml", gitPath, ns, i)] = v
	}
	eventually(t, 60*time.Second, "the branch equal to the remote", func() bool { return equalVersions(committedVersions(t, bare, gitPath), want) })
	var byReplica []int
	for _, r := range replicas {
		r.terminate()
		byReplica = append(byReplica, strings.Count(r.logs(), "msg=synced"))
	}
	seen := heads()
	h := analyseHistory(t, bare, gitPath)
	forced := 0
	for i := 1; i < len(seen); i++ {
		if exec.Command("git", "-C", bare, "merge-base", "--is-ancestor", seen[i-1], seen[i]).Run() != nil {
			forced++
			t.Errorf("head moved from %s to %s, which does not contain it: a force push", seen[i-1], seen[i])
		}
	}
	lost := 0
	for _, c := range foreign {
		if exec.Command("git", "-C", bare, "merge-base", "--is-ancestor", c, "main").Run() != nil {
			lost++
			t.Errorf("foreign commit %s lost", c)
		}
	}
	t.Logf("%s: %s of churn, %d remote changes, %d commits (%d by ssm: %v by replica, the last lagging; %d foreign), %d heads seen; force pushes %d, lost foreign commits %d, empty or duplicate commits %d, backward steps %d",
		transport, churn, changes, h.commits, h.ssm, byReplica, len(foreign), len(seen), forced, lost, h.empty, len(h.backwards))
	if h.empty > 0 || len(h.backwards) > 0 {
		t.Errorf("empty or duplicate commits %d; backward steps: %v", h.empty, h.backwards)
	}
	git(t, bare, "fsck", "--strict")
}

func setEndpoints(t *testing.T, ns, name, ip string) {
	t.Helper()
	eps := remote.Client.CoreV1().Endpoints(ns)
	e, err := eps.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.Subsets[0].Addresses = []corev1.EndpointAddress{addr(ip)}
	if _, err := eps.Update(t.Context(), e, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// watchHeads samples the branch head every 20ms until the test ends and
// returns a function listing the distinct heads seen, in order.
func watchHeads(t *testing.T, bare string) func() []string {
	var mu sync.Mutex
	var seen []string
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if b, err := os.ReadFile(filepath.Join(bare, "refs", "heads", "main")); err == nil {
				h := strings.TrimSpace(string(b))
				mu.Lock()
				if len(seen) == 0 || seen[len(seen)-1] != h {
					seen = append(seen, h)
				}
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	t.Cleanup(func() { close(done); wg.Wait() })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// foreignWriter pushes a file to another path of main about every 700ms,
// as a person would (retrying when ssm pushed first), until stop; it
// returns the commits it pushed.
func foreignWriter(t *testing.T, bare string, stop <-chan struct{}) []string {
	work := t.TempDir()
	g := func(args ...string) error {
		cmd := exec.Command("git", append([]string{"-C", work}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Human", "GIT_AUTHOR_EMAIL=h@example.com", "GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=h@example.com")
		return cmd.Run()
	}
	if err := exec.Command("git", "clone", "-q", bare, work).Run(); err != nil {
		t.Errorf("clone: %v", err)
		return nil
	}
	var pushed []string
	for k := 0; ; k++ {
		select {
		case <-stop:
			return pushed
		case <-time.After(700 * time.Millisecond):
		}
		for try := 0; try < 10; try++ {
			_ = g("fetch", "-q", "origin", "main")
			_ = g("reset", "-q", "--hard", "origin/main")
			if err := os.WriteFile(filepath.Join(work, fmt.Sprintf("apps-foreign-%d.yaml", k)), []byte("kind: ConfigMap\n"), 0o644); err != nil {
				t.Error(err)
				return pushed
			}
			_ = g("add", "-A")
			_ = g("commit", "-q", "-m", fmt.Sprintf("foreign %d", k))
			if g("push", "-q", "origin", "HEAD:main") == nil {
				out, _ := exec.Command("git", "-C", work, "rev-parse", "HEAD").Output()
				pushed = append(pushed, strings.TrimSpace(string(out)))
				break
			}
		}
	}
}

// committedVersions reads each mirror's version at main.
func committedVersions(t *testing.T, bare, path string) map[string]int {
	out := map[string]int{}
	for _, f := range lsPath(t, bare, path) {
		if m := ipVersion.FindStringSubmatch(git(t, bare, "show", "main:"+path+"/"+f)); m != nil {
			out[path+"/"+f] = version(m)
		}
	}
	return out
}

func version(m []string) int {
	hi, _ := strconv.Atoi(m[1])
	lo, _ := strconv.Atoi(m[2])
	return hi*256 + lo
}

func equalVersions(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// history is what analyseHistory found.
type history struct {
	commits, ssm, empty int
	backwards           []string
}

// analyseHistory walks main oldest first: every commit by ssm must change
// the owned path, and no mirror's version may be lower than one an earlier
// commit held.
func analyseHistory(t *testing.T, bare, path string) history {
	out, err := exec.Command("git", "-C", bare, "log", "--reverse", "--raw", "--no-renames", "--no-abbrev", "--format=commit %H %an", "main").Output()
	if err != nil {
		t.Fatal(err)
	}
	var h history
	var changes []fileChange
	var cur, author string
	touched := false
	flush := func() {
		if cur != "" && author == "ssm" {
			h.ssm++
			if !touched {
				h.empty++
				t.Errorf("commit %s by ssm changes nothing under %s", cur, path)
			}
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, "commit "); ok {
			flush()
			cur, author, _ = strings.Cut(rest, " ")
			h.commits, touched = h.commits+1, false
			continue
		}
		f := strings.Fields(l)
		if len(f) == 6 && strings.HasPrefix(f[5], path+"/") {
			touched = true
			changes = append(changes, fileChange{cur, f[5], f[3]})
		}
	}
	flush()
	blobs := catBlobs(t, bare, changes)
	last := map[string]int{}
	for _, c := range changes {
		m := ipVersion.FindStringSubmatch(blobs[c.blob])
		if m == nil {
			continue
		}
		v := version(m)
		if prev, ok := last[c.file]; ok && v < prev {
			h.backwards = append(h.backwards, fmt.Sprintf("%s: %s went back from version %d to %d", c.commit[:12], c.file, prev, v))
		}
		last[c.file] = max(last[c.file], v)
	}
	return h
}

// fileChange is a file a commit changed, and its new content's blob.
type fileChange struct{ commit, file, blob string }

// catBlobs reads the changes' blobs with one git cat-file.
func catBlobs(t *testing.T, bare string, changes []fileChange) map[string]string {
	var in bytes.Buffer
	for _, c := range changes {
		if c.blob != strings.Repeat("0", 40) {
			in.WriteString(c.blob + "\n")
		}
	}
	cmd := exec.Command("git", "-C", bare, "cat-file", "--batch")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string]string{}
	r := bufio.NewReader(bytes.NewReader(out))
	for {
		hdr, err := r.ReadString('\n')
		if err != nil {
			return blobs
		}
		f := strings.Fields(hdr)
		size, _ := strconv.Atoi(f[2])
		buf := make([]byte, size+1)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		blobs[f[0]] = string(buf[:size])
	}
}
