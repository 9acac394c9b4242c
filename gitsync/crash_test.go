package gitsync

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// The crash tests kill a child process doing one write at every call of
// the system calls that change files, with strace's fault injection, and
// check that the next write needs no human: it succeeds, and leaves
// exactly what was asked, a repository git finds sound, and no lock or
// temporary file.

// crashEnv makes the test binary a crash test's child: it holds the
// scenario's name and its target, "name=target".
const crashEnv = "SSM_CRASH_CHILD"

// crashStaleLockAfter is the stale lock threshold of the writes after a
// kill: a dead child's lock is young.
const crashStaleLockAfter = 50 * time.Millisecond

// crashSyscalls are the system calls a child is killed at, at every call.
// Those it does not make are tried once, for nothing.
var crashSyscalls = []string{
	"openat", "write", "fsync", "fchmod", "fchmodat", "rename", "renameat", "renameat2",
	"link", "linkat", "unlink", "unlinkat", "mkdir", "mkdirat", "flock",
}

// mustKill are system calls every write makes, directory or git: if none
// of their calls kills the child, strace injected nothing (as with its
// -e trace=none, which disables injection), and every check would pass.
var mustKill = []string{"openat", "write", "fsync", "flock"}

// crashOwnership is the directory sink's ownership as ssm passes it.
var crashOwnership = Ownership{File: "kustomization.yaml", Prefix: []byte("# ours\n"), Placeholder: []byte("# ours\nresources: []\n")}

// crashScenario is one write a child is killed in.
type crashScenario struct {
	name string
	git  bool // the git sink into a local bare repository; else a directory
	// setup builds the state before the write at target, with the test's
	// own writes; old is what the owned path holds then.
	setup func(t *testing.T, target string)
	old   Files
	new   Files // what the write asks for
	// syscalls, if set, restricts the kills to these system calls: those
	// of what the scenario adds to another.
	syscalls []string
	// withdraw writes with a push branch, which the write deletes, as main
	// holds what it asks for already.
	withdraw bool
}

// kustomized returns files with a kustomization.yaml listing them.
func kustomized(files map[string]string) Files {
	out := Files{}
	k := "# ours\nresources:\n"
	for _, p := range Files(toFiles(files)).Paths() {
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
		{name: "dir-first", new: v2, setup: func(*testing.T, string) {}},
		{name: "dir-update", old: v1, new: v2, setup: func(t *testing.T, dir string) {
			if _, err := WriteDir(dir, v1, crashOwnership); err != nil {
				t.Fatal(err)
			}
		}},
		// A first push into a repository shared with a group that logs
		// every ref: modes are adjusted and reflogs created.
		{name: "git-first", git: true, new: v2, setup: func(t *testing.T, bare string) {
			gitInitBare(t, bare, "--shared=group")
			gitConfig(t, bare, "core.logAllRefUpdates", "always")
		}},
		{name: "git-update", git: true, old: v1, new: v2, setup: func(t *testing.T, bare string) {
			gitInitBare(t, bare)
			gitConfig(t, bare, "core.logAllRefUpdates", "true")
			mustSync(t, open(t, bare, "p"), v1)
		}},
		// A ref lock left by a writer that died: moved aside, checked and
		// removed before the push.
		{name: "git-stale-lock", git: true, old: v1, new: v2, syscalls: []string{"flock", "renameat", "unlinkat"}, setup: func(t *testing.T, bare string) {
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
		{name: "git-withdraw", git: true, withdraw: true, old: v1, new: v1, setup: func(t *testing.T, bare string) {
			gitInitBare(t, bare)
			gitConfig(t, bare, "core.logAllRefUpdates", "always")
			mustSync(t, open(t, bare, "p"), v1)
			mustSync(t, open(t, bare, "p", withPushBranch), v2)
			gittest.Git(t, bare, "pack-refs", "--all")
		}},
		// More than 100 objects: a pack and its index.
		{name: "git-pack", git: true, old: v1, new: many, setup: func(t *testing.T, bare string) {
			gitInitBare(t, bare)
			mustSync(t, open(t, bare, "p"), v1)
		}},
	}
}

// TestHelperProcess is the crash tests' child: it makes one write and
// exits. Run by itself it does nothing.
func TestHelperProcess(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		return
	}
	// strace counts calls per thread: the write's stay on one.
	runtime.LockOSThread()
	name, target, _ := strings.Cut(spec, "=")
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
	if !sc.git {
		_, err := WriteDir(target, sc.new, crashOwnership)
		return err
	}
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
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("skipped: strace is not installed; CI installs it (apt-get install strace)")
	}
	t.Parallel()
	// Children mostly wait on strace and the disk: run more than the CPUs.
	sem := make(chan struct{}, 2*runtime.NumCPU()+2)
	var total, failed atomic.Int64
	t.Cleanup(func() { t.Logf("%d kill points tried, %d failed", total.Load(), failed.Load()) })
	for _, sc := range crashScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			run := crashRun{strace: strace, sc: sc, template: filepath.Join(t.TempDir(), "template"), sem: sem}
			sc.setup(t, run.template)
			if err := os.MkdirAll(run.template, 0o755); err != nil {
				t.Fatal(err)
			}
			if sc.git {
				run.oldHead, run.oldCount = gitHead(t, run.template)
			}
			calls := run.probe(t)
			kills := make([]int, len(crashSyscalls))
			fails := make([]int, len(crashSyscalls))
			var wg sync.WaitGroup
			for i, sys := range crashSyscalls {
				if calls[sys] > 0 && (sc.syscalls == nil || slices.Contains(sc.syscalls, sys)) {
					wg.Go(func() { kills[i], fails[i] = run.sequence(t, sys) })
				}
			}
			wg.Wait()
			var summary []string
			for i, sys := range crashSyscalls {
				total.Add(int64(kills[i]))
				failed.Add(int64(fails[i]))
				if kills[i] > 0 || fails[i] > 0 {
					summary = append(summary, fmt.Sprintf("%s %d/%d", sys, kills[i], fails[i]))
				}
				if slices.Contains(mustKill, sys) && kills[i] == 0 && (sc.syscalls == nil || slices.Contains(sc.syscalls, sys)) {
					t.Errorf("no kill at %s, which the child calls %d times: strace injected nothing", sys, calls[sys])
				}
			}
			t.Logf("%s: kill points tried/failed: %s", sc.name, strings.Join(summary, ", "))
		})
	}
}

