package gitsync

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// checkGit checks that the branch points at old, the commit it pointed at
// before, or at one on top of it holding the new files; that the next write succeeds
// and leaves the new files oldCount+1 commits deep; that git finds
// the repository sound; and that no lock or temporary file is left.
func (sc crashScenario) checkGit(t *testing.T, old string, oldCount int, bare string) error {
	t.Helper()
	if sc.withdraw {
		return sc.checkWithdrawn(t, old, bare)
	}
	if head, _ := gitHead(t, bare); head != old {
		parent, err := gitOut(bare, "rev-list", "--parents", "-1", head)
		if err != nil {
			return err
		}
		if want := strings.TrimSpace(head + " " + old); parent != want {
			return fmt.Errorf("the branch points at %s, on neither the old commit %q nor on top of it", parent, old)
		}
		if err := sc.checkCommit(t, bare, head); err != nil {
			return err
		}
	}
	if err := sc.write(t.Context(), bare, testLogger(t)); err != nil {
		return fmt.Errorf("the next write: %w", err)
	}
	head, count := gitHead(t, bare)
	if count != oldCount+1 {
		return fmt.Errorf("%d commits after the next write, want %d", count, oldCount+1)
	}
	if err := sc.checkCommit(t, bare, head); err != nil {
		return err
	}
	if out, err := gitOut(bare, "fsck", "--full", "--strict", "--no-dangling", "--no-progress"); err != nil {
		return fmt.Errorf("git fsck: %v\n%s", err, out)
	}
	if left := leftovers(t, bare); len(left) > 0 {
		return fmt.Errorf("left in the repository: %v", left)
	}
	return nil
}

// checkWithdrawn checks that main was left alone, that the push branch is
// either as it was, on top of main, or gone, and that the next write
// deletes it and leaves a repository git finds sound, without locks.
func (sc crashScenario) checkWithdrawn(t *testing.T, old, bare string) error {
	if head, _ := gitHead(t, bare); head != old {
		return fmt.Errorf("main moved from %s to %s", old, head)
	}
	if proposal := branchHead(t, bare, review); proposal != "" {
		if parents, err := gitOut(bare, "rev-list", "--parents", "-1", proposal); err != nil || parents != proposal+" "+old {
			return fmt.Errorf("%s points at %q (%v), neither its proposal on main nor gone", review, parents, err)
		}
	}
	if err := sc.write(t.Context(), bare, testLogger(t)); err != nil {
		return fmt.Errorf("the next write: %w", err)
	}
	if proposal := branchHead(t, bare, review); proposal != "" {
		return fmt.Errorf("%s = %s after the next write, want it deleted", review, proposal)
	}
	if out, err := gitOut(bare, "fsck", "--full", "--strict", "--no-dangling", "--no-progress"); err != nil {
		return fmt.Errorf("git fsck: %v\n%s", err, out)
	}
	if out, err := gitOut(bare, "for-each-ref"); err != nil || strings.Contains(out, review) {
		return fmt.Errorf("git for-each-ref: %v\n%s", err, out)
	}
	if left := leftovers(t, bare); len(left) > 0 {
		return fmt.Errorf("left in the repository: %v", left)
	}
	return nil
}

// checkCommit checks that commit holds the new files below p.
func (sc crashScenario) checkCommit(t *testing.T, bare, commit string) error {
	got := gittest.BranchFiles(t, bare, commit)
	want := under("p/", sc.new)
	for p := range got {
		if !strings.HasPrefix(p, "p/") {
			want[p] = got[p] // outside the owned path: not ours to check
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Errorf("commit %s (-want +got):\n%s", commit, diff)
	}
	return nil
}

// gitHead returns the commit main points at and how many commits it has;
// "" and 0 when it does not exist.
func gitHead(t *testing.T, bare string) (string, int) {
	head, err := gitOut(bare, "rev-parse", "-q", "--verify", "refs/heads/main")
	if err != nil {
		return "", 0
	}
	n, err := strconv.Atoi(gittest.Git(t, bare, "rev-list", "--count", head))
	if err != nil {
		t.Fatal(err)
	}
	return head, n
}

func gitOut(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func gitInitBare(t *testing.T, dir string, args ...string) {
	gittest.Git(t, "", append(append([]string{"init", "-q", "--bare", "-b", "main"}, args...), dir)...)
}

func gitConfig(t *testing.T, dir, key, value string) {
	gittest.Git(t, dir, "config", key, value)
}

// leftovers returns the lock files, temporary files and packs without an
// index in the repository.
func leftovers(t *testing.T, repo string) []string {
	t.Helper()
	var left []string
	err := filepath.WalkDir(repo, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		orphan := strings.HasSuffix(name, ".pack") && !exists(strings.TrimSuffix(p, ".pack")+".idx")
		if strings.HasSuffix(name, ".lock") || strings.Contains(name, "ssm") || strings.HasPrefix(name, "tmp_") || orphan {
			rel, _ := filepath.Rel(repo, p)
			left = append(left, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return left
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// checkModes checks that every kind of file in the repository has a mode
// in want, as a write killed nowhere leaves them: a directory made but not
// yet given its mode when the writer died is given it by the next one.
func checkModes(t *testing.T, repo string, want map[string][]string) error {
	for kind, modes := range modesByKind(t, repo) {
		for _, m := range modes {
			if !slices.Contains(want[kind], m) {
				return fmt.Errorf("a %s has mode %s, want %v", kind, m, want[kind])
			}
		}
	}
	return nil
}
