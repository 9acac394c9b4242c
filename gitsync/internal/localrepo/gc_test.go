package localrepo

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestAutoPack: past gc.auto loose objects, an update packs them as git gc
// --auto would after a push, and git reads every object from the pack.
func TestAutoPack(t *testing.T) {
	t.Parallel()
	bare := newBare(t, nil, "gc.auto", "256")
	var logs bytes.Buffer
	r := open(t, bare, &logs)
	var commits []plumbing.Hash
	head := plumbing.ZeroHash
	for i := 0; ; i++ {
		head = mustUpdate(t, r, main, head, map[string]string{"f": fmt.Sprint(i)})
		commits = append(commits, head)
		if packs, _ := filepath.Glob(filepath.Join(bare, "objects", "pack", "*.pack")); len(packs) > 0 {
			t.Logf("packed after %d commits", i+1)
			break
		}
		if i > 1500 {
			t.Fatal("never packed")
		}
	}
	if loose, _ := filepath.Glob(filepath.Join(bare, "objects", "??", "*")); len(loose) != 0 {
		t.Errorf("%d loose objects left after packing", len(loose))
	}
	if !strings.Contains(logs.String(), "packed the loose objects of the local repository") {
		t.Errorf("the packing was not logged:\n%s", logs.String())
	}
	if got := gittest.Git(t, bare, "count-objects", "-v"); !strings.Contains(got, "count: 0\n") || !strings.Contains(got, "packs: 1\n") {
		t.Errorf("git count-objects -v:\n%s", got)
	}
	if got := gittest.Git(t, bare, "rev-list", "--count", "main"); got != fmt.Sprint(len(commits)) {
		t.Errorf("git rev-list --count main = %s, want %d", got, len(commits))
	}
	gittest.Git(t, bare, "fsck", "--full", "--strict", "--no-dangling", "--no-progress")
	// The store reads its own pack.
	if h, files := headFiles(t, r, main); h != head || files["f"] != fmt.Sprint(len(commits)-1) {
		t.Errorf("Head after packing = %s %v, want %s", h, files, head)
	}
}

func TestAutoPackSettings(t *testing.T) {
	t.Parallel()
	// A file in objects/17 named like an object counts towards gc.auto
	// (git estimates from that folder alone); this one is no object.
	plant := func(t *testing.T, bare string) {
		gittest.WriteFiles(t, bare, map[string]string{
			"objects/17/" + strings.Repeat("a", 38): "not zlib",
			"objects/17/" + strings.Repeat("b", 38): "not zlib",
		})
	}
	t.Run("gc.auto=0 never packs", func(t *testing.T) {
		t.Parallel()
		bare := newBare(t, nil, "gc.auto", "0")
		plant(t, bare)
		mustUpdate(t, open(t, bare, nil), main, plumbing.ZeroHash, map[string]string{"a": "1"})
		if packs, _ := filepath.Glob(filepath.Join(bare, "objects", "pack", "*")); len(packs) != 0 {
			t.Errorf("packed with gc.auto=0: %v", packs)
		}
	})
	t.Run("a packing that fails leaves the update made", func(t *testing.T) {
		t.Parallel()
		bare := newBare(t, nil, "gc.auto", "1")
		plant(t, bare)
		var logs bytes.Buffer
		c := mustUpdate(t, open(t, bare, &logs), main, plumbing.ZeroHash, map[string]string{"a": "1"})
		if got := revParse(t, bare, "main"); got != c.String() {
			t.Errorf("main = %q, want %s", got, c)
		}
		if !strings.Contains(logs.String(), "level=WARN msg=\"could not pack the loose objects") || !strings.Contains(logs.String(), "objects/17/"+strings.Repeat("a", 38)) {
			t.Errorf("logs lack the failed packing and the file it failed on:\n%s", logs.String())
		}
	})
}

func TestReadLoose(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	h := gittest.Git(t, bare, "hash-object", "-w", "--stdin", "-t", "blob")
	p := filepath.Join(bare, "objects", h[:2], h[2:])
	typ, data, err := readLoose(p)
	if err != nil || typ != plumbing.BlobObject || len(data) != 0 {
		t.Errorf("readLoose of git's empty blob = %v %q %v", typ, data, err)
	}
	for name, contents := range map[string][]byte{
		"not zlib":        []byte("x"),
		"no header end":   zlibOf(t, "blob 3"),
		"wrong size":      zlibOf(t, "blob 3\x00ab"),
		"unknown type":    zlibOf(t, "blub 2\x00ab"),
		"truncated zlib":  zlibOf(t, "blob 2\x00ab")[:6],
		"size not number": zlibOf(t, "blob x\x00ab"),
	} {
		p := filepath.Join(t.TempDir(), "obj")
		if err := os.WriteFile(p, contents, 0o444); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readLoose(p); err == nil {
			t.Errorf("%s: readLoose took it", name)
		}
	}
	if _, _, err := readLoose(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("readLoose of a missing file: no error")
	}
	// A loose object whose name is not its hash is refused.
	dir := filepath.Join(t.TempDir(), "objects")
	wrong := filepath.Join(dir, "17", strings.Repeat("c", 38))
	if err := os.MkdirAll(filepath.Dir(wrong), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrong, zlibOf(t, "blob 1\x00x"), 0o444); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readLooseObjects(dir); err == nil || !strings.Contains(err.Error(), "it holds object") {
		t.Errorf("readLooseObjects of a misnamed object: error = %v", err)
	}
}
