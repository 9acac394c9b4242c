package remote

import (
	"errors"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/gitsync/internal/pack"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestWireFetchHead: a fetch returns what git pushed, the commit and its
// tree at depth one, and after that only what changed since the commit
// the caller has.
func TestWireFetchHead(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			tr := s.transport(t)
			if empty, err := tr.Empty(t.Context()); err != nil || !empty {
				t.Fatalf("Empty of a new repository = %v, %v; want true", empty, err)
			}
			if h, sto, err := tr.FetchHead(t.Context(), mainRef, plumbing.ZeroHash); err != nil || !h.IsZero() || sto != nil {
				t.Fatalf("FetchHead of an empty repository = %s, %v, %v; want nothing", h, sto, err)
			}

			first := map[string]string{"a.yaml": "a1\n", "b.yaml": "b\n"}
			gittest.HumanPush(t, s.bare, func(w string) { gittest.WriteFiles(t, w, first) }, "first")
			second := map[string]string{"a.yaml": "a2\n", "b.yaml": "b\n"}
			head := gittest.HumanPush(t, s.bare, func(w string) { gittest.WriteFiles(t, w, second) }, "second")
			if empty, err := tr.Empty(t.Context()); err != nil || empty {
				t.Errorf("Empty after a push = %v, %v; want false", empty, err)
			}
			got, sto, err := tr.FetchHead(t.Context(), mainRef, plumbing.ZeroHash)
			if err != nil || got.String() != head || sto == nil {
				t.Fatalf("FetchHead = %s, %v, %v; want %s with its objects", got, sto, err, head)
			}
			if diff := cmp.Diff(second, treeFiles(t, sto, got)); diff != "" {
				t.Errorf("files of the fetched head (-want +got):\n%s", diff)
			}
			parent := plumbing.NewHash(gittest.Git(t, s.bare, "rev-parse", "main^"))
			if has(sto, parent) {
				t.Errorf("the fetch holds the parent %s: it was not shallow", parent)
			}

			// The caller has the head: nothing to fetch.
			if h, sto, err := tr.FetchHead(t.Context(), mainRef, got); err != nil || h != got || sto != nil {
				t.Errorf("FetchHead of the head the caller has = %s, %v, %v; want %s and no objects", h, sto, err, got)
			}
			// The caller has the parent. git sends the new commit with its
			// tree and changed file; it sends the unchanged ones too (a
			// shallow fetch leaves out what the caller has only with
			// thin-pack, which a fetch into a store of its own cannot take).
			third := map[string]string{"a.yaml": "a3\n", "b.yaml": "b\n"}
			next := gittest.HumanPush(t, s.bare, func(w string) { gittest.WriteFiles(t, w, third) }, "third")
			h, sto, err := tr.FetchHead(t.Context(), mainRef, got)
			if err != nil || h.String() != next {
				t.Fatalf("FetchHead after a third push = %s, %v; want %s", h, err, next)
			}
			if !has(sto, h) || !has(sto, blobHash("a3\n")) || has(sto, got) {
				t.Errorf("the fetch on the caller's commit holds %v of the new commit, %v of its changed file, %v of the caller's commit; want true, true, false",
					has(sto, h), has(sto, blobHash("a3\n")), has(sto, got))
			}

			// A branch that does not exist, in a repository that has one.
			if h, sto, err := tr.FetchHead(t.Context(), plumbing.NewBranchReferenceName("none"), plumbing.ZeroHash); err != nil || !h.IsZero() || sto != nil {
				t.Errorf("FetchHead of a missing branch = %s, %v, %v; want nothing", h, sto, err)
			}
		})
	}
}

