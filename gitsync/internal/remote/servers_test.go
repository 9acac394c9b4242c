package remote

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/ssm-dev/ssm/gitsync/internal/pack"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// wireKinds are the transports that speak git's protocol to a server; each
// test runs against the real git behind gittest's servers.
var wireKinds = []string{"http", "https", "ssh"}

// gitServer is one bare repository served by git over a transport, with
// the options that reach it.
type gitServer struct {
	kind string
	bare string // the repository's directory
	opts Options
	http *gittest.HTTPServer // nil for ssh
	logs *syncBuffer         // what the transport logged
}

// serve makes a bare repository (HEAD main) and serves it over kind:
// "http" or "https" (git http-backend behind basic authentication, the
// password in a file), or "ssh" (git-upload-pack and git-receive-pack for
// one client key, the host key in a known_hosts file).
func serve(t *testing.T, kind string) *gitServer {
	t.Helper()
	root := t.TempDir()
	s := &gitServer{kind: kind, bare: gittest.NewServedBare(t, root, "repo.git"), logs: &syncBuffer{}}
	s.opts = Options{Timeout: time.Minute, Logger: slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), s.logs), &slog.HandlerOptions{Level: slog.LevelDebug}))}
	switch kind {
	case "http", "https":
		pw := filepath.Join(t.TempDir(), "password")
		writeFile(t, pw, "secret-token\n")
		s.opts.Username, s.opts.PasswordPath = "ssm", pw
		if kind == "http" {
			s.http = gittest.StartHTTP(t, root, "ssm", "secret-token")
		} else {
			s.http, s.opts.CAFile = gittest.StartHTTPS(t, root, "ssm", "secret-token")
		}
		s.opts.URL = s.http.URL + "/repo.git"
	case "ssh":
		key, pub := gittest.NewClientKey(t)
		srv := gittest.StartSSH(t, root, pub)
		s.opts.URL = "ssh://git@" + srv.Addr + s.bare
		s.opts.SSHKeyPath, s.opts.KnownHostsPath = key, gittest.KnownHostsFile(t, srv.Addr, srv.HostKey)
	default:
		t.Fatalf("no such transport %q", kind)
	}
	return s
}

// transport returns a Transport on s, with mod applied to its options.
func (s *gitServer) transport(t *testing.T, mod ...func(*Options)) Transport {
	t.Helper()
	opts := s.opts
	for _, m := range mod {
		m(&opts)
	}
	tr, err := New(opts)
	if err != nil {
		t.Fatalf("New(%s): %v", opts.URL, err)
	}
	return tr
}

// head returns what branch points at in the repository, "" if nothing.
func (s *gitServer) head(t *testing.T, branch string) string {
	t.Helper()
	return gittest.Git(t, s.bare, "for-each-ref", "--format=%(objectname)", "refs/heads/"+branch)
}

// hook installs a hook script (shell, after the #! line).
func (s *gitServer) hook(t *testing.T, name, script string) {
	t.Helper()
	p := filepath.Join(s.bare, "hooks", name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log the transport writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

var mainRef = plumbing.NewBranchReferenceName("main")

// commit builds a commit of files (flat: no directories) on parent, as
// gitsync would send it: its blobs, its tree and itself.
func commit(t *testing.T, parent plumbing.Hash, files map[string]string, msg string) (plumbing.Hash, *pack.Objects) {
	t.Helper()
	objs := &pack.Objects{}
	tree := &object.Tree{}
	for name, data := range files {
		tree.Entries = append(tree.Entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: objs.Add(plumbing.BlobObject, []byte(data))})
	}
	sort.Slice(tree.Entries, func(i, j int) bool { return tree.Entries[i].Name < tree.Entries[j].Name })
	treeHash := objs.Add(plumbing.TreeObject, encode(t, tree))
	sig := object.Signature{Name: "ssm", Email: "ssm@example.com", When: time.Unix(1700000000, 0).UTC()}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: treeHash}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	return objs.Add(plumbing.CommitObject, encode(t, c)), objs
}

func encode(t *testing.T, o interface {
	Encode(plumbing.EncodedObject) error
}) []byte {
	t.Helper()
	mo := &plumbing.MemoryObject{}
	if err := o.Encode(mo); err != nil {
		t.Fatal(err)
	}
	r, err := mo.Reader()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// treeFiles reads the files of commit h from sto, the objects a fetch
// returned.
func treeFiles(t *testing.T, sto storer.EncodedObjectStorer, h plumbing.Hash) map[string]string {
	t.Helper()
	c, err := object.GetCommit(sto, h)
	if err != nil {
		t.Fatalf("commit %s: %v", h, err)
	}
	tree, err := object.GetTree(sto, c.TreeHash)
	if err != nil {
		t.Fatalf("tree of %s: %v", h, err)
	}
	files := map[string]string{}
	err = tree.Files().ForEach(func(f *object.File) error {
		s, err := f.Contents()
		files[f.Name] = s
		return err
	})
	if err != nil {
		t.Fatalf("files of %s: %v", h, err)
	}
	return files
}

// has reports whether sto holds the object h.
func has(sto storer.EncodedObjectStorer, h plumbing.Hash) bool {
	return sto.HasEncodedObject(h) == nil
}

// blobHash is the hash git gives a file of contents s.
func blobHash(s string) plumbing.Hash { return plumbing.ComputeHash(plumbing.BlobObject, []byte(s)) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
