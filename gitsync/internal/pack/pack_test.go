package pack

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// testObjects returns blobs of sizes around the pack header's size steps
// and a tree listing them, with what each blob holds by hash.
func testObjects() (*Objects, map[string]string, plumbing.Hash) {
	objs := &Objects{}
	want := map[string]string{}
	var tree []byte
	for i, size := range []int{0, 15, 16, 2047, 2048, 300000} {
		data := bytes.Repeat([]byte{byte('a' + size%26)}, size)
		h := objs.Add(plumbing.BlobObject, data)
		want[h.String()] = string(data)
		tree = append(fmt.Appendf(tree, "100644 f%d\x00", i), h[:]...)
	}
	// Trees are written uncompressed.
	return objs, want, objs.Add(plumbing.TreeObject, tree)
}

func TestWritePackIsReadByGit(t *testing.T) {
	t.Parallel()
	objs, want, treeHash := testObjects()
	dir := gittest.NewBare(t)
	var pack bytes.Buffer
	var iw idxfile.Writer
	var e Encoder
	if err := e.WritePack(&pack, objs, &iw); err != nil {
		t.Fatal(err)
	}
	gittest.Run(t, "git", dir, bytes.NewReader(pack.Bytes()), "index-pack", "--stdin", "--strict")
	for h, data := range want {
		if got := string(gittest.Run(t, "git", dir, nil, "cat-file", "blob", h)); got != data {
			t.Errorf("blob %s: %d bytes, want %d", h, len(got), len(data))
		}
	}
	if got := gittest.Git(t, dir, "ls-tree", "--name-only", treeHash.String()); got != "f0\nf1\nf2\nf3\nf4\nf5" {
		t.Errorf("tree %s lists %q", treeHash, got)
	}
	// The index the encoder was told about is the one git makes.
	idx, err := iw.Index()
	if err != nil {
		t.Fatal(err)
	}
	var ours bytes.Buffer
	if _, err := idxfile.NewEncoder(&ours).Encode(idx); err != nil {
		t.Fatal(err)
	}
	name := "pack-" + plumbing.Hash(idx.PackfileChecksum).String() + ".idx"
	gits, err := os.ReadFile(filepath.Join(dir, "objects", "pack", name))
	if err != nil {
		t.Fatalf("git made no %s: %v", name, err)
	}
	if !bytes.Equal(ours.Bytes(), gits) {
		t.Errorf("the index differs from git's index-pack's (%d bytes, git's %d)", ours.Len(), len(gits))
	}
}

func TestWriteLooseIsReadByGit(t *testing.T) {
	t.Parallel()
	objs, want, treeHash := testObjects()
	dir := gittest.NewBare(t)
	var e Encoder
	for h, o := range objs.All() {
		hex := h.String()
		p := filepath.Join(dir, "objects", hex[:2], hex[2:])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		bw := e.Buffer(&b)
		if err := e.WriteLoose(bw, o); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	for h, data := range want {
		if got := string(gittest.Run(t, "git", dir, nil, "cat-file", "blob", h)); got != data {
			t.Errorf("blob %s: %d bytes, want %d", h, len(got), len(data))
		}
	}
	if got := gittest.Git(t, dir, "cat-file", "-t", treeHash.String()); got != "tree" {
		t.Errorf("git cat-file -t %s = %q", treeHash, got)
	}
	gittest.Fsck(t, dir)
}

func TestObjectsKeepsOrderOnce(t *testing.T) {
	t.Parallel()
	var objs Objects
	a := objs.Add(plumbing.BlobObject, []byte("a"))
	b := objs.Add(plumbing.BlobObject, []byte("b"))
	if again := objs.Add(plumbing.BlobObject, []byte("a")); again != a || objs.Len() != 2 {
		t.Fatalf("adding a again: %s, %d objects; want %s, 2", again, objs.Len(), a)
	}
	var got []plumbing.Hash
	for h := range objs.All() {
		got = append(got, h)
		break // the iteration stops when told
	}
	if len(got) != 1 || got[0] != a {
		t.Errorf("first of All = %v, want [%s] (then %s)", got, a, b)
	}
}