// TestWirePush: a push creates, moves and deletes a branch with a lease,
// and git reads what it sent.
func TestWirePush(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			tr := s.transport(t)
			first := map[string]string{"a.yaml": "a\n", "b.yaml": "b\n"}
			c1, objs := commit(t, plumbing.ZeroHash, first, "first")
			if err := tr.Push(t.Context(), mainRef, plumbing.ZeroHash, c1, objs); err != nil {
				t.Fatalf("Push into an empty repository: %v", err)
			}
			if got := s.head(t, "main"); got != c1.String() {
				t.Fatalf("main = %q, want the pushed %s", got, c1)
			}
			if diff := cmp.Diff(first, gittest.BranchFiles(t, s.bare, "main")); diff != "" {
				t.Errorf("files git reads (-want +got):\n%s", diff)
			}

			// A lease on a branch that is no longer where the push thinks.
			c2, objs2 := commit(t, c1, map[string]string{"a.yaml": "a2\n", "b.yaml": "b\n"}, "second")
			err := tr.Push(t.Context(), mainRef, plumbing.ZeroHash, c2, objs2)
			if rejected, ok := errors.AsType[*RejectedError](err); !ok || rejected.Reason != "main moved to "+c1.String() {
				t.Errorf("Push creating main that exists: error = %v, want it rejected as moved to %s", err, c1)
			}
			if err := tr.Push(t.Context(), mainRef, c1, c2, objs2); err != nil {
				t.Fatalf("Push on the head: %v", err)
			}
			if got := s.head(t, "main"); got != c2.String() {
				t.Errorf("main = %s, want %s", got, c2)
			}
			if got := gittest.Git(t, s.bare, "show", "main:a.yaml"); got != "a2" {
				t.Errorf("a.yaml = %q, want a2", got)
			}
			if n := gittest.CommitCount(t, s.bare, "main"); n != 2 {
				t.Errorf("commits = %d, want 2", n)
			}
			gittest.Fsck(t, s.bare)

			// A second branch, then the deletion of main with a stale lease
			// and with the right one.
			review := plumbing.NewBranchReferenceName("review")
			if err := tr.Push(t.Context(), review, plumbing.ZeroHash, c1, &pack.Objects{}); err != nil {
				t.Fatalf("Push of a branch whose commit the server has: %v", err)
			}
			err = tr.Push(t.Context(), mainRef, c1, plumbing.ZeroHash, &pack.Objects{})
			if _, ok := errors.AsType[*RejectedError](err); !ok || s.head(t, "main") != c2.String() {
				t.Errorf("Push deleting main on a stale lease: error = %v, main = %s; want a rejection and main kept", err, s.head(t, "main"))
			}
			// git protects the branch HEAD names: a refusal, not a lost race.
			err = tr.Push(t.Context(), mainRef, c2, plumbing.ZeroHash, &pack.Objects{})
			if refused, ok := errors.AsType[*RefusedError](err); !ok || refused.Status != "deletion of the current branch prohibited" || s.head(t, "main") != c2.String() {
				t.Errorf("Push deleting the current branch: error = %v, main = %s; want it refused and main kept", err, s.head(t, "main"))
			}
			gittest.Git(t, s.bare, "config", "receive.denyDeleteCurrent", "ignore")
			if err := tr.Push(t.Context(), mainRef, c2, plumbing.ZeroHash, &pack.Objects{}); err != nil {
				t.Fatalf("Push deleting main: %v", err)
			}
			if got := s.head(t, "main"); got != "" {
				t.Errorf("main = %s after its deletion", got)
			}
			if empty, err := tr.Empty(t.Context()); err != nil || empty {
				t.Errorf("Empty with review left = %v, %v; want false", empty, err)
			}
			if err := tr.Push(t.Context(), review, c1, plumbing.ZeroHash, &pack.Objects{}); err != nil {
				t.Fatalf("Push deleting review: %v", err)
			}
			if empty, err := tr.Empty(t.Context()); err != nil || !empty {
				t.Errorf("Empty after every branch was deleted = %v, %v; want true", empty, err)
			}
			err = tr.Push(t.Context(), review, c1, plumbing.ZeroHash, &pack.Objects{})
			if rejected, ok := errors.AsType[*RejectedError](err); !ok || rejected.Reason != "review was deleted" {
				t.Errorf("Push deleting a deleted branch: error = %v, want it rejected as deleted", err)
			}
		})
	}
}
