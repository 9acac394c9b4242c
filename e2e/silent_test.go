package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestRunMistypedBranch: `ssm run --git-branch mian` against a repository
// holding main fails every sync, saying why, and starts no branch; before,
// it pushed a root branch mian next to main and logged it as synced. With
// --git-create-branch the branch is started.
func TestRunMistypedBranch(t *testing.T) {
	requireEnv(t)
	sel := map[string]string{"mirror.e2e/branch": "true"}
	service{ns: "branch", name: "api", labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
		subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.31.0.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}.
		apply(t.Context(), t, remote.Client)
	bare := gittest.NewBare(t)
	gittest.HumanPush(t, bare, func(w string) {
		if err := os.WriteFile(filepath.Join(w, "README"), []byte("platform\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}, "seed")
	args := []string{"--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/branch=true", "--svc-prefix", "br", "--mirror-ns", "m",
		"--git-url", bare, "--git-path", "mirrors", "--git-branch", "mian", "--debounce", "200ms", "--max-delay", "1s", "--read-local=false"}

	p := startRun(t, "mian", args...)
	eventually(t, 30*time.Second, "a failed sync", func() bool { return p.metric("ssm_sync_failures_total") >= 1 })
	if code, body := p.get("/readyz"); code != 503 || !strings.Contains(body, "branch mian does not exist in "+bare+", which has other branches") {
		t.Errorf("/readyz: %d %q, want 503 saying mian does not exist", code, body)
	}
	if heads := git(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads"); heads != "refs/heads/main" {
		t.Errorf("branches %q, want main alone", heads)
	}
	if logs := p.logs(); !strings.Contains(logs, "--git-create-branch") || strings.Contains(logs, "msg=synced") {
		t.Errorf("log names no --git-create-branch, or says synced:\n%s", logs)
	}
	p.terminate()

	p = startRun(t, "mian-created", append(args, "--git-create-branch")...)
	eventually(t, 30*time.Second, "the branch started", func() bool { return git(t, bare, "for-each-ref", "refs/heads/mian") != "" })
	if n := gittest.CommitCount(t, bare, "mian"); n != 1 {
		t.Errorf("mian holds %d commits, want its root commit", n)
	}
	p.terminate()
}

// TestRenderSelectorMatchingNothing: against a real API server, a selector
// that matches nothing is a warning saying how many Services the cluster
// holds in all: one list of one item, counted by the API server's
// remainingItemCount (a count of that one item would say 1).
func TestRenderSelectorMatchingNothing(t *testing.T) {
	requireEnv(t)
	for _, name := range []string{"a", "b", "c"} {
		service{ns: "nomatch", name: name, labels: map[string]string{"mirror.e2e/nomatch": "true"}, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}}.
			apply(t.Context(), t, remote.Client)
	}
	count := func() int {
		l, err := remote.Client.CoreV1().Services("").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	before := count()
	r := ssm(t, nil, "render", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/nomatch=ture", "--svc-prefix", "nm", "--mirror-ns", "m",
		"--read-local=false", "-o", filepath.Join(t.TempDir(), "out"))
	after := count()
	m := regexp.MustCompile(`level=WARN msg="no Service matches the label selector: nothing of the cluster is mirrored" cluster=nm labelSelector="mirror.e2e/nomatch=ture" servicesInAll=(\d+)`).
		FindStringSubmatch(r.stderr)
	if r.code != 0 || m == nil {
		t.Fatalf("render: exit %d, want 0 with the warning:\n%s", r.code, r.stderr)
	}
	if n, _ := strconv.Atoi(m[1]); n < before || n > after || n < 3 {
		t.Errorf("servicesInAll=%d, want the cluster's count: %d before the render, %d after", n, before, after)
	}
}
