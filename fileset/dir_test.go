package fileset_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/fileset"
)

var own = fileset.Ownership{File: "kustomization.yaml", Prefix: []byte("# ours\n")}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWriteDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	v1 := fileset.Files{"kustomization.yaml": []byte("# ours\nv1"), "a.yaml": []byte("a1"), "sub/b.yaml": []byte("b1"), "gone.yaml": []byte("x")}
	r, err := fileset.WriteDir(dir, v1, own)
	if err != nil {
		t.Fatal(err)
	}
	want := fileset.Result{Changed: true, Added: []string{"a.yaml", "gone.yaml", "kustomization.yaml", "sub/b.yaml"}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Fatalf("first write (-want +got):\n%s", diff)
	}

	// A rerun with the same files changes nothing, not even modification times.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "a.yaml"), old, old); err != nil {
		t.Fatal(err)
	}
	r, err = fileset.WriteDir(dir, v1, own)
	if err != nil || r.Changed {
		t.Fatalf("rerun: %+v, %v; want no change", r, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "a.yaml")); !fi.ModTime().Equal(old) {
		t.Error("an unchanged file was rewritten")
	}

	// Update, remove (pruning the emptied folder), and clear a crash's
	// leftover temporary file, which is no stored file; a file merely
	// named like one is.
	for _, name := range []string{".a.yaml.tmp-0123456789ab", ".a.yaml.tmp-123"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v2 := fileset.Files{"kustomization.yaml": []byte("# ours\nv2"), "a.yaml": []byte("a2"), "c.yaml": []byte("c")}
	r, err = fileset.WriteDir(dir, v2, own)
	if err != nil {
		t.Fatal(err)
	}
	want = fileset.Result{Changed: true, Added: []string{"c.yaml"}, Updated: []string{"a.yaml", "kustomization.yaml"},
		Removed: []string{".a.yaml.tmp-123", "gone.yaml", "sub/b.yaml"}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("second write (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"kustomization.yaml": "# ours\nv2", "a.yaml": "a2", "c.yaml": "c"}, readAll(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("emptied folder sub still there: %v", err)
	}
}

func TestWriteDirRefusesForeignDirectory(t *testing.T) {
	t.Parallel()
	for name, existing := range map[string]map[string]string{
		"no marker":      {"notes.txt": "mine"},
		"foreign marker": {"kustomization.yaml": "resources: [app.yaml]", "app.yaml": "x"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for p, s := range existing {
				if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := fileset.WriteDir(dir, fileset.Files{"kustomization.yaml": []byte("# ours\n")}, own)
			if err == nil || !strings.Contains(err.Error(), "refusing") {
				t.Fatalf("error = %v, want a refusal", err)
			}
			if diff := cmp.Diff(existing, readAll(t, dir)); diff != "" {
				t.Errorf("the foreign directory changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteDirFailureKeepsOldFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := fileset.WriteDir(dir, fileset.Files{"kustomization.yaml": []byte("# ours\n1"), "a.yaml": []byte("old")}, own); err != nil {
		t.Fatal(err)
	}
	// "a.yaml/x" cannot be written while a.yaml is a file: the write fails
	// before the ownership file or any removal is touched.
	_, err := fileset.WriteDir(dir, fileset.Files{"kustomization.yaml": []byte("# ours\n2"), "a.yaml/x": []byte("new")}, own)
	if err == nil {
		t.Fatal("want an error")
	}
	if diff := cmp.Diff(map[string]string{"kustomization.yaml": "# ours\n1", "a.yaml": "old"}, readAll(t, dir)); diff != "" {
		t.Errorf("after a failed write (-want +got):\n%s", diff)
	}
}

func TestFilesValidate(t *testing.T) {
	t.Parallel()
	bad := []string{
		"", "/abs.yaml", "../up.yaml", "a/../b.yaml", "./a.yaml", "a\\b.yaml", "a//b.yaml", "a/",
		".", "..", "a/.", "a/..", "a\x00b", "\x00",
		// What git takes for .git on some file system, and refuses to check out.
		".git/config", ".GIT/config", "a/.Git", "git~1/x", "GIT~1", ".git./x", ".git. . /x", ".git ",
		".git::$INDEX_ALLOCATION/x", "git~1:stream", "\u200c.git", ".g\u200dit", ".gi\ufeffT",
	}
	for _, p := range bad {
		if err := (fileset.Files{p: nil}).Validate(); err == nil {
			t.Errorf("path %q accepted", p)
		}
		dir := t.TempDir()
		if _, err := fileset.WriteDir(dir, fileset.Files{p: nil, "a.yaml": nil}, own); err == nil {
			t.Errorf("WriteDir accepted path %q", p)
		}
		if got := readAll(t, dir); len(got) != 0 {
			t.Errorf("WriteDir with path %q wrote %v", p, got)
		}
	}
	good := fileset.Files{"a/b.yaml": nil, "c.yaml": nil, ".gitignore": nil, ".github/x": nil, "a.git/x": nil,
		".gitx": nil, "git~2": nil, "git": nil, "...": nil, ".git.x": nil, "é/\u200c": nil}
	if err := good.Validate(); err != nil {
		t.Errorf("valid paths rejected: %v", err)
	}
}

func TestFilesValidateAllocatesNothing(t *testing.T) {
	files := fileset.Files{"kustomization.yaml": nil, "ns/a.yaml": nil, "deep/er/.gitkeep": nil, "é/\u200c.b": nil}
	if n := testing.AllocsPerRun(100, func() { _ = files.Validate() }); n != 0 {
		t.Errorf("Validate allocates %v times", n)
	}
}

func TestWriteDirRejectsBadOwnershipFile(t *testing.T) {
	t.Parallel()
	_, err := fileset.WriteDir(t.TempDir(), fileset.Files{"a": nil}, fileset.Ownership{File: ".git/x"})
	if err == nil || !strings.Contains(err.Error(), `invalid ownership file ".git/x"`) {
		t.Errorf("WriteDir error = %v, want the ownership file rejected", err)
	}
}

func TestDiffDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing")
	changes, err := fileset.DiffDir(dir, fileset.Files{"a.yaml": []byte("a")})
	if err != nil || len(changes) != 1 || changes[0].Kind != fileset.Added {
		t.Fatalf("missing directory: %+v, %v; want a.yaml added", changes, err)
	}
	if _, err := fileset.WriteDir(dir, fileset.Files{"a.yaml": []byte("a"), "b.yaml": []byte("b")}, fileset.Ownership{}); err != nil {
		t.Fatal(err)
	}
	changes, err = fileset.DiffDir(dir, fileset.Files{"a.yaml": []byte("A")})
	if err != nil {
		t.Fatal(err)
	}
	want := []fileset.Change{
		{Path: "a.yaml", Kind: fileset.Updated, Old: []byte("a"), New: []byte("A")},
		{Path: "b.yaml", Kind: fileset.Removed, Old: []byte("b")},
	}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.yaml")); err != nil {
		t.Errorf("DiffDir removed a file: %v", err)
	}
}

func TestApplyDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	var seen []map[string]string
	plan := func(version string) fileset.Plan {
		return func(s fileset.Stored) (fileset.Write, error) {
			if s.Message() != "" {
				t.Errorf("Stored.Message = %q for a directory", s.Message())
			}
			stored := map[string]string{}
			for p, b := range s.Files() {
				stored[p] = string(b)
			}
			seen = append(seen, stored)
			return fileset.Write{Files: fileset.Files{"kustomization.yaml": []byte("# ours\n" + version), "n": []byte(version)},
				Subject: "ignored", Trailers: []string{"Ignored: yes"}}, nil
		}
	}
	for _, v := range []string{"1", "2"} {
		if _, err := fileset.ApplyDir(dir, own, plan(v)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := fileset.ApplyDir(dir, own, func(fileset.Stored) (fileset.Write, error) { return fileset.Write{}, errHeld })
	if !errors.Is(err, errHeld) {
		t.Errorf("ApplyDir error = %v, want the plan's error as it is", err)
	}
	want := []map[string]string{{}, {"kustomization.yaml": "# ours\n1", "n": "1"}}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("what the plans saw (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"kustomization.yaml": "# ours\n2", "n": "2"}, readAll(t, dir)); diff != "" {
		t.Errorf("directory after a plan error (-want +got):\n%s", diff)
	}
}

var errHeld = errors.New("held")

func TestApplyDirAfterAKilledFirstWrite(t *testing.T) {
	t.Parallel()
	// A first write killed before its kustomization.yaml landed leaves
	// temporary files and directories; they are ssm's, not foreign files.
	dir := t.TempDir()
	for _, p := range []string{".kustomization.yaml.tmp-0123456789ab", "sub/deeper/.b.yaml.tmp-abcdef012345"} {
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := fileset.Files{"kustomization.yaml": []byte("# ours\n"), "a.yaml": []byte("a")}
	res, err := fileset.WriteDir(dir, files, own)
	if err != nil {
		t.Fatalf("WriteDir after a killed first write: %v", err)
	}
	if want := []string{"a.yaml", "kustomization.yaml"}; !cmp.Equal(want, res.Added) || res.Removed != nil {
		t.Errorf("Result = %+v, want only the two files added", res)
	}
	if diff := cmp.Diff(map[string]string{"kustomization.yaml": "# ours\n", "a.yaml": "a"}, readAll(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
	for _, d := range []string{"sub", "empty"} {
		if _, err := os.Stat(filepath.Join(dir, d)); !os.IsNotExist(err) {
			t.Errorf("directory %s left: %v", d, err)
		}
	}
	// A rendered file may not take the temporary files' names.
	if _, err := fileset.WriteDir(dir, fileset.Files{"x/.a.tmp-0123456789ab": nil}, own); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("WriteDir of a temporary file's name: error = %v, want it refused", err)
	}
}

func TestApplyDirOwnershipPlaceholder(t *testing.T) {
	t.Parallel()
	bad := own
	bad.Placeholder = []byte("resources: []\n") // lacks the prefix: it would claim nothing
	if _, err := fileset.WriteDir(t.TempDir(), fileset.Files{"a": nil}, bad); err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Errorf("WriteDir with a placeholder without the prefix: error = %v", err)
	}
	good := own
	good.Placeholder = []byte("# ours\nresources: []\n")
	dir := t.TempDir()
	files := fileset.Files{"kustomization.yaml": []byte("# ours\nresources: [a.yaml]\n"), "a.yaml": []byte("a")}
	if _, err := fileset.WriteDir(dir, files, good); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"kustomization.yaml": "# ours\nresources: [a.yaml]\n", "a.yaml": "a"}, readAll(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
}

func TestApplyDirWaitsForAnotherWriter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := fileset.WriteDir(dir, fileset.Files{"kustomization.yaml": []byte("# ours\n")}, own)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("WriteDir returned %v while another writer held the directory", err)
	case <-time.After(100 * time.Millisecond):
	}
	f.Close()
	if err := <-done; err != nil {
		t.Fatalf("WriteDir after the other writer finished: %v", err)
	}
}
