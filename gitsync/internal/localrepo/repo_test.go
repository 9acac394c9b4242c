package localrepo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// headFiles returns the files of the commit ref points at, read through
// the store Head returns, and the commit.
func headFiles(t *testing.T, r *Repo, ref plumbing.ReferenceName) (plumbing.Hash, map[string]string) {
	t.Helper()
	h, sto, err := r.Head(t.Context(), ref)
	if err != nil {
		t.Fatalf("Head %s: %v", ref, err)
	}
	if h.IsZero() {
		return h, nil
	}
	return h, filesOf(t, sto, h)
}

func filesOf(t *testing.T, sto storer.EncodedObjectStorer, commit plumbing.Hash) map[string]string {
	t.Helper()
	c, err := object.GetCommit(sto, commit)
	if err != nil {
		t.Fatalf("read commit %s: %v", commit, err)
	}
	files, err := c.Files()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	err = files.ForEach(func(f *object.File) error {
		s, err := f.Contents()
		got[f.Name] = s
		return err
	})
	if err != nil {
		t.Fatalf("read files of %s: %v", commit, err)
	}
	return got
}

func TestReadsWhatGitWrote(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, nil)
	if h, _ := headFiles(t, r, main); !h.IsZero() {
		t.Fatalf("Head of a new repository = %s, want zero", h)
	}
	first := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"a": "1\n", "d/b": "2\n"}) }, "first")
	want := map[string]string{"a": "1\n", "d/b": "2\n"}
	check := func(how string, ref plumbing.ReferenceName, commit string) {
		t.Helper()
		h, files := headFiles(t, r, ref)
		if h.String() != commit {
			t.Errorf("%s: Head %s = %s, want %s", how, ref, h, commit)
		}
		if diff := cmp.Diff(want, files); diff != "" {
			t.Errorf("%s: files (-want +got):\n%s", how, diff)
		}
	}
	check("a loose ref and loose objects", main, first)
	check("HEAD, a symbolic ref", plumbing.HEAD, first)

	gittest.Git(t, bare, "pack-refs", "--all")
	if _, err := os.Stat(filepath.Join(bare, "refs", "heads", "main")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("git pack-refs left refs/heads/main loose: %v", err)
	}
	check("a packed ref", main, first)

	// git gc packs the objects and removes the loose ones: the store reads
	// the new pack's index.
	gittest.Git(t, bare, "gc", "-q", "--prune=now")
	check("objects packed by git gc", main, first)

	second := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"a": "3\n"}) }, "second")
	want["a"] = "3\n"
	check("a loose ref over a packed one", main, second)
	gittest.Git(t, bare, "tag", "-a", "-m", "v1", "v1", second)
	gittest.Git(t, bare, "pack-refs", "--all")
	if h, _, err := r.Head(t.Context(), plumbing.NewTagReferenceName("v1")); err != nil || h.String() != gittest.Git(t, bare, "rev-parse", "v1") {
		t.Errorf("Head of an annotated tag = %s, %v; want the tag object", h, err)
	}
}

func TestGitReadsWhatItWrote(t *testing.T) {
	t.Parallel()
	bare := newBare(t, nil, "core.logAllRefUpdates", "true")
	r := open(t, bare, nil)
	c1 := mustUpdate(t, r, main, plumbing.ZeroHash, map[string]string{"a": "1\n"})
	c2 := mustUpdate(t, r, main, c1, manyFiles(120, "pack"))
	other := plumbing.NewBranchReferenceName("feature/x")
	c3 := mustUpdate(t, r, other, plumbing.ZeroHash, map[string]string{"x": "x\n"})

	gittest.Git(t, bare, "fsck", "--full", "--strict", "--no-dangling", "--no-progress")
	if got := gittest.Git(t, bare, "log", "--format=%H %s", "main"); got != c2.String()+" update\n"+c1.String()+" update" {
		t.Errorf("git log main:\n%s", got)
	}
	if got := gittest.Git(t, bare, "for-each-ref", "--format=%(objectname) %(refname)"); got != c3.String()+" refs/heads/feature/x\n"+c2.String()+" refs/heads/main" {
		t.Errorf("git for-each-ref:\n%s", got)
	}
	if got := gittest.Git(t, bare, "cat-file", "-p", "main:f042.yaml"); got != "42 pack" {
		t.Errorf("a file of the packed commit reads %q", got)
	}
	if got := gittest.Git(t, bare, "count-objects", "-v"); !strings.Contains(got, "packs: 1") || !strings.Contains(got, "count: 6") {
		t.Errorf("git count-objects -v: want the small commits loose (3 objects each) and one pack:\n%s", got)
	}
	// git moves the branch on top, and reads its own reflog entries
	// after ours.
	c4 := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"h": "h\n"}) }, "human")
	if got := gittest.Git(t, bare, "rev-list", "--count", "main"); got != "3" {
		t.Errorf("git rev-list --count main = %s after a human push, want 3", got)
	}
	if got := gittest.Git(t, bare, "reflog", "show", "--format=%H", "main"); got != c4+"\n"+c2.String()+"\n"+c1.String() {
		t.Errorf("git reflog show main:\n%s", got)
	}
	gittest.Git(t, bare, "gc", "-q")
	gittest.Fsck(t, bare)
	// And the store reads on after git's gc.
	if h, files := headFiles(t, r, main); h.String() != c4 || files["f042.yaml"] != "42 pack\n" || files["h"] != "h\n" {
		t.Errorf("after git gc, Head = %s with %d files", h, len(files))
	}
}