// crashRun kills children writing one scenario.
type crashRun struct {
	strace   string
	sc       crashScenario
	template string        // the state before the write, copied for each child
	oldHead  string        // the template's branch head, for git
	oldCount int           // and how many commits it has
	sem      chan struct{} // bounds the children running at once
	// modes are the modes of each kind of file that a write killed
	// nowhere leaves, for git; the probe's.
	modes map[string][]string
}

// sequence kills a child at the first, second, … call of sys until a
// child completes, checking each outcome. It returns how many children
// were killed and how many outcomes failed a check.
func (r crashRun) sequence(t *testing.T, sys string) (kills, fails int) {
	const limit = 500
	for n := 1; n <= limit; n++ {
		killed, err := r.killAt(t, sys, n)
		if err != nil {
			t.Errorf("kill at %s #%d: %v", sys, n, err)
			fails++
		}
		if !killed {
			return kills, fails
		}
		kills++
	}
	t.Errorf("%s: still killed at call %d", sys, limit)
	return kills, fails + 1
}

// probe runs a child writing into a copy of the template under strace,
// killing nothing, and returns how often it made each system call in
// crashSyscalls, on all its threads.
func (r *crashRun) probe(t *testing.T) map[string]int {
	target := filepath.Join(t.TempDir(), "target")
	if out, err := exec.Command("cp", "-a", r.template, target).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", r.template, err, out)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.CommandContext(t.Context(), r.strace, "-f", "-qq", "-o", trace, "-e", "trace="+strings.Join(crashSyscalls, ","),
		os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), crashEnv+"="+r.sc.name+"="+target, "GORACE=atexit_sleep_ms=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	if r.sc.git {
		r.modes = modesByKind(t, target)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		// With -o and -f, each line starts with the thread's id.
		line = strings.TrimLeft(strings.TrimLeft(line, "0123456789"), " ")
		if name, _, ok := strings.Cut(line, "("); ok && slices.Contains(crashSyscalls, name) {
			counts[name]++
		}
	}
	return counts
}

// killAt copies the template, runs a child writing into the copy, killed
// at the nth call of sys, and checks what it left. It reports whether the
// child was killed.
func (r crashRun) killAt(t *testing.T, sys string, n int) (bool, error) {
	r.sem <- struct{}{}
	defer func() { <-r.sem }()
	target := filepath.Join(t.TempDir(), "target")
	defer os.RemoveAll(target)
	if out, err := exec.Command("cp", "-a", r.template, target).CombinedOutput(); err != nil {
		return false, fmt.Errorf("copy %s: %v\n%s", r.template, err, out)
	}
	killed, err := runChild(t, r.strace, r.sc, target, sys, n)
	if err != nil {
		return false, err
	}
	if r.sc.git {
		if err := r.sc.checkGit(t, r.oldHead, r.oldCount, target); err != nil {
			return killed, err
		}
		return killed, checkModes(t, target, r.modes)
	}
	return killed, r.sc.checkDir(t, target)
}

// runChild runs the child writing sc into target under strace, killed at
// the nth call of sys, and reports whether it was.
func runChild(t *testing.T, strace string, sc crashScenario, target, sys string, n int) (bool, error) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace="+sys,
		"-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", sys, n),
		os.Args[0], "-test.run=^TestHelperProcess$")
	// The race detector waits a second at exit unless told not to.
	cmd.Env = append(os.Environ(), crashEnv+"="+sc.name+"="+target, "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("child: %v\n%s", err, out)
	}
	return false, nil
}
