// Package crashtest kills a child process making one write at every call
// of the system calls that change files, with strace's fault injection
// (-e inject=SYSCALL:signal=KILL:when=N), so that a test can check what
// each kill left: the crash tests of fileset's directory sink, of
// gitsync's git sink and of the local repository store. Only tests import
// it. It imports no package of this module.
package crashtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary a crash test's child: it holds the
// scenario's name and its target, "name=target".
const childEnv = "SSM_CRASH_CHILD"

// Syscalls are the system calls a child is killed at, at every call.
// Those it does not make are tried once, for nothing.
var Syscalls = []string{
	"openat", "write", "fsync", "fchmod", "fchmodat", "rename", "renameat", "renameat2",
	"link", "linkat", "unlink", "unlinkat", "mkdir", "mkdirat", "flock",
}

// mustKill are system calls every write makes: if none of their calls
// kills the child, strace injected nothing (as with its -e trace=none,
// which disables injection), and every check would pass.
var mustKill = []string{"openat", "write", "fsync", "flock"}

// Child reports whether this process is a crash test's child, and if so
// the scenario it is to write and where. The child's writes should stay on
// one thread (runtime.LockOSThread): strace counts calls per thread.
func Child() (scenario, target string, ok bool) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return "", "", false
	}
	scenario, target, _ = strings.Cut(spec, "=")
	return scenario, target, true
}

// Strace returns the path of strace, skipping the test without it.
func Strace(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("skipped: strace is not installed; CI installs it (apt-get install strace)")
	}
	return p
}

// Run is one scenario's write, killed at each call of each system call:
// Probe, then Kill. The child is this test binary running
// TestHelperProcess, which must make the write that Child names and exit.
type Run struct {
	Strace   string
	Scenario string
	// Template is the state before the write, copied for each child.
	Template string
	// Syscalls, if set, restricts the kills to these system calls.
	Syscalls []string
	// Sem bounds the children running at once, across Runs.
	Sem chan struct{}
	// Check checks the copy of the template a child left, killed or not.
	Check func(target string) error
}

// Result counts the kills of one system call, and the checks they failed.
type Result struct {
	Syscall      string
	Kills, Fails int
}

// Kill kills the write at every call of each system call it made in the
// probe (calls), in parallel, and returns the kills and failed checks of
// each. It fails the test if a system call that every write makes killed
// nothing.
func (r Run) Kill(t *testing.T, calls map[string]int) []Result {
	t.Helper()
	results := make([]Result, len(Syscalls))
	var wg sync.WaitGroup
	for i, sys := range Syscalls {
		results[i].Syscall = sys
		if calls[sys] > 0 && (r.Syscalls == nil || slices.Contains(r.Syscalls, sys)) {
			wg.Go(func() { results[i].Kills, results[i].Fails = r.sequence(t, sys) })
		}
	}
	wg.Wait()
	var summary []string
	for _, res := range results {
		if res.Kills > 0 || res.Fails > 0 {
			summary = append(summary, fmt.Sprintf("%s %d/%d", res.Syscall, res.Kills, res.Fails))
		}
		if slices.Contains(mustKill, res.Syscall) && res.Kills == 0 && (r.Syscalls == nil || slices.Contains(r.Syscalls, res.Syscall)) {
			t.Errorf("no kill at %s, which the child calls %d times: strace injected nothing", res.Syscall, calls[res.Syscall])
		}
	}
	t.Logf("%s: kill points tried/failed: %s", r.Scenario, strings.Join(summary, ", "))
	return results
}

// sequence kills a child at the first, second, … call of sys until a
// child completes, checking each outcome. It returns how many children
// were killed and how many outcomes failed a check.
func (r Run) sequence(t *testing.T, sys string) (kills, fails int) {
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

// Probe runs a child writing into a copy of the template under strace,
// killing nothing, and returns how often it made each system call in
// Syscalls, on all its threads, and the copy it wrote.
func (r Run) Probe(t *testing.T) (map[string]int, string) {
	t.Helper()
	target := filepath.Join(t.TempDir(), "target")
	if err := r.copyTemplate(target); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := r.child(t.Context(), target, "-o", trace, "-e", "trace="+strings.Join(Syscalls, ","))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for line := range strings.Lines(string(b)) {
		// With -o and -f, each line starts with the thread's id.
		line = strings.TrimLeft(strings.TrimLeft(line, "0123456789"), " ")
		if name, _, ok := strings.Cut(line, "("); ok && slices.Contains(Syscalls, name) {
			counts[name]++
		}
	}
	return counts, target
}

func (r Run) copyTemplate(target string) error {
	if out, err := exec.Command("cp", "-a", r.Template, target).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s: %v\n%s", r.Template, err, out)
	}
	return nil
}

// killAt copies the template, runs a child writing into the copy, killed
// at the nth call of sys, and checks what it left. It reports whether the
// child was killed.
func (r Run) killAt(t *testing.T, sys string, n int) (bool, error) {
	r.Sem <- struct{}{}
	defer func() { <-r.Sem }()
	target := filepath.Join(t.TempDir(), "target")
	defer os.RemoveAll(target)
	if err := r.copyTemplate(target); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := r.child(ctx, target, "-o", "/dev/null", "-e", "trace="+sys,
		"-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", sys, n))
	out, err := cmd.CombinedOutput()
	killed := false
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		killed = true
	} else if err != nil {
		return false, fmt.Errorf("child: %v\n%s", err, out)
	}
	return killed, r.Check(target)
}

// child returns the command running this test binary's TestHelperProcess
// under strace with straceArgs, writing the scenario into target.
func (r Run) child(ctx context.Context, target string, straceArgs ...string) *exec.Cmd {
	args := append([]string{"-f", "-qq"}, straceArgs...)
	cmd := exec.CommandContext(ctx, r.Strace, append(args, os.Args[0], "-test.run=^TestHelperProcess$")...)
	// The race detector waits a second at exit unless told not to.
	cmd.Env = append(os.Environ(), childEnv+"="+r.Scenario+"="+target, "GORACE=atexit_sleep_ms=0")
	return cmd
}

// Parallel returns a semaphore for the children of several Runs: they
// mostly wait on strace and the disk, so more than the CPUs run at once.
func Parallel() chan struct{} {
	return make(chan struct{}, 2*runtime.NumCPU()+2)
}
