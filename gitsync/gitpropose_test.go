package gitsync

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

const review = "ssm/review"

func withPushBranch(o *RepoOptions) { o.PushBranch = review }

// branchHead returns the commit branch points at, "" when it does not exist.
func branchHead(t *testing.T, bare, branch string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", bare, "rev-parse", "--verify", "-q", "refs/heads/"+branch).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// humanPushTo commits change on top of branch as a person would.
func humanPushTo(t *testing.T, bare, branch string, files map[string]string, msg string) string {
	t.Helper()
	work := t.TempDir()
	gittest.Git(t, work, "clone", "-q", "-b", branch, bare, ".")
	gittest.WriteFiles(t, work, files)
	gittest.Git(t, work, "add", "-A")
	gittest.Git(t, work, "commit", "-q", "-m", msg)
	gittest.Git(t, work, "push", "-q", "origin", "HEAD:"+branch)
	return gittest.Git(t, work, "rev-parse", "HEAD")
}

// TestPushBranchFollowsTheBase walks a push branch through a review's life:
// made from the base, left as it is while nothing changes, made again when
// the render changes and when the base moves, deleted once merged, made
// again for the next change. The base only ever moves by people.
func TestPushBranchFollowsTheBase(t *testing.T) {
	t.Parallel()
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			seed := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"README.md": "hi\n"}) }, "seed")
			r := open(t, url, "p", auth, withPushBranch)

			// Made from the base's head, one commit ahead.
			res := mustSync(t, r, fileset.Files{"a.yaml": []byte("1\n")})
			assertProposal(t, bare, res, seed, map[string]string{"README.md": "hi\n", "p/a.yaml": "1\n"})
			if got := branchHead(t, bare, "main"); got != seed {
				t.Fatalf("main moved to %s; ssm must only read it", got)
			}
			// Nothing changed: nothing pushed.
			if res := mustSync(t, r, fileset.Files{"a.yaml": []byte("1\n")}); res.Changed {
				t.Errorf("a second sync of the same files = %+v, want no change", res)
			}
			// The render changes: made again on the same base.
			res = mustSync(t, r, fileset.Files{"a.yaml": []byte("2\n")})
			assertProposal(t, bare, res, seed, map[string]string{"README.md": "hi\n", "p/a.yaml": "2\n"})
			// The base moves: made again on the new head, whatever another
			// Repo (a restarted ssm) remembers.
			moved := humanPushTo(t, bare, "main", map[string]string{"other.txt": "x\n"}, "unrelated")
			res = mustSync(t, open(t, url, "p", auth, withPushBranch), fileset.Files{"a.yaml": []byte("2\n")})
			assertProposal(t, bare, res, moved, map[string]string{"README.md": "hi\n", "other.txt": "x\n", "p/a.yaml": "2\n"})

			// Merged (here a fast-forward): the base holds the render, and
			// the push branch goes.
			gittest.Git(t, bare, "update-ref", "refs/heads/main", res.Commit)
			if res := mustSync(t, r, fileset.Files{"a.yaml": []byte("2\n")}); res.Changed {
				t.Errorf("sync after the merge = %+v, want no change", res)
			}
			if got := branchHead(t, bare, review); got != "" {
				t.Errorf("%s = %s after the merge, want it deleted", review, got)
			}
			// The next change makes it again, from the merged base.
			merged := branchHead(t, bare, "main")
			res = mustSync(t, r, fileset.Files{"a.yaml": []byte("3\n")})
			assertProposal(t, bare, res, merged, map[string]string{"README.md": "hi\n", "other.txt": "x\n", "p/a.yaml": "3\n"})
			gittest.Fsck(t, bare)
		})
	}
}

// assertProposal checks that the push branch is res's commit, whose only
// parent is base, holding files.
func assertProposal(t *testing.T, bare string, res fileset.Result, base string, files map[string]string) {
	t.Helper()
	if !res.Changed || res.Commit != branchHead(t, bare, review) {
		t.Fatalf("Sync = %+v, want the head of %s (%s)", res, review, branchHead(t, bare, review))
	}
	if got := gittest.Git(t, bare, "rev-list", "--parents", "-n", "1", review); got != res.Commit+" "+base {
		t.Errorf("%s and its parents = %s, want one parent %s", review, got, base)
	}
	if diff := cmp.Diff(files, gittest.BranchFiles(t, bare, review)); diff != "" {
		t.Errorf("%s files (-want +got):\n%s", review, diff)
	}
}

// TestPushBranchOnlyReplacesItsOwnCommit: a person's commit on the push
// branch is never discarded, and the plan then decides on the base.
func TestPushBranchOnlyReplacesItsOwnCommit(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"p/n": "0"}) }, "seed")
	r := open(t, bare, "p", withPushBranch)
	mustSync(t, r, fileset.Files{"n": []byte("1")})
	fixup := humanPushTo(t, bare, review, map[string]string{"p/n": "1 reviewed"}, "fixup")

	var seen []string
	_, err := r.Apply(t.Context(), func(s fileset.Stored) (fileset.Write, error) {
		seen = append(seen, string(s.Files()["n"]))
		return fileset.Write{Files: fileset.Files{"n": []byte("2")}}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "refusing to replace branch "+review) || !strings.Contains(err.Error(), "Human <human@example.com>") {
		t.Fatalf("Apply over a person's commit: error = %v, want a refusal naming the committer", err)
	}
	if got := branchHead(t, bare, review); got != fixup {
		t.Errorf("%s = %s, want the person's commit %s kept", review, got, fixup)
	}
	if diff := cmp.Diff([]string{"0"}, seen); diff != "" {
		t.Errorf("what the plan saw (-want +got):\n%s", diff)
	}
	// Nothing to propose: the branch is not ssm's to delete.
	if _, err := r.Sync(t.Context(), fileset.Files{"n": []byte("0")}, "s"); err != nil {
		t.Fatal(err)
	}
	if got := branchHead(t, bare, review); got != fixup {
		t.Errorf("%s = %s, want the person's commit %s left alone", review, got, fixup)
	}
}

