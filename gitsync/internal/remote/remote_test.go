package remote

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
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
