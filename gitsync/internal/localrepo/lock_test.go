package localrepo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// age sets the modification time of p to age ago.
func age(t *testing.T, p string, age time.Duration) {
	t.Helper()
	old := time.Now().Add(-age)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestRefLocks(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	head := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"README": "r\n"}) }, "seed")
	// git creates a lock file empty, then writes it; a broken ref elsewhere
	// is none of this branch's business.
	lock := filepath.Join(bare, "refs", "heads", "main.lock")
	gittest.WriteFiles(t, bare, map[string]string{"refs/heads/main.lock": "", "refs/heads/broken": ""})
	var logs bytes.Buffer
	r := open(t, bare, &logs, func(o *Options) { o.StaleLockAfter = time.Hour })
	if h, _, err := r.Head(t.Context(), main); err != nil || h.String() != head {
		t.Fatalf("Head while main is locked = %s, %v; want %s", h, err, head)
	}
	// A lock younger than the threshold may be a live git's: it is waited
	// for, then reported, and never removed.
	c, objs := newCommit(plumbing.NewHash(head), map[string]string{"a": "1"}, "c")
	start := time.Now()
	err := r.Update(t.Context(), main, plumbing.NewHash(head), c, objs)
	locked, ok := errors.AsType[*LockedError](err)
	if !ok || locked.Lock != "refs/heads/main.lock" || err.Error() != "refs/heads/main.lock is held by another update (younger than 1h0m0s)" {
		t.Errorf("Update while main is locked: error = %v, want a LockedError naming the lock", err)
	}
	if waited := time.Since(start); waited < lockTimeout {
		t.Errorf("gave up after %s, want a wait of %s for the lock to go", waited, lockTimeout)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("the young lock is gone: %v", err)
	}
	if got := revParse(t, bare, "main"); got != head {
		t.Errorf("main moved to %s while locked", got)
	}

	// An old one can only be left by a writer that died: it is removed,
	// with a warning, and the update goes through.
	age(t, lock, time.Hour)
	logs.Reset()
	r = open(t, bare, &logs)
	if err := r.Update(t.Context(), main, plumbing.NewHash(head), c, objs); err != nil {
		t.Fatalf("Update once the lock is stale: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"removed a stale ref lock left by a writer that died\"") || !strings.Contains(logs.String(), "age=1h0m0") {
		t.Errorf("logs lack a warning with the lock's age:\n%s", logs.String())
	}
	if got := revParse(t, bare, "main"); got != c.String() {
		t.Errorf("main = %s, want %s", got, c)
	}
	// A lock that goes while the update waits, as git's does, is taken.
	gittest.WriteFiles(t, bare, map[string]string{"refs/heads/main.lock": ""})
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.Remove(lock)
	}()
	mustUpdate(t, r, main, c, map[string]string{"a": "2"})
	assertNoLeftovers(t, bare)
}

func TestRemoveStaleLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := open(t, dir, nil, func(o *Options) { o.StaleLockAfter = time.Minute })
	lock := filepath.Join(dir, "x.lock")
	if gone, err := r.removeStaleLock(lock); !gone || err != nil {
		t.Errorf("a missing lock: gone %v, %v; want gone", gone, err)
	}
	gittest.WriteFiles(t, dir, map[string]string{"x.lock": ""})
	if gone, err := r.removeStaleLock(lock); gone || err != nil {
		t.Errorf("a young lock: gone %v, %v; want it kept", gone, err)
	}
	age(t, lock, time.Hour)
	if gone, err := r.removeStaleLock(lock); !gone || err != nil {
		t.Errorf("a stale lock: gone %v, %v; want it removed", gone, err)
	}
	if _, err := os.Lstat(staleAside(lock)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale lock moved aside is still there: %v", err)
	}
	// A stale lock in a directory the store may not write: reported.
	if os.Geteuid() != 0 {
		gittest.WriteFiles(t, dir, map[string]string{"ro/x.lock": ""})
		ro := filepath.Join(dir, "ro")
		age(t, filepath.Join(ro, "x.lock"), time.Hour)
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(ro, 0o755) })
		if gone, err := r.removeStaleLock(filepath.Join(ro, "x.lock")); gone || err == nil {
			t.Errorf("a stale lock that cannot be moved: gone %v, %v; want an error", gone, err)
		}
	}
}

