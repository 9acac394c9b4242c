package localrepo

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/gitsync/internal/pack"
	"github.com/ssm-dev/ssm/internal/crashtest"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// The crash test kills a child process making one update at every call of
// the system calls that change files, and checks that the next update
// needs no human: the reference is old or new, the update made again
// succeeds, and git finds the repository sound, with no lock or temporary
// file left and every file in a mode a write killed nowhere gives it.

// crashStaleLockAfter is the stale lock threshold of the updates after a
// kill: a dead child's lock is young.
const crashStaleLockAfter = 50 * time.Millisecond

// crashScenario is one update a child is killed in.
type crashScenario struct {
	name string
	// setup builds the repository before the update, at dir, and returns
	// the head of ref then.
	setup func(t *testing.T, dir string) plumbing.Hash
	ref   plumbing.ReferenceName
	// files are those of the new commit on the old head; nil deletes ref.
	files map[string]string
	// syscalls, if set, restricts the kills to these system calls: those
	// of what the scenario adds to another.
	syscalls []string
}

var review = plumbing.NewBranchReferenceName("ssm/review")

// seed makes the first commit of main with the store, as an earlier run
// would have.
func seed(t *testing.T, dir string) plumbing.Hash {
	return mustUpdate(t, open(t, dir, nil), main, plumbing.ZeroHash, map[string]string{"a.yaml": "a1\n", "old.yaml": "old\n"})
}

var v2 = map[string]string{"a.yaml": "a2\n", "b.yaml": "b\n", "kustomization.yaml": "resources: [a.yaml, b.yaml]\n"}

func crashScenarios() []crashScenario {
	return []crashScenario{
		// A first update of a repository shared with a group that logs
		// every ref: modes are adjusted and reflogs created.
		{name: "first", ref: main, files: v2, setup: func(t *testing.T, dir string) plumbing.Hash {
			gittest.Git(t, "", "init", "-q", "--bare", "-b", "main", "--shared=group", dir)
			gittest.Git(t, dir, "config", "core.logAllRefUpdates", "always")
			return plumbing.ZeroHash
		}},
		{name: "update", ref: main, files: v2, setup: func(t *testing.T, dir string) plumbing.Hash {
			gittest.Git(t, "", "init", "-q", "--bare", "-b", "main", dir)
			gittest.Git(t, dir, "config", "core.logAllRefUpdates", "true")
			return seed(t, dir)
		}},
		// A ref lock left by a writer that died: moved aside, checked and
		// removed before the update.
		{name: "stale-lock", ref: main, files: v2, syscalls: []string{"flock", "renameat", "unlinkat"}, setup: func(t *testing.T, dir string) plumbing.Hash {
			gittest.Git(t, "", "init", "-q", "--bare", "-b", "main", dir)
			head := seed(t, dir)
			gittest.WriteFiles(t, dir, map[string]string{"refs/heads/main.lock": ""})
			age(t, filepath.Join(dir, "refs", "heads", "main.lock"), time.Hour)
			return head
		}},
		// A push branch deleted: its name is in packed-refs, which is
		// written anew, and its reflog goes.
		{name: "delete", ref: review, setup: func(t *testing.T, dir string) plumbing.Hash {
			gittest.Git(t, "", "init", "-q", "--bare", "-b", "main", dir)
			gittest.Git(t, dir, "config", "core.logAllRefUpdates", "always")
			head := mustCommit(t, open(t, dir, nil), review, plumbing.ZeroHash, seed(t, dir), v2)
			gittest.Git(t, dir, "pack-refs", "--all")
			return head
		}},
		// More than 100 objects: a pack and its index.
		{name: "pack", ref: main, files: manyFiles(105, "v2"), setup: func(t *testing.T, dir string) plumbing.Hash {
			gittest.Git(t, "", "init", "-q", "--bare", "-b", "main", dir)
			return seed(t, dir)
		}},
	}
}

// next returns the commit the update makes on old (zero: it deletes the
// ref) and its objects.
func (sc crashScenario) next(old plumbing.Hash) (plumbing.Hash, *pack.Objects) {
	if sc.files == nil {
		return plumbing.ZeroHash, &pack.Objects{}
	}
	return newCommit(old, sc.files, "crash test")
}

