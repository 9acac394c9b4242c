package mirror_test

import (
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/ssm-dev/ssm/gitsync"
	"github.com/ssm-dev/ssm/internal/gittest"
	"github.com/ssm-dev/ssm/mirror"
)

// TestGitSink commits a tree to a real bare repository; a cluster that
// cannot be read then keeps what the branch holds for it.
func TestGitSink(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	sink := mirror.NewGitSink(gitsync.RepoOptions{URL: bare, Path: "clusters/local", AuthorName: "ssm-test"})
	cfg := treeConfig(t)
	rep, err := mirror.RunOnce(t.Context(), cfg, sink,
		mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web"), "west": remote(t, "api")})})
	if err != nil {
		t.Fatal(err)
	}
	files := gittest.BranchFiles(t, bare, "main")
	if _, ok := files["clusters/local/west/west-shop-73736d-api.yaml"]; !ok || rep.Sync.Commit == "" {
		t.Fatalf("west's mirror not committed (commit %q): %v", rep.Sync.Commit, files)
	}
	if subject := gittest.Git(t, bare, "log", "-1", "--format=%s", "main"); !strings.Contains(subject, "ssm: mirror Services of east, west") {
		t.Errorf("subject %q", subject)
	}
	// The same sink again, with the state unchanged: no commit.
	rep, err = mirror.RunOnce(t.Context(), cfg, sink,
		mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web"), "west": remote(t, "api")})})
	if err != nil || rep.Sync.Changed || gittest.CommitCount(t, bare, "main") != 1 {
		t.Errorf("unchanged render: changed %v, %d commits, err %v", rep.Sync.Changed, gittest.CommitCount(t, bare, "main"), err)
	}
	gittest.Fsck(t, bare)
}
