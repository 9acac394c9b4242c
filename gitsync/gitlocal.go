package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// localTransport serves local paths and file:// URLs in-process with
// go-git's protocol server. go-git's own file transport execs
// git-upload-pack and git-receive-pack, which a minimal container image
// lacks. Each Repo picks it for itself instead of installing it in go-git's
// process-wide protocol table (client.InstallProtocol), which would change
// the file transport of every other go-git user in the process.
//
// go-git's server updates a reference without checking that it still holds
// the old value the client sent, and rewrites the reference file in place,
// so that a concurrent reader can find it empty. This transport updates
// references as git's own receive-pack does: a compare-and-swap under the
// lock file git uses, then an atomic rename. Two concurrent pushes, from
// this process, another one or the git CLI, cannot overwrite each other.
type localTransport struct {
	loader server.Loader
}

func newLocalTransport() localTransport {
	return localTransport{loader: server.NewFilesystemLoader(osfs.New(""))}
}

func (t localTransport) NewUploadPackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.UploadPackSession, error) {
	return server.NewClient(t.loader).NewUploadPackSession(ep, auth)
}

func (t localTransport) NewReceivePackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.ReceivePackSession, error) {
	sto, err := t.loader.Load(ep)
	if err != nil {
		return nil, err
	}
	fsto, ok := sto.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("storage of %s is not a file system", ep.Path)
	}
	cas := &casStorer{Storer: sto, packs: dotgit.New(fsto.Filesystem()), dir: ep.Path}
	sess, err := server.NewClient(server.MapLoader{ep.String(): cas}).NewReceivePackSession(ep, auth)
	if err != nil {
		return nil, err
	}
	return &casSession{ReceivePackSession: sess, sto: cas}, nil
}

// casSession tells its storer which old value each command expects.
type casSession struct {
	transport.ReceivePackSession
	sto *casStorer
}

func (s *casSession) ReceivePack(ctx context.Context, req *packp.ReferenceUpdateRequest) (*packp.ReportStatus, error) {
	s.sto.old = make(map[plumbing.ReferenceName]plumbing.Hash, len(req.Commands))
	for _, c := range req.Commands {
		s.sto.old[c.Name] = c.Old
	}
	return s.ReceivePackSession.ReceivePack(ctx, req)
}

// casStorer turns the server's reference updates into compare-and-swaps.
type casStorer struct {
	storer.Storer
	packs *dotgit.DotGit
	dir   string // the repository's directory
	old   map[plumbing.ReferenceName]plumbing.Hash
}

// PackfileWriter stores a pushed pack as it came, with its index. The
// storage's own writer would first read the index of every pack in the
// repository, one more per push, only to update its in-memory copy, which
// the session does not use.
func (s *casStorer) PackfileWriter() (io.WriteCloser, error) {
	return s.packs.NewObjectPack()
}

func (s *casStorer) SetReference(ref *plumbing.Reference) error {
	if ref.Type() != plumbing.HashReference {
		return fmt.Errorf("update %s: not a hash reference", ref.Name())
	}
	return updateRef(s.dir, s.Storer, ref.Name(), s.old[ref.Name()], ref.Hash())
}

// updateRef moves the reference name in the repository at dir from old
// (zero: it must not exist) to h as git does: holding <name>.lock, created
// exclusively, it checks the current value and renames the lock file over
// the reference. The lock file is linked into place already written, as
// go-git's readers take any file below refs/ for a reference and fail on
// an empty one.
func updateRef(dir string, refs storer.ReferenceStorer, name plumbing.ReferenceName, old, h plumbing.Hash) (err error) {
	p := filepath.Join(dir, filepath.FromSlash(name.String()))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := linkLock(dir, p+".lock", h); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(p + ".lock")
		}
	}()
	var cur plumbing.Hash
	switch r, err := refs.Reference(name); {
	case err == nil:
		cur = r.Hash()
	case !errors.Is(err, plumbing.ErrReferenceNotFound):
		return err
	}
	if cur != old {
		return storage.ErrReferenceHasChanged
	}
	return os.Rename(p+".lock", p)
}

// linkLock creates the lock file with h in it, or fails if it exists.
func linkLock(dir, lock string, h plumbing.Hash) error {
	tmp, err := os.CreateTemp(dir, "ssm-ref-*.tmp") // outside refs/
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(h.String() + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	err = os.Link(tmp.Name(), lock)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s is locked (another update, or one that crashed and left it)", lock)
	}
	return err
}
