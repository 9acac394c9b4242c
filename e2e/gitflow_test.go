package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestRunReviewBranch runs `ssm run` as a team reviewing its changes
// would (docs/git.md): a push branch made from main, signed with an SSH key
// that git verify-commit accepts, with a templated message; rebuilt when the
// remote changes; deleted at the next render after a merge; main only ever
// moved by people.
func TestRunReviewBranch(t *testing.T) {
	requireEnv(t)
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed (Debian: openssh-client)")
	}
	ctx := t.Context()
	const review = "ssm/mirrors"
	sel := map[string]string{"mirror.e2e/review": "true"}
	mk := func(name, ip string) service {
		return service{ns: "reviewshop", name: name, labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(ip)}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
	}
	mk("a", "10.21.0.1").apply(ctx, t, remote.Client)

	key := filepath.Join(t.TempDir(), "signing")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bot", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(allowed, []byte("bot@example.com "+string(pub)), 0o644); err != nil {
		t.Fatal(err)
	}
	bare := bareRepo(t)
	seed := gittest.Git(t, bare, "rev-parse", "main")
	startRun(t, "run-review", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/review=true",
		"--svc-prefix", "rv", "--mirror-ns", "review-mirrors", "--git-url", bare, "--git-path", "clusters/local",
		"--git-branch", "main", "--git-push-branch", review,
		"--git-author-name", "bot", "--git-author-email", "bot@example.com", "--git-signing-key-path", key,
		"--git-commit-template", "chore(mirrors): {{len .Added}} added, {{len .Updated}} updated, {{len .Removed}} removed\n\n"+
			"{{range .Added}}+ {{.}}\n{{end}}{{range .Updated}}~ {{.}}\n{{end}}{{range .Removed}}- {{.}}\n{{end}}",
		"--debounce", "200ms", "--max-delay", "1s", "--resync-period", "1s")

	proposal := func() string {
		out, err := exec.Command("git", "-C", bare, "rev-parse", "-q", "--verify", "refs/heads/"+review).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	check := func(want string) string {
		t.Helper()
		var head string
		eventually(t, 30*time.Second, "the proposal "+strings.SplitN(want, "\n", 2)[0], func() bool {
			head = proposal()
			return head != "" && strings.HasPrefix(gittest.Git(t, bare, "log", "-1", "--format=%B", head), want)
		})
		main := gittest.Git(t, bare, "rev-parse", "main")
		if got := gittest.Git(t, bare, "rev-list", "--parents", "-n", "1", head); got != head+" "+main {
			t.Errorf("%s and its parents = %s, want one parent, main (%s)", review, got, main)
		}
		cmd := exec.Command("git", "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", head)
		cmd.Dir = bare
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("git verify-commit %s: %v\n%s", head, err, out)
		}
		return head
	}

	first := check("chore(mirrors): 1 added, 0 updated, 0 removed\n\n+ review-mirrors/rv-reviewshop-73736d-a\n")
	if got := gittest.Git(t, bare, "rev-parse", "main"); got != seed {
		t.Fatalf("main moved to %s; ssm must only read it", got)
	}
	mk("b", "10.21.0.2").apply(ctx, t, remote.Client)
	second := check("chore(mirrors): 2 added, 0 updated, 0 removed\n\n+ review-mirrors/rv-reviewshop-73736d-a\n+ review-mirrors/rv-reviewshop-73736d-b\n")
	if second == first {
		t.Fatal("the proposal did not change with the remote")
	}

	// Merged (a fast-forward): at the next render, main holds it, and the
	// push branch goes.
	gittest.Git(t, bare, "update-ref", "refs/heads/main", second)
	eventually(t, 30*time.Second, "the push branch deleted after the merge", func() bool { return proposal() == "" })

	// The next change is proposed on the merged main.
	mk("a", "10.21.0.9").apply(ctx, t, remote.Client)
	check("chore(mirrors): 0 added, 1 updated, 0 removed\n\n~ review-mirrors/rv-reviewshop-73736d-a\n")
	if got := gittest.Git(t, bare, "rev-parse", "main"); got != second {
		t.Errorf("main moved to %s; ssm must only read it", got)
	}
}