func TestDeletedRefLock(t *testing.T) {
	t.Parallel()
	// A writer died after deleting a push branch, leaving its lock: no
	// later write of the branch comes to meet it, so a read removes it once
	// it is stale, and waits for it (then leaves it) while it is young.
	bare := gittest.NewBare(t)
	review := plumbing.NewBranchReferenceName("ssm/review")
	lock := filepath.Join(bare, "refs", "heads", "ssm", "review.lock")
	gittest.WriteFiles(t, bare, map[string]string{"refs/heads/ssm/review.lock": ""})
	r := open(t, bare, nil, func(o *Options) { o.StaleLockAfter = time.Hour })
	if h, _, err := r.Head(t.Context(), review); err != nil || !h.IsZero() {
		t.Fatalf("Head = %s, %v", h, err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("a young lock was removed: %v", err)
	}
	// Judged again at the next read, once stale.
	age(t, lock, 2*time.Hour)
	if _, _, err := r.Head(t.Context(), review); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale lock of a deleted branch is left: %v", err)
	}
	// The lock of a branch that exists is left to the branch's next write.
	c := mustUpdate(t, open(t, bare, nil), review, plumbing.ZeroHash, map[string]string{"a": "1"})
	gittest.WriteFiles(t, bare, map[string]string{"refs/heads/ssm/review.lock": ""})
	age(t, lock, 2*time.Hour)
	if h, _, err := open(t, bare, nil).Head(t.Context(), review); err != nil || h != c {
		t.Fatalf("Head = %s, %v; want %s", h, err, c)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("the lock of an existing branch was removed at a read: %v", err)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	bare := newBare(t, nil, "core.logAllRefUpdates", "always")
	r := open(t, bare, nil)
	base := mustUpdate(t, r, main, plumbing.ZeroHash, map[string]string{"a": "1"})
	review := plumbing.NewBranchReferenceName("ssm/review")
	c := mustCommit(t, r, review, plumbing.ZeroHash, base, map[string]string{"a": "2"})
	gittest.Git(t, bare, "tag", "-a", "-m", "t", "t1", base.String())
	gittest.Git(t, bare, "pack-refs", "--all")
	// A loose copy too, newer than the packed one, as after a later write.
	c2 := mustUpdate(t, r, review, c, map[string]string{"a": "3"})
	if err := r.Update(t.Context(), review, c2, plumbing.ZeroHash, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := gittest.Git(t, bare, "for-each-ref", "--format=%(refname)"); got != "refs/heads/main\nrefs/tags/t1" {
		t.Errorf("git for-each-ref after the delete:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(bare, "logs", "refs", "heads", "ssm", "review")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the reflog of the deleted branch is left: %v", err)
	}
	packed, _ := os.ReadFile(filepath.Join(bare, "packed-refs"))
	if !strings.Contains(string(packed), "\n^"+base.String()+"\n") || strings.Contains(string(packed), review.String()) {
		t.Errorf("packed-refs after the delete:\n%s\nwant the tag with its peeled line, not the branch", packed)
	}
	// Deleting what is not there, from nothing, is done already.
	if err := r.Update(t.Context(), review, plumbing.ZeroHash, plumbing.ZeroHash, nil); err != nil {
		t.Errorf("delete of a missing branch from nothing: %v", err)
	}
	assertNoLeftovers(t, bare)
	gittest.Fsck(t, bare)
}

func TestDeleteWaitsForGitsPackedRefsLock(t *testing.T) {
	t.Parallel()
	// git pack-refs writes the new packed-refs into packed-refs.lock and
	// renames it into place: a delete that rewrote packed-refs meanwhile
	// would see its branch come back. It waits for git's lock, and gives up
	// on a young one without touching anything.
	bare := gittest.NewBare(t)
	r := open(t, bare, nil, func(o *Options) { o.StaleLockAfter = time.Hour })
	base := mustUpdate(t, r, main, plumbing.ZeroHash, map[string]string{"a": "1"})
	review := plumbing.NewBranchReferenceName("review")
	c := mustCommit(t, r, review, plumbing.ZeroHash, base, map[string]string{"a": "2"})
	gittest.Git(t, bare, "pack-refs", "--all")
	packed, err := os.ReadFile(filepath.Join(bare, "packed-refs"))
	if err != nil {
		t.Fatal(err)
	}
	gittest.WriteFiles(t, bare, map[string]string{"packed-refs.lock": string(packed)})
	err = r.Update(t.Context(), review, c, plumbing.ZeroHash, nil)
	if locked, ok := errors.AsType[*LockedError](err); !ok || locked.Lock != "packed-refs.lock" {
		t.Errorf("delete while git holds packed-refs.lock: error = %v, want a LockedError on it", err)
	}
	if err := os.Rename(filepath.Join(bare, "packed-refs.lock"), filepath.Join(bare, "packed-refs")); err != nil { // git's pack-refs ends
		t.Fatal(err)
	}
	if got := revParse(t, bare, "review"); got != c.String() {
		t.Errorf("review = %q after the refused delete, want %s", got, c)
	}
	// Once git is done, the delete goes through.
	if err := r.Update(t.Context(), review, c, plumbing.ZeroHash, nil); err != nil {
		t.Fatal(err)
	}
	if got := revParse(t, bare, "review"); got != "" {
		t.Errorf("review = %s after the delete", got)
	}
	assertNoLeftovers(t, bare)
}

func TestWithoutPacked(t *testing.T) {
	t.Parallel()
	const h1, h2, h3 = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222", "3333333333333333333333333333333333333333"
	in := "# pack-refs with: peeled fully-peeled sorted \n" +
		h1 + " refs/heads/a\n" +
		h2 + " refs/tags/t\n^" + h3 + "\n" +
		h1 + " refs/heads/z\n"
	tests := []struct {
		ref   plumbing.ReferenceName
		want  string
		found bool
	}{
		{ref: "refs/heads/a", want: strings.Replace(in, h1+" refs/heads/a\n", "", 1), found: true},
		{ref: "refs/tags/t", want: strings.Replace(in, h2+" refs/tags/t\n^"+h3+"\n", "", 1), found: true},
		{ref: "refs/heads/z", want: strings.TrimSuffix(in, h1+" refs/heads/z\n"), found: true},
		{ref: "refs/heads/missing", want: in},
		{ref: "pack-refs", want: in}, // the header is no ref
	}
	for _, tt := range tests {
		got, found := withoutPacked([]byte(in), tt.ref)
		if string(got) != tt.want || found != tt.found {
			t.Errorf("withoutPacked(%s) = %v\n%s\nwant %v\n%s", tt.ref, found, got, tt.found, tt.want)
		}
	}
}

func TestStalePackedRefsLock(t *testing.T) {
	t.Parallel()
	// A writer killed while deleting a packed ref leaves packed-refs.lock,
	// and the ref: the next write may update the ref instead of deleting it,
	// and never meet the lock, which stops git's pack-refs. A read removes
	// it once stale, and leaves a young one, maybe git's, to the next read.
	bare := gittest.NewBare(t)
	c := mustUpdate(t, open(t, bare, nil), main, plumbing.ZeroHash, map[string]string{"a": "1"})
	gittest.Git(t, bare, "pack-refs", "--all")
	lock := filepath.Join(bare, "packed-refs.lock")
	gittest.WriteFiles(t, bare, map[string]string{"packed-refs.lock": ""})
	var logs bytes.Buffer
	r := open(t, bare, &logs, func(o *Options) { o.StaleLockAfter = time.Hour })
	if h, _, err := r.Head(t.Context(), main); err != nil || h != c {
		t.Fatalf("Head = %s, %v; want %s", h, err, c)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("a young packed-refs.lock was removed: %v", err)
	}
	age(t, lock, 2*time.Hour)
	mustUpdate(t, r, main, c, map[string]string{"a": "2"})
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale packed-refs.lock is left after an update: %v", err)
	}
	if !strings.Contains(logs.String(), "removed a stale ref lock left by a writer that died") || !strings.Contains(logs.String(), "packed-refs.lock") {
		t.Errorf("logs lack the removal:\n%s", logs.String())
	}
	gittest.Git(t, bare, "pack-refs", "--all")
	assertNoLeftovers(t, bare)
}
