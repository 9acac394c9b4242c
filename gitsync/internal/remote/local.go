package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// localStore reads and writes a bare repository on this machine directly,
// through its files, rather than over the git protocol: go-git's
// in-process protocol server has no shallow fetches, so it would send the
// whole history at every fetch that is not incremental, and it lists every
// file below refs/ for its advertisement, taking a git client's
// half-written lock file for a broken reference. go-git's own file
// transport execs git-upload-pack and git-receive-pack, which a minimal
// container image lacks.
//
// A sync reads the branch's reference by name and the objects it needs
// from the object store; it writes the new objects loose (a pack when
// there are many, as git's receive-pack does) and moves the reference with
// a compare-and-swap under git's lock file. Its cost follows the change,
// not the history. Hooks do not run.
type localStore struct {
	dir    string              // the repository
	sto    *filesystem.Storage // kept between syncs for its pack indexes
	packs  string              // names in objects/pack when sto last read them
	packer packer
}

// unpackLimit is how many objects a push writes loose at most; more go in
// a pack. It is git's receive.unpackLimit default.
const unpackLimit = 100

// newLocal checks the options for a local repository.
func newLocal(ep *transport.Endpoint, opts Options) (Transport, error) {
	if opts.SSHKeyPath != "" || opts.KnownHostsPath != "" || opts.Username != "" || opts.PasswordPath != "" {
		return nil, errors.New("a local repository takes no ssh key, known_hosts, username or password")
	}
	// A non-bare repository's work tree is no git directory; pushing to a
	// checked-out branch is wrong anyway.
	if _, err := os.Stat(filepath.Join(ep.Path, "config")); err != nil {
		if _, err := os.Stat(filepath.Join(ep.Path, ".git")); err == nil {
			return nil, errors.New("a local repository must be bare (git init --bare)")
		}
	}
	sto := filesystem.NewStorage(osfs.New(ep.Path), cache.NewObjectLRU(16*cache.MiByte))
	return &localStore{dir: ep.Path, sto: sto}, nil
}

// storage returns the object store, told to read the pack indexes again if
// packs came or went since it last read them (git gc, pushes by others).
func (l *localStore) storage() (*filesystem.Storage, error) {
	if _, err := os.Stat(filepath.Join(l.dir, "objects")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, transport.ErrRepositoryNotFound
		}
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(l.dir, "objects", "pack"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var names strings.Builder
	for _, e := range entries {
		names.WriteString(e.Name())
		names.WriteByte('\n')
	}
	if names.String() != l.packs {
		l.sto.Reindex()
		l.packs = names.String()
	}
	return l.sto, nil
}

// head returns the commit ref points at, zero when it does not exist.
func (l *localStore) head(ctx context.Context, ref plumbing.ReferenceName) (plumbing.Hash, *filesystem.Storage, error) {
	if err := ctx.Err(); err != nil {
		return plumbing.ZeroHash, nil, err
	}
	sto, err := l.storage()
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	r, err := storer.ResolveReference(sto, ref)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		return plumbing.ZeroHash, sto, nil
	case err != nil:
		return plumbing.ZeroHash, nil, fmt.Errorf("read %s: %w", ref, err)
	}
	return r.Hash(), sto, nil
}

// FetchHead returns the store itself, which holds every object.
func (l *localStore) FetchHead(ctx context.Context, ref plumbing.ReferenceName, have plumbing.Hash) (plumbing.Hash, storer.EncodedObjectStorer, error) {
	head, sto, err := l.head(ctx, ref)
	if err != nil || head.IsZero() || head == have {
		return head, nil, err
	}
	return head, sto, nil
}

// Push writes the objects, then moves ref under its lock.
func (l *localStore) Push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *Objects) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sto, err := l.storage()
	if err != nil {
		return err
	}
	if objs.Len() < unpackLimit {
		err = l.writeLoose(objs)
	} else {
		err = writePack(sto, &l.packer, objs)
	}
	if err != nil {
		return fmt.Errorf("write objects: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err = updateRef(l.dir, sto, ref, old, commit)
	if errors.Is(err, storage.ErrReferenceHasChanged) {
		current, _, herr := l.head(context.WithoutCancel(ctx), ref)
		if herr != nil {
			return fmt.Errorf("%w; read %s again: %w", err, ref.Short(), herr)
		}
		return &RejectedError{movedReason(ref, current)}
	}
	return err
}

// writeLoose writes each object to its own file, as git does, unless it
// is there already.
func (l *localStore) writeLoose(objs *Objects) error {
	for _, h := range objs.order {
		hex := h.String()
		dir := filepath.Join(l.dir, "objects", hex[:2])
		final := filepath.Join(dir, hex[2:])
		if _, err := os.Lstat(final); err == nil {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := writeObjectFile(&l.packer, dir, final, objs.objs[h]); err != nil {
			return err
		}
	}
	return nil
}

// writeObjectFile writes o compressed to a temporary file in dir, syncs it
// and links it to final: an object file is never seen half written.
func writeObjectFile(p *packer, dir, final string, o rawObject) error {
	tmp, err := os.CreateTemp(dir, "tmp_obj_")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := syncAndClose(tmp, p.writeLoose(tmp, o)); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), final); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// writePack writes objs as one pack with its index.
func writePack(sto *filesystem.Storage, p *packer, objs *Objects) error {
	w, err := dotgit.New(sto.Filesystem()).NewObjectPack()
	if err != nil {
		return err
	}
	if err := p.write(w, objs); err != nil {
		w.Close()
		return err
	}
	return w.Close()
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

// lockTimeout is how long linkLock waits for another update to release
// the lock, as git does for core.filesRefLockTimeout (100ms by default);
// longer, as replicas of ssm push at the same moment by design.
const lockTimeout = time.Second

// linkLock creates the lock file with h in it, waiting up to lockTimeout
// while it exists.
func linkLock(dir, lock string, h plumbing.Hash) error {
	tmp, err := os.CreateTemp(dir, "ssm-ref-*.tmp") // outside refs/
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(h.String() + "\n")
	if err := syncAndClose(tmp, err); err != nil {
		return err
	}
	deadline := time.Now().Add(lockTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err = os.Link(tmp.Name(), lock)
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is locked (another update, or one that crashed and left it)", lock)
		}
		time.Sleep(wait/2 + rand.N(wait/2+1))
	}
}

// syncAndClose flushes f to disk after a write that returned err, and
// closes it, keeping the first error: nothing counts as written before it
// is on disk. (gitsync's directory sink has its twin; neither package
// imports the other.)
func syncAndClose(f *os.File, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