func TestUpdateIsCompareAndSwap(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, nil)
	ours := mustUpdate(t, r, main, plumbing.ZeroHash, map[string]string{"a": "1"})
	theirs := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"b": "2"}) }, "theirs")
	tests := []struct {
		name     string
		old, new plumbing.Hash
	}{
		{name: "update from a head that moved", old: ours, new: plumbing.NewHash(strings.Repeat("1", 40))},
		{name: "create a ref that exists", old: plumbing.ZeroHash, new: plumbing.NewHash(strings.Repeat("1", 40))},
		{name: "delete from a head that moved", old: ours, new: plumbing.ZeroHash},
	}
	for _, tt := range tests {
		c, objs := newCommit(tt.old, map[string]string{"c": "3"}, tt.name)
		if !tt.new.IsZero() {
			tt.new = c
		}
		err := r.Update(t.Context(), main, tt.old, tt.new, objs)
		moved, ok := errors.AsType[*MovedError](err)
		if !ok || moved.Current.String() != theirs || moved.Ref != main {
			t.Errorf("%s: error = %v, want main moved to %s", tt.name, err, theirs)
		} else if want := "refs/heads/main moved to " + theirs; err.Error() != want {
			t.Errorf("%s: error says %q, want %q", tt.name, err, want)
		}
		if got := revParse(t, bare, "main"); got != theirs {
			t.Errorf("%s: main = %s, want %s kept", tt.name, got, theirs)
		}
	}
	// A branch deleted meanwhile.
	gone := plumbing.NewBranchReferenceName("gone")
	c := mustUpdate(t, r, gone, plumbing.ZeroHash, map[string]string{"g": "1"})
	gittest.Git(t, bare, "update-ref", "-d", gone.String())
	err := r.Update(t.Context(), gone, c, plumbing.ZeroHash, nil)
	if moved, ok := errors.AsType[*MovedError](err); !ok || !moved.Current.IsZero() || err.Error() != "refs/heads/gone was deleted" {
		t.Errorf("delete of a deleted branch: error = %v, want it deleted", err)
	}
	assertNoLeftovers(t, bare)
	gittest.Fsck(t, bare)
}

