package gitsync

import (
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestMissingBranch: a branch that does not exist is started only in an
// empty repository, or when CreateBranch says so. Before, a mistyped
// --git-branch mian became a root branch next to main, logged as synced.
func TestMissingBranch(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"local", "http"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			branch := func(name string, create bool) func(*RepoOptions) {
				return func(o *RepoOptions) { auth(o); o.Branch, o.CreateBranch = name, create }
			}
			// An empty repository: the first commit starts the branch.
			mustSync(t, open(t, url, "p", branch("main", false)), fileset.Files{"a": []byte("1")})
			main := branchHead(t, bare, "main")
			if main == "" {
				t.Fatal("main was not started in the empty repository")
			}

			_, err := open(t, url, "p", branch("mian", false)).Sync(t.Context(), fileset.Files{"a": []byte("1")}, "s")
			if err == nil || !strings.Contains(err.Error(), "branch mian does not exist in") || !strings.Contains(err.Error(), "which has other branches") ||
				!strings.Contains(err.Error(), "--git-create-branch") {
				t.Errorf("Sync of a missing branch next to main: error %v, want one saying mian does not exist and naming --git-create-branch", err)
			}
			if got := branchHead(t, bare, "mian"); got != "" {
				t.Errorf("mian = %s, want no such branch", got)
			}

			mustSync(t, open(t, url, "p", branch("review", true)), fileset.Files{"a": []byte("2")})
			if got := gittest.Git(t, bare, "rev-list", "--count", "review"); strings.TrimSpace(got) != "1" {
				t.Errorf("review holds %s commits, want its one root commit", got)
			}
			if got := branchHead(t, bare, "main"); got != main {
				t.Errorf("main moved to %s, want it left at %s", got, main)
			}
		})
	}
}
