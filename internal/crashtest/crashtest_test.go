package crashtest_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/ssm-dev/ssm/internal/crashtest"
)

var (
	oldContents = []byte("old contents\n")
	newContents = []byte("new contents, written in two parts\n")
)

// writers are the children's writes: "safe" as ssm writes (a lock, a
// temporary file synced and renamed over the old one, the directory
// synced), "torn" rewriting the file in place, without a lock.
var writers = map[string]func(dir string) error{
	"safe": func(dir string) error {
		lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return err
		}
		tmp := filepath.Join(dir, "file.tmp")
		if err := writeParts(tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, "file")); err != nil {
			return err
		}
		d, err := os.Open(dir)
		if err != nil {
			return err
		}
		defer d.Close()
		return d.Sync()
	},
	"torn": func(dir string) error { return writeParts(filepath.Join(dir, "file")) },
}

// writeParts writes newContents to p in two writes, then syncs it.
func writeParts(p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	half := len(newContents) / 2
	if _, err := f.Write(newContents[:half]); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(newContents[half:]); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestHelperProcess is the children's write. Run by itself it does
// nothing.
func TestHelperProcess(t *testing.T) {
	scenario, target, ok := crashtest.Child()
	if !ok {
		return
	}
	runtime.LockOSThread()
	write, known := writers[scenario]
	if !known {
		fmt.Fprintln(os.Stderr, "unknown scenario", scenario)
		os.Exit(3)
	}
	if err := write(target); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}

// run returns a Run of scenario over a template directory holding "file"
// with oldContents, checking that the file is whole, old or new.
func run(t *testing.T, strace, scenario string) crashtest.Run {
	t.Helper()
	template := filepath.Join(t.TempDir(), "template")
	if err := os.Mkdir(template, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(template, "file"), oldContents, 0o644); err != nil {
		t.Fatal(err)
	}
	return crashtest.Run{Strace: strace, Scenario: scenario, Template: template, Sem: crashtest.Parallel(),
		Check: func(target string) error {
			b, err := os.ReadFile(filepath.Join(target, "file"))
			if err != nil || !bytes.Equal(b, oldContents) && !bytes.Equal(b, newContents) {
				return fmt.Errorf("file holds %q (%v): want its old or its new contents", b, err)
			}
			return nil
		}}
}

// TestKillsAtEveryCall: the probe counts the calls the write makes, and
// Kill kills the child at each of them, so that a crash-safe write is
// seen whole or not at all after every one.
func TestKillsAtEveryCall(t *testing.T) {
	strace := crashtest.Strace(t)
	t.Parallel()
	r := run(t, strace, "safe")
	calls, written := r.Probe(t)
	for _, sys := range []string{"openat", "write", "fsync", "flock"} {
		if calls[sys] == 0 {
			t.Errorf("the probe counted no %s: %v", sys, calls)
		}
	}
	if calls["rename"]+calls["renameat"]+calls["renameat2"] == 0 { // more with -cover, which renames its profile
		t.Errorf("the probe counted no rename: %v", calls)
	}
	if b, err := os.ReadFile(filepath.Join(written, "file")); err != nil || !bytes.Equal(b, newContents) {
		t.Errorf("the probe's write left %q, %v; want the new contents", b, err)
	}
	kills := map[string]int{}
	for _, res := range r.Kill(t, calls) {
		if res.Fails > 0 {
			t.Errorf("%s: %d of %d kills left a broken file", res.Syscall, res.Fails, res.Kills)
		}
		kills[res.Syscall] = res.Kills
	}
	// Each call of these is a kill point, but the last write's, which may
	// be the test binary's own output: at least the writer's two.
	if kills["fsync"] < calls["fsync"] || kills["write"] < 2 || kills["flock"] < 1 {
		t.Errorf("kills %v for calls %v", kills, calls)
	}
}

// TestCatchesWhatIsNotCrashSafe runs TestBrokenWriter in a test binary of
// its own, since it must fail: a write in place is caught at the kills
// that tear it, and a child that never takes a lock at the lock no kill
// could reach.
func TestCatchesWhatIsNotCrashSafe(t *testing.T) {
	crashtest.Strace(t)
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenWriter$", "-test.v")
	cmd.Env = append(os.Environ(), "SSM_CRASHTEST_BROKEN=1")
	out, err := cmd.CombinedOutput()
	if exit, ok := errors.AsType[*exec.ExitError](err); !ok || exit.ExitCode() != 1 {
		t.Fatalf("the broken writer's test: %v, want it to fail\n%s", err, out)
	}
	for _, want := range []string{
		"kill at write #1: file holds \"\"",
		"kill at write #2: file holds \"new contents, wri\"",
		"no kill at flock, which the child calls 0 times: strace injected nothing",
		"torn: kill points tried/failed: ",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("its output lacks %q:\n%s", want, out)
		}
	}
}

// TestBrokenWriter is TestCatchesWhatIsNotCrashSafe's child: it fails.
func TestBrokenWriter(t *testing.T) {
	if os.Getenv("SSM_CRASHTEST_BROKEN") == "" {
		t.Skip("run by TestCatchesWhatIsNotCrashSafe")
	}
	r := run(t, crashtest.Strace(t), "torn")
	calls, _ := r.Probe(t)
	r.Kill(t, calls)
}

// TestStraceMissing: without strace the crash tests skip, saying how to
// get it.
func TestStraceMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var skipped bool
	t.Run("crash test", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		crashtest.Strace(t)
	})
	if !skipped {
		t.Error("a crash test without strace was not skipped")
	}
}

func TestChild(t *testing.T) {
	t.Setenv("SSM_CRASH_CHILD", "")
	if _, _, ok := crashtest.Child(); ok {
		t.Error("Child without the variable: ok")
	}
	t.Setenv("SSM_CRASH_CHILD", "safe=/tmp/a=b")
	if sc, target, ok := crashtest.Child(); !ok || sc != "safe" || target != "/tmp/a=b" {
		t.Errorf("Child = %q, %q, %v", sc, target, ok)
	}
	if n := cap(crashtest.Parallel()); n != 2*runtime.NumCPU()+2 {
		t.Errorf("Parallel lets %d children run, want %d", n, 2*runtime.NumCPU()+2)
	}
}
