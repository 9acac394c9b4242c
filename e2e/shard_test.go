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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ssm-dev/ssm/config"
)

// TestShards: three remotes spread over two replicas (--shards 2, a
// StatefulSet's pod indexes 0 and 1) that commit to one branch. Each
// remote's files are committed by its shard alone, every change of every
// remote lands, and when a shard is killed its remotes' mirrors stay as
// committed while the other shard's keep flowing; restarted, it catches
// up. No commit moves a remote's recorded state back.
func TestShards(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	third, err := startAPIServer(ctx, testbin, t.TempDir(), "shard-third")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(third.Stop)
	servers := []*apiServer{remote, remote2, third}
	// Names the two shards split 2 + 1 (rendezvous hashing decides).
	names := shardedNames(t, 2)
	owner := map[string]int{}
	sel := map[string]string{"mirror.e2e/shard": "true"}
	for i, s := range servers {
		owner[names[i]] = config.ShardOf(names[i], 2)
		service{ns: "shard", name: "api", labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(fmt.Sprintf("10.85.%d.1", i))},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}.apply(ctx, t, s.Client)
	}
	defer func() {
		deleteService(t, remote.Client, "shard", "api")
		deleteService(t, remote2.Client, "shard", "api")
	}()
	conf := filepath.Join(t.TempDir(), "config.yaml")
	var b strings.Builder
	b.WriteString("global: {mirrorSvcLabelSelector: mirror.e2e/shard=true, mirrorNamespace: shard-mirrors}\nremoteClusters:\n")
	for i, s := range servers {
		fmt.Fprintf(&b, "- {name: %s, kubeConfigPath: %s, servicePrefix: %s}\n", names[i], s.KubeConfig, names[i])
	}
	writeFile(t, conf, b.String())
	bare := bareRepo(t)
	const gitPath = "clusters/local"
	shard := func(i int) *proc {
		return startRun(t, fmt.Sprintf("shard-%d", i), "--config", conf, "--shards", "2", "--shard-index", fmt.Sprint(i),
			"--git-url", bare, "--git-path", gitPath, "--git-author-name", fmt.Sprintf("shard-%d", i), "--debounce", "200ms", "--max-delay", "1s")
	}
	shards := []*proc{shard(0), shard(1)}
	file := func(name string) string { return gitPath + "/" + name + "/" + name + "-shard-73736d-api.yaml" }
	show := func(name string) string {
		out, _ := gitOutput(bare, "show", "main:"+file(name))
		return out
	}
	for i, n := range names {
		eventually(t, 60*time.Second, n+"'s mirror", func() bool { return strings.Contains(show(n), fmt.Sprintf("10.85.%d.1", i)) })
	}
	change := func(i int, ip string) {
		t.Helper()
		ep, err := servers[i].Client.CoreV1().Endpoints("shard").Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ep.Subsets[0].Addresses = []corev1.EndpointAddress{addr(ip)}
		if _, err := servers[i].Client.CoreV1().Endpoints("shard").Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for round := 2; round <= 3; round++ {
		for i := range servers {
			change(i, fmt.Sprintf("10.85.%d.%d", i, round))
		}
		for i, n := range names {
			eventually(t, 30*time.Second, fmt.Sprintf("%s's change %d", n, round), func() bool {
				return strings.Contains(show(n), fmt.Sprintf("10.85.%d.%d", i, round))
			})
		}
	}
	// A shard dies: its remotes keep what was committed, the other's flow.
	dead := owner[names[0]]
	_ = shards[dead].cmd.Process.Kill()
	<-shards[dead].done
	for i, n := range names {
		change(i, fmt.Sprintf("10.85.%d.9", i))
		if owner[n] != dead {
			eventually(t, 30*time.Second, n+"'s change with the other shard down", func() bool { return strings.Contains(show(n), fmt.Sprintf("10.85.%d.9", i)) })
		}
	}
	time.Sleep(2 * time.Second) // debounce and max delay of the live shard, long past
	for i, n := range names {
		if owner[n] == dead && !strings.Contains(show(n), fmt.Sprintf("10.85.%d.3", i)) {
			t.Errorf("%s's mirror, whose shard is down, changed:\n%s", n, show(n))
		}
	}
	shards[dead] = shard(dead) // Kubernetes restarts the pod, with its index
	for i, n := range names {
		eventually(t, 60*time.Second, n+"'s change after the restart", func() bool { return strings.Contains(show(n), fmt.Sprintf("10.85.%d.9", i)) })
	}
	checkShardHistory(t, bare, gitPath, names, owner)
}

// shardedNames returns three remote names that n shards split so that no
// shard is idle and one renders two.
func shardedNames(t *testing.T, n int) []string {
	t.Helper()
	for i := 0; i < 1000; i++ {
		names := []string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i), fmt.Sprintf("c%d", i)}
		seen := map[int]bool{}
		for _, name := range names {
			seen[config.ShardOf(name, n)] = true
		}
		if len(seen) == n {
			return names
		}
	}
	t.Fatal("no names split over the shards")
	return nil
}

// checkShardHistory walks main's history: every commit that changed a
// remote's folder is by that remote's shard, and the recorded resource
// versions of each remote never go back.
func checkShardHistory(t *testing.T, bare, gitPath string, names []string, owner map[string]int) {
	t.Helper()
	log := git(t, bare, "log", "--reverse", "--format=%H %an", "main")
	last := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(log), "\n") {
		hash, author, _ := strings.Cut(line, " ")
		changed := git(t, bare, "diff-tree", "--no-commit-id", "--name-only", "-r", hash)
		for _, n := range names {
			if strings.Contains(changed, gitPath+"/"+n+"/") && author != fmt.Sprintf("shard-%d", owner[n]) {
				t.Errorf("commit %s by %s changed %s, which shard-%d renders", hash[:8], author, n, owner[n])
			}
		}
		revs, err := gitOutput(bare, "show", hash+":"+gitPath+"/.ssm-revisions")
		if err != nil {
			continue
		}
		for l := range strings.SplitSeq(strings.TrimSpace(revs), "\n") {
			name, rest, _ := strings.Cut(l, " ")
			if prev, ok := last[name]; ok && older(rest, prev) {
				t.Errorf("commit %s moves %s back: %s after %s", hash[:8], name, rest, prev)
			}
			last[name] = rest
		}
	}
	if !slices.ContainsFunc(names, func(n string) bool { return last[n] != "" }) {
		t.Error("no commit recorded a remote's state")
	}
}

// older reports whether revisions a ("services=1 endpoints=2") are older
// than b in any resource both name.
func older(a, b string) bool {
	parse := func(s string) map[string]int64 {
		m := map[string]int64{}
		for f := range strings.FieldsSeq(s) {
			k, v, _ := strings.Cut(f, "=")
			var n int64
			fmt.Sscan(v, &n)
			m[k] = n
		}
		return m
	}
	pa, pb := parse(a), parse(b)
	for k, v := range pa {
		if w, ok := pb[k]; ok && v < w {
			return true
		}
	}
	return false
}

// gitOutput runs git in dir, returning its output and error instead of
// failing the test (a path missing in a commit is no failure).
func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	return string(out), err
}
