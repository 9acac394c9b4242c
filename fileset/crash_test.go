package fileset

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/internal/crashtest"
)

// The crash tests kill a child process writing a directory at every call
// of the system calls that change files, with strace's fault injection,
// and check that the next write needs no human: it succeeds, and leaves
// exactly what was asked, and no temporary file or empty directory.

// crashOwnership is the directory sink's ownership as ssm passes it.
var crashOwnership = Ownership{File: "kustomization.yaml", Prefix: []byte("# ours\n"), Placeholder: []byte("# ours\nresources: []\n")}

// crashScenario is one write a child is killed in.
type crashScenario struct {
	name string
	// setup builds the state before the write at target, with the test's
	// own writes; old is what the directory holds then.
	setup func(t *testing.T, target string)
	old   Files
	new   Files // what the write asks for
}

// kustomized returns files with a kustomization.yaml listing them.
func kustomized(files map[string]string) Files {
	out := Files{}
	k := "# ours\nresources:\n"
	for _, p := range slices.Sorted(maps.Keys(files)) {
		out[p] = []byte(files[p])
		k += "- " + p + "\n"
	}
	out["kustomization.yaml"] = []byte(k)
	return out
}

func crashScenarios() []crashScenario {
	v1 := kustomized(map[string]string{"a.yaml": "a1\n", "old.yaml": "old\n", "gone/x.yaml": "x\n"})
	v2 := kustomized(map[string]string{"a.yaml": "a2\n", "sub/b.yaml": "b\n"})
	return []crashScenario{
		{name: "dir-first", new: v2, setup: func(*testing.T, string) {}},
		{name: "dir-update", old: v1, new: v2, setup: func(t *testing.T, dir string) {
			if _, err := WriteDir(dir, v1, crashOwnership); err != nil {
				t.Fatal(err)
			}
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
			if err := sc.write(target); err != nil {
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
func (sc crashScenario) write(target string) error {
	_, err := WriteDir(target, sc.new, crashOwnership)
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
			run := crashtest.Run{Strace: strace, Scenario: sc.name, Template: filepath.Join(t.TempDir(), "template"), Sem: sem}
			sc.setup(t, run.Template)
			if err := os.MkdirAll(run.Template, 0o755); err != nil {
				t.Fatal(err)
			}
			calls, _ := run.Probe(t)
			run.Check = func(target string) error { return sc.checkDir(t, target) }
			for _, res := range run.Kill(t, calls) {
				total.Add(int64(res.Kills))
				failed.Add(int64(res.Fails))
			}
		})
	}
}

// checkDir checks that each file in dir is whole, old or new; that a
// directory holding any file is claimed by the ownership file, which lists
// only files that are there; and that the next write leaves exactly the
// new files, without temporary files or empty directories.
func (sc crashScenario) checkDir(t *testing.T, dir string) error {
	t.Helper()
	got := readDirAll(t, dir)
	for p, b := range got {
		switch {
		case isTempName(path.Base(p)):
		case p == crashOwnership.File && bytes.Equal(b, crashOwnership.Placeholder):
		case sc.old[p] != nil && bytes.Equal(b, sc.old[p]), sc.new[p] != nil && bytes.Equal(b, sc.new[p]):
		default:
			return fmt.Errorf("%s holds %q: neither its old nor its new contents", p, b)
		}
		if isTempName(path.Base(p)) {
			continue
		}
		k, ok := got[crashOwnership.File]
		if !ok || !bytes.HasPrefix(k, crashOwnership.Prefix) {
			return fmt.Errorf("%s is there but the directory is not claimed", p)
		}
	}
	for _, line := range strings.Split(string(got[crashOwnership.File]), "\n") {
		if listed, ok := strings.CutPrefix(line, "- "); ok && got[listed] == nil {
			return fmt.Errorf("%s lists %s, which is not there", crashOwnership.File, listed)
		}
	}
	if err := sc.write(dir); err != nil {
		return fmt.Errorf("the next write: %w", err)
	}
	if diff := cmp.Diff(sc.new, Files(readDirAll(t, dir))); diff != "" {
		return fmt.Errorf("after the next write (-want +got):\n%s", diff)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if entries, err := os.ReadDir(p); err != nil || len(entries) == 0 {
			return fmt.Errorf("empty directory %s left: %v", p, err)
		}
		return nil
	})
}

// readDirAll returns every file below dir, dot files included.
func readDirAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
