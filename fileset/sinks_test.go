package fileset_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/fileset"
)

// write returns a plan that writes files, and checks what it is shown.
func write(t *testing.T, wantStored fileset.Files, files fileset.Files) fileset.Plan {
	return func(s fileset.Stored) (fileset.Write, error) {
		if diff := cmp.Diff(wantStored, s.Files()); diff != "" || s.Message() != "" {
			t.Errorf("stored (-want +got):\n%s\nmessage %q", diff, s.Message())
		}
		return fileset.Write{Files: files}, nil
	}
}

func TestStreamSink(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	files := fileset.Files{"b.yaml": []byte("b: 1\n"), "a/x.yaml": []byte("x: 1\n"), "kustomization.yaml": []byte("resources: []\n"),
		"a/kustomization.yaml": []byte("resources: [x.yaml]\n")}
	res, err := fileset.StreamSink{W: &out, Index: "kustomization.yaml"}.Sync(t.Context(), write(t, fileset.Files{}, files))
	if err != nil || res.Changed {
		t.Fatalf("Sync = %+v, %v", res, err)
	}
	if want := "x: 1\n---\nb: 1\n"; out.String() != want {
		t.Errorf("stream %q, want %q", out.String(), want)
	}
	boom := errors.New("boom")
	if _, err := (fileset.StreamSink{W: &out}).Sync(t.Context(), func(fileset.Stored) (fileset.Write, error) { return fileset.Write{}, boom }); err != boom {
		t.Errorf("plan error = %v, want it as it is", err)
	}
	if _, err := (fileset.StreamSink{W: failingWriter{}}).Sync(t.Context(), write(t, fileset.Files{}, files)); err == nil || !strings.Contains(err.Error(), "write to stdout") {
		t.Errorf("write error = %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

// TestCheckSink: the check shows a plan the directory's files, writes
// nothing, reports what differs, and prints it as a diff that git apply
// takes in the directory, making it equal to the plan's files.
func TestCheckSink(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	stored := fileset.Files{"kustomization.yaml": []byte("# ours\n"), "a.yaml": []byte("a: 1\nb: 2\n"), "gone/x.yaml": []byte("x\n")}
	if _, err := fileset.WriteDir(dir, stored, own); err != nil {
		t.Fatal(err)
	}
	planned := fileset.Files{"kustomization.yaml": []byte("# ours\n"), "a.yaml": []byte("a: 1\nb: 3\n"), "new/n.yaml": []byte("n\n")}
	var out strings.Builder
	res, err := fileset.CheckSink{Dir: dir, W: &out}.Sync(t.Context(), write(t, stored, planned))
	if err != nil {
		t.Fatal(err)
	}
	want := fileset.Result{Changed: true, Added: []string{"new/n.yaml"}, Updated: []string{"a.yaml"}, Removed: []string{"gone/x.yaml"}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(stringsOf(stored), readAll(t, dir)); diff != "" {
		t.Errorf("the check wrote (-want +got):\n%s", diff)
	}
	for _, line := range []string{"diff --git a/a.yaml b/a.yaml", "-b: 2", "+b: 3", "new file mode 100644", "+++ b/new/n.yaml",
		"deleted file mode 100644", "--- a/gone/x.yaml"} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("diff lacks %q:\n%s", line, out.String())
		}
	}
	patch := filepath.Join(t.TempDir(), "drift.patch")
	if err := os.WriteFile(patch, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "apply", patch)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git apply: %v\n%s", err, b)
	}
	if diff := cmp.Diff(stringsOf(planned), readAll(t, dir)); diff != "" {
		t.Errorf("after git apply (-want +got):\n%s", diff)
	}
	out.Reset()
	if res, err := (fileset.CheckSink{Dir: dir, W: &out}).Sync(t.Context(), write(t, planned, planned)); err != nil || res.Changed || out.Len() > 0 {
		t.Errorf("no drift: %+v, %v, printed %q", res, err, out.String())
	}
}

func TestCheckSinkErrors(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	missing := filepath.Join(t.TempDir(), "missing")
	res, err := fileset.CheckSink{Dir: missing, W: &out}.Sync(t.Context(), write(t, fileset.Files{}, fileset.Files{"a.yaml": []byte("a\n")}))
	if err != nil || !cmp.Equal(res.Added, []string{"a.yaml"}) || !strings.Contains(out.String(), "new file mode") {
		t.Errorf("a missing directory: %+v, %v\n%s", res, err, out.String())
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check made the directory: %v", err)
	}
	if _, err := (fileset.CheckSink{Dir: missing, W: &out}).Sync(t.Context(), write(t, fileset.Files{}, fileset.Files{"../a": nil})); err == nil || !strings.Contains(err.Error(), "invalid file path") {
		t.Errorf("an invalid path: %v", err)
	}
	if _, err := (fileset.CheckSink{Dir: missing, W: &out}).Sync(t.Context(), write(t, fileset.Files{}, fileset.Files{"x/.a.tmp-0123456789ab": nil})); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("a path DirSink refuses, a temporary file's: %v", err)
	}
	if _, err := (fileset.CheckSink{Dir: missing, W: &out, Ownership: fileset.Ownership{File: "../own"}}).Sync(t.Context(), write(t, nil, nil)); err == nil || !strings.Contains(err.Error(), "invalid ownership file") {
		t.Errorf("an ownership DirSink refuses: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (fileset.CheckSink{Dir: file, W: &out}).Sync(t.Context(), write(t, nil, nil)); err == nil || !strings.Contains(err.Error(), "open "+file) {
		t.Errorf("a file for a directory: %v", err)
	}
}

func stringsOf(files fileset.Files) map[string]string {
	out := map[string]string{}
	for p, b := range files {
		out[p] = string(b)
	}
	return out
}

// TestReadDir: a directory is read as the sink stores it: without .git
// and the sink's temporary files, a symlink as an empty file (pruning
// removes the link, never what it points to), nothing where there is no
// directory.
func TestReadDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for p, data := range map[string]string{"a.yaml": "a\n", "sub/b.yaml": "b\n", ".git/HEAD": "ref\n", "sub/.b.yaml.tmp-0123456789ab": "half"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	got, err := fileset.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := fileset.Files{"a.yaml": []byte("a\n"), "sub/b.yaml": []byte("b\n"), "link": nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadDir (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub/.b.yaml.tmp-0123456789ab")); err != nil {
		t.Errorf("ReadDir removed a temporary file: %v", err)
	}
	if got, err := fileset.ReadDir(filepath.Join(dir, "missing")); err != nil || got == nil || len(got) != 0 {
		t.Errorf("a missing directory: %v, %v; want an empty set", got, err)
	}
}

// TestDirSink: the sink writes what its plan decides, claimed by its
// ownership, and refuses a directory its ownership does not claim.
func TestDirSink(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	sink := fileset.DirSink{Dir: dir, Ownership: own}
	files := fileset.Files{"kustomization.yaml": []byte("# ours\n"), "a.yaml": []byte("a\n")}
	if res, err := sink.Sync(t.Context(), write(t, fileset.Files{}, files)); err != nil || !cmp.Equal(res.Added, files.Paths()) {
		t.Fatalf("Sync = %+v, %v", res, err)
	}
	if diff := cmp.Diff(stringsOf(files), readAll(t, dir)); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
	other := fileset.DirSink{Dir: dir, Ownership: fileset.Ownership{File: "kustomization.yaml", Prefix: []byte("# theirs\n")}}
	if _, err := other.Sync(t.Context(), write(t, nil, nil)); err == nil || !strings.Contains(err.Error(), "refusing to write") {
		t.Errorf("a directory another ownership marks: %v", err)
	}
}

// TestCheckSinkOwnership: a check refuses a directory the directory sink
// would refuse to write, and prints nothing: before, its diff deleted the
// user's files, and the git apply that docs/render.md gives would have.
func TestCheckSinkOwnership(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	planned := fileset.Files{"kustomization.yaml": []byte("# ours\n")}
	plan := func(fileset.Stored) (fileset.Write, error) { return fileset.Write{Files: planned}, nil }
	var out strings.Builder
	_, err := fileset.CheckSink{Dir: dir, W: &out, Ownership: own}.Sync(t.Context(), plan)
	if err == nil || !strings.Contains(err.Error(), "refusing to compare "+dir+": it is not empty and has no kustomization.yaml") || out.Len() > 0 {
		t.Errorf("check of a directory not ours: %v, printed %q; want a refusal and nothing printed", err, out.String())
	}
	if _, werr := (fileset.DirSink{Dir: dir, Ownership: own}).Sync(t.Context(), plan); werr == nil {
		t.Error("the directory sink wrote a directory not ours")
	}
	// Once ours, it is compared.
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("# ours\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (fileset.CheckSink{Dir: dir, W: &out, Ownership: own}).Sync(t.Context(), plan); err != nil || !strings.Contains(out.String(), "deleted file mode 100644") {
		t.Errorf("check of a directory of ours: %v, printed %q; want the README's removal shown", err, out.String())
	}
}