// write makes the scenario's update of the repository at dir from old, as
// a restarted writer would: it reads the head (which cleans up) and
// updates it unless it is there already. A child, which writes into a
// copy of the template, passes no old: the head it reads is.
func (sc crashScenario) write(ctx context.Context, dir string, old *plumbing.Hash, log *slog.Logger) error {
	r, err := Open(dir, Options{Logger: log, StaleLockAfter: crashStaleLockAfter})
	if err != nil {
		return err
	}
	head, _, err := r.Head(ctx, sc.ref)
	if err != nil {
		return err
	}
	if old == nil {
		old = &head
	}
	c, objs := sc.next(*old)
	if head == c {
		return nil
	}
	if head != *old {
		return fmt.Errorf("%s = %s, neither the old %s nor the new %s", sc.ref, head, old, c)
	}
	return r.Update(ctx, sc.ref, *old, c, objs)
}

// crashChild makes the update of a crash test's child and exits, if this
// process is one.
func crashChild() {
	name, target, ok := crashtest.Child()
	if !ok {
		return
	}
	// strace counts calls per thread: the update's stay on one.
	runtime.LockOSThread()
	for _, sc := range crashScenarios() {
		if sc.name == name {
			if err := sc.write(context.Background(), target, nil, slog.New(slog.DiscardHandler)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			os.Exit(0)
		}
	}
	fmt.Fprintln(os.Stderr, "unknown crash scenario", name)
	os.Exit(3)
}

func TestCrashAtEverySystemCall(t *testing.T) {
	strace := crashtest.Strace(t)
	t.Parallel()
	sem := crashtest.Parallel()
	var total, failed atomic.Int64
	t.Cleanup(func() { t.Logf("%d kill points tried, %d failed", total.Load(), failed.Load()) })
	for _, sc := range crashScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			template := filepath.Join(t.TempDir(), "template")
			old := sc.setup(t, template)
			run := crashtest.Run{Strace: strace, Scenario: sc.name, Syscalls: sc.syscalls, Sem: sem, Template: template}
			calls, probed := run.Probe(t)
			modes := modesByKind(t, probed)
			run.Check = func(target string) error { return sc.check(t, target, old, modes) }
			for _, res := range run.Kill(t, calls) {
				total.Add(int64(res.Kills))
				failed.Add(int64(res.Fails))
			}
		})
	}
}

// check checks what a child killed in the update from old left at dir:
// the ref is old or new; the update made again succeeds; git finds the
// repository sound, with no lock or temporary file; and every kind of
// file has a mode in modes, those of an update killed nowhere.
func (sc crashScenario) check(t *testing.T, dir string, old plumbing.Hash, modes map[string][]string) error {
	c, objs := sc.next(old)
	if head := revParse(t, dir, sc.ref.String()); head != hashString(old) && head != hashString(c) {
		return fmt.Errorf("%s = %q, neither the old %s nor the new %s", sc.ref, head, old, c)
	}
	if err := sc.write(t.Context(), dir, &old, slog.New(slog.NewTextHandler(t.Output(), nil))); err != nil {
		return fmt.Errorf("the next update: %w", err)
	}
	if head := revParse(t, dir, sc.ref.String()); head != hashString(c) {
		return fmt.Errorf("%s = %q after the next update, want %q", sc.ref, head, hashString(c))
	}
	if out, err := gitOut(dir, "fsck", "--full", "--strict", "--no-dangling", "--no-progress"); err != nil {
		return fmt.Errorf("git fsck: %v\n%s", err, out)
	}
	for h := range objs.All() {
		if out, err := gitOut(dir, "cat-file", "-e", h.String()); err != nil {
			return fmt.Errorf("object %s is missing: %v %s", h, err, out)
		}
	}
	if c.IsZero() {
		if out, err := gitOut(dir, "for-each-ref"); err != nil || strings.Contains(out, sc.ref.String()) {
			return fmt.Errorf("git for-each-ref after the delete: %v\n%s", err, out)
		}
		if _, err := os.Lstat(filepath.Join(dir, "logs", filepath.FromSlash(sc.ref.String()))); err == nil {
			return fmt.Errorf("the reflog of the deleted %s is left", sc.ref)
		}
	}
	if left := leftovers(t, dir); len(left) > 0 {
		return fmt.Errorf("left in the repository: %v", left)
	}
	for kind, got := range modesByKind(t, dir) {
		for _, m := range got {
			if !slices.Contains(modes[kind], m) {
				return fmt.Errorf("a %s has mode %s, want %v", kind, m, modes[kind])
			}
		}
	}
	return nil
}

func hashString(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}
