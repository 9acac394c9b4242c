package gitsync

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/crashtest"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// The crash tests kill a child process doing one write at every call of
// the system calls that change files, with strace's fault injection, and
// check that the next write needs no human: it succeeds, and leaves
// exactly what was asked, a repository git finds sound, and no lock or
// temporary file.

// crashStaleLockAfter is the stale lock threshold of the writes after a
// kill: a dead child's lock is young.
const crashStaleLockAfter = 50 * time.Millisecond

// crashScenario is one write a child is killed in.
type crashScenario struct {
	name string
	// setup builds the state before the write at target, with the test's
	// own writes; old is what the owned path holds then.
	setup func(t *testing.T, target string)
	old   fileset.Files
	new   fileset.Files // what the write asks for
	// syscalls, if set, restricts the kills to these system calls: those
	// of what the scenario adds to another.
	syscalls []string
	// withdraw writes with a push branch, which the write deletes, as main
	// holds what it asks for already.
	withdraw bool
}

// kustomized returns files with a kustomization.yaml listing them.
func kustomized(files map[string]string) fileset.Files {
	out := fileset.Files{}
	k := "# ours\nresources:\n"
	for _, p := range fileset.Files(toFiles(files)).Paths() {
		out[p] = []byte(files[p])
		k += "- " + p + "\n"
	}
	out["kustomization.yaml"] = []byte(k)
	return out
}

func crashScenarios() []crashScenario {
	v1 := kustomized(map[string]string{"a.yaml": "a1\n", "old.yaml": "old\n", "gone/x.yaml": "x\n"})
	v2 := kustomized(map[string]string{"a.yaml": "a2\n", "sub/b.yaml": "b\n"})
	many := kustomized(map[string]string(under("", manyFiles(105, "v2"))))
	return []crashScenario{
		// A first push into a repository shared with a group that logs
		// every ref: modes are adjusted and reflogs created.
		{name: "git-first", new: v2, setup: func(t *testing.T, bare string) {
			gitInitBare(t, bare, "--shared=group")
			gitConfig(t, bare, "core.logAllRefUpdates", "always")
		}},
		{name: "git-update", old: v1, new: v2, setup: func(t *testing.T, bare string) {
			gitInitBare(t, bare)
			gitConfig(t, bare, "core.logAllRefUpdates", "true")
			mustSync(t, open(t, bare, "p"), v1)
		}},
		// A ref lock left by a writer that died: moved aside, checked and
		// removed before the push.
		{name: "git-stale-lock", old: v1, new: v2, syscalls: []string{"flock", "renameat", "unlinkat"}, setup: func(t *testing.T, bare string) {
			gitInitBare(t, bare)
			mustSync(t, open(t, bare, "p"), v1)
			lock := filepath.Join(bare, "refs", "heads", "main.lock")
			old := time.Now().Add(-time.Hour)
			if err := os.WriteFile(lock, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(lock, old, old); err != nil {
				t.Fatal(err)
			}
		}},
		// A push branch deleted, as main holds the render: its name is in
		// packed-refs, which is written anew, and its reflog goes.
		{name: "git-withdraw", withdraw: true, old: v1, new: v1, setup: func(t *testing.T, bare string) {
			gitInitBare(t, bare)
			gitConfig(t, bare, "core.logAllRefUpdates", "always")
			mustSync(t, open(t, bare, "p"), v1)
			mustSync(t, open(t, bare, "p", withPushBranch), v2)
			gittest.Git(t, bare, "pack-refs", "--all")
		}},
		// More than 100 objects: a pack and its index.
		{name: "git-pack", old: v1, new: many, setup: func(t *testing.T, bare string) {
			gitInitBare(t, bare)
			mustSync(t, open(t, bare, "p"), v1)
		}},
	}
}

// TestHelperProcess is the crash tests' child: it makes one write and
// exits. Run by itself it does nothing.
func TestHelperProcess(t *testing.T) {
	name, target, ok := crashtest.Child()
	if !ok {
		return
	}
	// strace counts calls per thread: the write's stay on one.
	runtime.LockOSThread()
	for _, sc := range crashScenarios() {
		if sc.name == name {
			if err := sc.write(context.Background(), target, slog.New(slog.DiscardHandler)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			os.Exit(0)
		}
	}
	fmt.Fprintln(os.Stderr, "unknown crash scenario", name)
	os.Exit(3)
}

// write makes the scenario's write into target, as a restarted ssm would.
func (sc crashScenario) write(ctx context.Context, target string, log *slog.Logger) error {
	opts := RepoOptions{URL: target, Path: "p", Logger: log, staleLockAfter: crashStaleLockAfter}
	if sc.withdraw {
		opts.PushBranch = review
	}
	r, err := Open(ctx, opts)
	if err != nil {
		return err
	}
	_, err = r.Sync(ctx, sc.new, "crash test")
	return err
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
			run := crashtest.Run{Strace: strace, Scenario: sc.name, Template: filepath.Join(t.TempDir(), "template"), Syscalls: sc.syscalls, Sem: sem}
			sc.setup(t, run.Template)
			if err := os.MkdirAll(run.Template, 0o755); err != nil {
				t.Fatal(err)
			}
			calls, probed := run.Probe(t)
			oldHead, oldCount := gitHead(t, run.Template)
			modes := modesByKind(t, probed) // what a write killed nowhere leaves
			run.Check = func(target string) error {
				if err := sc.checkGit(t, oldHead, oldCount, target); err != nil {
					return err
				}
				return checkModes(t, target, modes)
			}
			for _, res := range run.Kill(t, calls) {
				total.Add(int64(res.Kills))
				failed.Add(int64(res.Fails))
			}
		})
	}
}
