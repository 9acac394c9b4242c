package remote

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestAutoPack: past gc.auto loose objects, a push packs them as git gc
// --auto would, and git reads every object from the pack.
func TestAutoPack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", dir, "config", "gc.auto", "256").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	l := &localStore{dir: dir, log: slog.New(slog.DiscardHandler)}
	cfg, err := readRepoConfig(dir)
	if err != nil || cfg.gcAuto != 256 {
		t.Fatalf("gc.auto read as %d, %v", cfg.gcAuto, err)
	}
	var hashes []plumbing.Hash
	for i := 0; ; i++ {
		objs := &Objects{}
		hashes = append(hashes, objs.Add(plumbing.BlobObject, []byte(strings.Repeat("x", i+1))))
		if err := l.writeLoose(cfg, objs); err != nil {
			t.Fatal(err)
		}
		if err := l.autoPack(cfg); err != nil {
			t.Fatal(err)
		}
		packs, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
		if len(packs) > 0 {
			t.Logf("packed after %d loose objects", i+1)
			break
		}
		if i > 4000 {
			t.Fatal("never packed")
		}
	}
	if loose, _ := filepath.Glob(filepath.Join(dir, "objects", "??", "*")); len(loose) != 0 {
		t.Errorf("%d loose objects left after packing", len(loose))
	}
	for _, h := range hashes {
		if out, err := exec.Command("git", "-C", dir, "cat-file", "-e", h.String()).CombinedOutput(); err != nil {
			t.Fatalf("object %s lost: %v %s", h, err, out)
		}
	}
	if out, err := exec.Command("git", "-C", dir, "count-objects", "-v").CombinedOutput(); err != nil || !strings.Contains(string(out), "count: 0") {
		t.Errorf("count-objects: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "objects", "pack")); err != nil || !fi.IsDir() {
		t.Error("no pack folder")
	}
}
