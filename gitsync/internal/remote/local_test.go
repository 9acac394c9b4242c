package remote

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/ssm-dev/ssm/gitsync/internal/pack"
	"github.com/ssm-dev/ssm/internal/gittest"
)

func newLocalTransport(t *testing.T, url string) Transport {
	t.Helper()
	tr, err := New(Options{URL: url, Logger: slog.New(slog.DiscardHandler), StaleLockAfter: time.Hour})
	if err != nil {
		t.Fatalf("New(%s): %v", url, err)
	}
	return tr
}

func TestLocalTransport(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	tr := newLocalTransport(t, "file://"+bare)
	main := plumbing.NewBranchReferenceName("main")
	if empty, err := tr.Empty(t.Context()); err != nil || !empty {
		t.Fatalf("Empty of a new repository = %v, %v", empty, err)
	}
	head := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"a": "1"}) }, "seed")
	got, sto, err := tr.FetchHead(t.Context(), main, plumbing.ZeroHash)
	if err != nil || got.String() != head || sto == nil {
		t.Fatalf("FetchHead = %s, %v, %v; want %s with a store", got, sto, err, head)
	}
	if _, err := sto.EncodedObject(plumbing.CommitObject, got); err != nil {
		t.Errorf("the store lacks the head commit: %v", err)
	}
	if got, sto, err := tr.FetchHead(t.Context(), main, got); err != nil || sto != nil {
		t.Errorf("FetchHead of what the caller has = %s, %v, %v; want no store", got, sto, err)
	}

	// A push on a head that moved is a rejection saying where it went.
	objs := &pack.Objects{}
	blob := objs.Add(plumbing.BlobObject, []byte("x"))
	err = tr.Push(t.Context(), main, plumbing.ZeroHash, blob, objs)
	if rejected, ok := errors.AsType[*RejectedError](err); !ok || rejected.Reason != "main moved to "+head {
		t.Errorf("push on a stale head: error = %v, want a rejection", err)
	}
	// A ref lock held by another writer is one too.
	gittest.WriteFiles(t, bare, map[string]string{"refs/heads/main.lock": ""})
	err = tr.Push(t.Context(), main, plumbing.NewHash(head), plumbing.ZeroHash, &pack.Objects{})
	if rejected, ok := errors.AsType[*RejectedError](err); !ok || !strings.Contains(rejected.Reason, "refs/heads/main.lock is held by another update") {
		t.Errorf("push while main is locked: error = %v, want a rejection", err)
	}
	if err := os.Remove(filepath.Join(bare, "refs", "heads", "main.lock")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Push(t.Context(), main, plumbing.NewHash(head), plumbing.ZeroHash, &pack.Objects{}); err != nil {
		t.Errorf("delete: %v", err)
	}
	if empty, err := tr.Empty(t.Context()); err != nil || !empty {
		t.Errorf("Empty after the delete = %v, %v", empty, err)
	}

	missing := newLocalTransport(t, filepath.Join(t.TempDir(), "missing.git"))
	if _, _, err := missing.FetchHead(t.Context(), main, plumbing.ZeroHash); !errors.Is(err, transport.ErrRepositoryNotFound) {
		t.Errorf("FetchHead of a missing repository: error = %v", err)
	}
	if _, err := missing.Empty(t.Context()); !errors.Is(err, transport.ErrRepositoryNotFound) {
		t.Errorf("Empty of a missing repository: error = %v", err)
	}
}

func TestLocalTransportOptions(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	work := t.TempDir()
	gittest.Git(t, work, "init", "-q")
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{opts: Options{URL: bare, Username: "u"}, want: "takes no ssh key, known_hosts, username or password"},
		{opts: Options{URL: bare, SSHKeyPath: "k"}, want: "takes no ssh key"},
		{opts: Options{URL: bare, PushOptions: []string{"a=b"}}, want: "takes no push options"},
		{opts: Options{URL: work}, want: "must be bare"},
	} {
		tt.opts.Logger = slog.New(slog.DiscardHandler)
		if _, err := New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v): error = %v, want %q", tt.opts, err, tt.want)
		}
	}
}