// TestPushBranchPlanSeesTheProposal: while the push branch is ssm's commit,
// the plan decides on what it holds, as it is what ssm last decided.
func TestPushBranchPlanSeesTheProposal(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"p/n": "0"}) }, "seed")
	r := open(t, bare, "p", withPushBranch)
	mustSync(t, r, fileset.Files{"n": []byte("1")})
	for _, repo := range []*Repo{r, open(t, bare, "p", withPushBranch)} {
		var seen string
		if _, err := repo.Apply(t.Context(), func(s fileset.Stored) (fileset.Write, error) {
			seen = string(s.Files()["n"]) + "|" + strings.SplitN(s.Message(), "\n", 2)[0]
			return fileset.Write{Files: s.Files()}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if seen != "1|test sync" {
			t.Errorf("the plan saw %q, want the proposal 1 and its subject", seen)
		}
	}
}

// TestPushBranchLease: another writer replacing the push branch between
// a read and the push rejects the push, which is decided again on theirs.
func TestPushBranchLease(t *testing.T) {
	t.Parallel()
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"p/n": "0"}) }, "seed")
			r := open(t, url, "p", auth, withPushBranch)
			other := open(t, url, "p", auth, withPushBranch)
			mustSync(t, r, fileset.Files{"n": []byte("1")})
			var seen []string
			res, err := r.Apply(t.Context(), func(s fileset.Stored) (fileset.Write, error) {
				seen = append(seen, string(s.Files()["n"]))
				if len(seen) == 1 {
					mustSync(t, other, fileset.Files{"n": []byte("5")}) // another replica, first
				}
				return fileset.Write{Files: fileset.Files{"n": []byte(string(s.Files()["n"]) + "+")}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"1", "5"}, seen); diff != "" {
				t.Errorf("what the plan saw (-want +got):\n%s", diff)
			}
			if got := gittest.BranchFiles(t, bare, review)["p/n"]; got != "5+" || res.Retries != 1 {
				t.Errorf("p/n = %q after %d retries, want 5+ decided on the other replica's proposal after 1", got, res.Retries)
			}
			if got := gittest.CommitCount(t, bare, review); got != 2 {
				t.Errorf("%s has %d commits, want the seed and one proposal", review, got)
			}
		})
	}
}

// TestPushBranchWithoutBase: a missing base is made only in an empty
// repository, by a commit to it directly, as there is nothing to review
// against; elsewhere it is an error, not an unrelated history.
func TestPushBranchWithoutBase(t *testing.T) {
	t.Parallel()
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			r := open(t, url, "p", auth, withPushBranch)
			res := mustSync(t, r, fileset.Files{"a": []byte("1")})
			if got := branchHead(t, bare, "main"); got != res.Commit || branchHead(t, bare, review) != "" {
				t.Fatalf("first sync in an empty repository: main = %s, %s = %s, want main at %s and no push branch",
					got, review, branchHead(t, bare, review), res.Commit)
			}
			res = mustSync(t, r, fileset.Files{"a": []byte("2")})
			assertProposal(t, bare, res, branchHead(t, bare, "main"), map[string]string{"p/a": "2"})

			typo := open(t, url, "p", auth, func(o *RepoOptions) { o.Branch, o.PushBranch = "mian", review })
			_, err := typo.Sync(t.Context(), fileset.Files{"a": []byte("3")}, "s")
			if err == nil || !strings.Contains(err.Error(), "branch mian does not exist") {
				t.Errorf("Sync with a missing base in a repository with branches: error = %v, want one naming mian", err)
			}
		})
	}
}

func TestPushBranchOptionsValidated(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	for _, tc := range []struct {
		name string
		mod  func(*RepoOptions)
		want string
	}{
		{"same as base", func(o *RepoOptions) { o.PushBranch = "main" }, "it is the branch it is made from"},
		{"invalid name", func(o *RepoOptions) { o.PushBranch = "a..b" }, `invalid git push branch "a..b"`},
		{"empty push option", func(o *RepoOptions) { o.PushOptions = []string{"ci.skip", ""} }, `invalid git push option "": empty`},
		{"push option with newline", func(o *RepoOptions) { o.PushOptions = []string{"a=b\nc"} }, "must not hold a line break"},
		{"push option with carriage return", func(o *RepoOptions) { o.PushOptions = []string{"ci.skip\r"} }, "must not hold a line break"},
		{"push options to a local repository", func(o *RepoOptions) { o.PushOptions = []string{"ci.skip="} }, "a local repository takes no push options"},
		{"passphrase without key", func(o *RepoOptions) { o.SigningPassphrasePath = "/dev/null" }, "needs a signing key file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := RepoOptions{URL: bare}
			tc.mod(&opts)
			if err := opts.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
