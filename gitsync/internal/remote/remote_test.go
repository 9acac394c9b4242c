package remote

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/internal/gittest"
)

func TestMovedReason(t *testing.T) {
	t.Parallel()
	ref := plumbing.NewBranchReferenceName("main")
	h := plumbing.NewHash("0123456789012345678901234567890123456789")
	if got := movedReason(ref, h); got != "main moved to "+h.String() {
		t.Errorf("movedReason = %q", got)
	}
	if got := movedReason(ref, plumbing.ZeroHash); got != "main was deleted" {
		t.Errorf("movedReason of a deleted branch = %q", got)
	}
}

func TestWritePackIsReadByGit(t *testing.T) {
	t.Parallel()
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
	treeHash := objs.Add(plumbing.TreeObject, tree)
	dir := gittest.NewBare(t)
	var pack bytes.Buffer
	var p packer
	if err := p.write(&pack, objs, nil); err != nil {
		t.Fatal(err)
	}
	gittest.Run(t, "git", dir, &pack, "index-pack", "--stdin", "--strict")
	for h, data := range want {
		if got := string(gittest.Run(t, "git", dir, nil, "cat-file", "blob", h)); got != data {
			t.Errorf("blob %s: %d bytes, want %d", h, len(got), len(data))
		}
	}
	if got := gittest.Git(t, dir, "ls-tree", "--name-only", treeHash.String()); got != "f0\nf1\nf2\nf3\nf4\nf5" {
		t.Errorf("tree %s lists %q", treeHash, got)
	}
}