func TestOpenAndMissingRepository(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	gittest.Git(t, work, "init", "-q")
	if _, err := Open(work, Options{}); err == nil || !strings.Contains(err.Error(), "must be bare") {
		t.Errorf("Open of a work tree: error = %v, want it refused as not bare", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.git")
	r := open(t, missing, nil)
	if _, _, err := r.Head(t.Context(), main); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head of a missing repository: error = %v, want ErrNotFound", err)
	}
	if err := r.Update(t.Context(), main, plumbing.ZeroHash, plumbing.NewHash(strings.Repeat("1", 40)), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of a missing repository: error = %v, want ErrNotFound", err)
	}
	if _, err := r.Empty(t.Context()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Empty of a missing repository: error = %v, want ErrNotFound", err)
	}
	// A directory that is no repository: its objects are missing.
	r = open(t, t.TempDir(), nil)
	if err := r.Update(t.Context(), main, plumbing.ZeroHash, plumbing.NewHash(strings.Repeat("1", 40)), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of an empty directory: error = %v, want ErrNotFound", err)
	}
}

func TestBrokenConfig(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, nil)
	c := mustUpdate(t, r, main, plumbing.ZeroHash, map[string]string{"a": "1"})
	if err := os.WriteFile(filepath.Join(bare, "config"), []byte("[core]\n\tsharedRepository = sometimes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next, objs := newCommit(c, map[string]string{"a": "2"}, "next")
	if err := r.Update(t.Context(), main, c, next, objs); err == nil || !strings.Contains(err.Error(), "core.sharedRepository") {
		t.Errorf("Update with a broken config: error = %v, want it named", err)
	}
	if got := revParse(t, bare, "main"); got != c.String() {
		t.Errorf("main = %s, want it kept at %s", got, c)
	}
}

func TestCancelledAndWaiting(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, nil, func(o *Options) { o.Wait = 100 * time.Millisecond })
	c, objs := newCommit(plumbing.ZeroHash, map[string]string{"a": "1"}, "c")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := r.Head(ctx, main); !errors.Is(err, context.Canceled) {
		t.Errorf("Head with a cancelled context: error = %v", err)
	}
	if err := r.Update(ctx, main, plumbing.ZeroHash, c, objs); !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled context: error = %v", err)
	}
	if _, err := r.Empty(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Empty with a cancelled context: error = %v", err)
	}

	// Another ssm writer holds the repository: the update waits for it
	// until its context ends or Options.Wait has passed.
	release := flockDir(t, bare)
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := r.Update(short, main, plumbing.ZeroHash, c, objs); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update while another writer holds the repository, ctx ending first: error = %v, want the deadline", err)
	}
	err := r.Update(t.Context(), main, plumbing.ZeroHash, c, objs)
	if err == nil || !strings.Contains(err.Error(), "wait for another ssm writing "+bare) {
		t.Errorf("Update while another writer holds the repository: error = %v, want the wait named", err)
	}
	done := make(chan error, 1)
	go func() { done <- open(t, bare, nil).Update(t.Context(), main, plumbing.ZeroHash, c, objs) }()
	time.Sleep(50 * time.Millisecond)
	release()
	if err := <-done; err != nil {
		t.Errorf("Update once the other writer is done: %v", err)
	}
	if got := revParse(t, bare, "main"); got != c.String() {
		t.Errorf("main = %q, want %s", got, c)
	}
}

// flockDir takes the flock that ssm's writers take on dir, as another
// process would, and returns its release.
func flockDir(t *testing.T, dir string) func() {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func() { f.Close() }
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  bool
	}{
		{name: "new", want: true},
		{name: "only locks and names git skips", want: true, files: map[string]string{
			"refs/heads/main.lock": "", "refs/heads/.tmp": "", "packed-refs": "# pack-refs with: peeled fully-peeled sorted \n"}},
		{name: "a loose ref", files: map[string]string{"refs/heads/x/y": strings.Repeat("1", 40) + "\n"}},
		{name: "a packed ref", files: map[string]string{"packed-refs": "# pack-refs with: peeled\n" + strings.Repeat("1", 40) + " refs/tags/v1\n"}},
	}
	for _, tt := range tests {
		bare := gittest.NewBare(t)
		gittest.WriteFiles(t, bare, tt.files)
		got, err := open(t, bare, nil).Empty(t.Context())
		if err != nil || got != tt.want {
			t.Errorf("%s: Empty = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// assertNoLeftovers fails if the repository holds a lock file, a temporary
// file or a pack without its index.
func assertNoLeftovers(t *testing.T, repo string) {
	t.Helper()
	if left := leftovers(t, repo); len(left) > 0 {
		t.Errorf("left in %s: %v", repo, left)
	}
}

func TestWritesObjectsOnce(t *testing.T) {
	t.Parallel()
	// An update that lost may be tried again with the same objects; one
	// whose objects another writer made already writes none of them.
	bare := gittest.NewBare(t)
	r := open(t, bare, nil)
	c, objs := newCommit(plumbing.ZeroHash, manyFiles(120, "x"), "c")
	other := plumbing.NewBranchReferenceName("other")
	for _, ref := range []plumbing.ReferenceName{main, other} {
		if err := r.Update(t.Context(), ref, plumbing.ZeroHash, c, objs); err != nil {
			t.Fatal(err)
		}
	}
	small, sobjs := newCommit(plumbing.ZeroHash, map[string]string{"a": "1"}, "s")
	for _, ref := range []plumbing.ReferenceName{"refs/heads/s1", "refs/heads/s2"} {
		if err := r.Update(t.Context(), ref, plumbing.ZeroHash, small, sobjs); err != nil {
			t.Fatal(err)
		}
	}
	if got := gittest.Git(t, bare, "count-objects", "-v"); !strings.Contains(got, "packs: 1\n") || !strings.Contains(got, "count: 3\n") {
		t.Errorf("git count-objects -v:\n%s\nwant one pack and 3 loose objects", got)
	}
	gittest.Fsck(t, bare)
}
