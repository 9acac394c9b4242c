package remote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
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

	"github.com/ssm-dev/ssm/gitsync/internal/flock"
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
//
// What it writes is what git would write: file modes from the umask and
// core.sharedRepository, reflog entries where core.logAllRefUpdates asks
// for them, lock and temporary files that git's tools understand. ssm's
// writers hold a flock on the repository directory for a whole push, which
// dies with them; under it, whatever an earlier ssm writer left when it was
// killed is removed, and a ref lock older than staleAfter is a dead
// writer's, as git holds its own for milliseconds.
type localStore struct {
	dir        string              // the repository
	sto        *filesystem.Storage // kept between syncs for its pack indexes
	packs      string              // names in objects/pack when sto last read them
	packer     packer
	log        *slog.Logger
	committer  string        // "Name <email>" for reflog entries
	timeout    time.Duration // bounds the wait for another ssm writer
	staleAfter time.Duration // from which a ref lock is a dead writer's
	// cleaned holds the references for which what dead writers left was
	// removed: a push branch makes its directories and reflogs elsewhere.
	cleaned map[plumbing.ReferenceName]bool
}

// unpackLimit is how many objects a push writes loose at most; more go in
// a pack. It is git's receive.unpackLimit default.
const unpackLimit = 100

// newLocal checks the options for a local repository.
func newLocal(ep *transport.Endpoint, opts Options) (Transport, error) {
	if opts.SSHKeyPath != "" || opts.KnownHostsPath != "" || opts.Username != "" || opts.PasswordPath != "" {
		return nil, errors.New("a local repository takes no ssh key, known_hosts, username or password")
	}
	if len(opts.PushOptions) > 0 {
		return nil, errors.New("a local repository takes no push options: it is written directly and runs no hooks to read them; push to it over ssh or http(s)")
	}
	// A non-bare repository's work tree is no git directory; pushing to a
	// checked-out branch is wrong anyway.
	if _, err := os.Stat(filepath.Join(ep.Path, "config")); err != nil {
		if _, err := os.Stat(filepath.Join(ep.Path, ".git")); err == nil {
			return nil, errors.New("a local repository must be bare (git init --bare)")
		}
	}
	sto := filesystem.NewStorage(osfs.New(ep.Path), cache.NewObjectLRU(16*cache.MiByte))
	return &localStore{
		dir:        ep.Path,
		sto:        sto,
		log:        opts.Logger,
		committer:  cmp.Or(opts.Committer, "ssm <ssm@localhost>"),
		timeout:    cmp.Or(opts.Timeout, 30*time.Second),
		staleAfter: cmp.Or(opts.StaleLockAfter, defaultStaleLockAfter),
	}, nil
}

// lock takes the repository's flock, waiting for another ssm writer at most
// until ctx is done or the timeout has passed, and returns its release.
func (l *localStore) lock(ctx context.Context) (func(), error) {
	d, err := os.Open(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, transport.ErrRepositoryNotFound
	}
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	if err := flock.Lock(wctx, d); err != nil {
		d.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("wait for another ssm writing %s: %w", l.dir, err)
	}
	return func() { d.Close() }, nil
}

// cleanOnce removes, once per reference, what writers that died left,
// under the lock.
func (l *localStore) cleanOnce(ctx context.Context, ref plumbing.ReferenceName) error {
	if l.cleaned[ref] {
		return nil
	}
	unlock, err := l.lock(ctx)
	if errors.Is(err, transport.ErrRepositoryNotFound) {
		return nil // reported by the read that follows
	}
	if err != nil {
		return err
	}
	defer unlock()
	l.cleanRef(ref)
	return nil
}

// cleanRef removes what dead writers of ref left, until nothing is left
// to judge; the caller holds the lock.
func (l *localStore) cleanRef(ref plumbing.ReferenceName) {
	if l.cleaned[ref] || !l.clean(ref) {
		return
	}
	if l.cleaned == nil {
		l.cleaned = map[plumbing.ReferenceName]bool{}
	}
	l.cleaned[ref] = true
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
// The first call removes what writers that died left, so that a restart
// after a crash starts clean.
func (l *localStore) FetchHead(ctx context.Context, ref plumbing.ReferenceName, have plumbing.Hash) (plumbing.Hash, storer.EncodedObjectStorer, error) {
	if err := l.cleanOnce(ctx, ref); err != nil {
		return plumbing.ZeroHash, nil, err
	}
	head, sto, err := l.head(ctx, ref)
	if err != nil || head.IsZero() || head == have {
		return head, nil, err
	}
	return head, sto, nil
}

// Push writes the objects, then moves ref under its lock, all under the
// repository's flock. A zero commit deletes ref (deleteRef).
func (l *localStore) Push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *Objects) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := l.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	l.cleanRef(ref)
	cfg, err := readRepoConfig(l.dir)
	if err != nil {
		return err
	}
	if _, err := l.storage(); err != nil {
		return err
	}
	if commit.IsZero() {
		return l.movedError(ctx, ref, l.deleteRef(cfg, ref, old))
	}
	if objs.Len() < unpackLimit {
		err = l.writeLoose(cfg, objs)
	} else {
		err = l.writePack(cfg, objs)
	}
	if err != nil {
		return fmt.Errorf("write objects: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.updateRef(cfg, ref, old, commit); err != nil {
		return l.movedError(ctx, ref, err)
	}
	// As git gc --auto after a push: the push is done whatever this does.
	if err := l.autoPack(cfg); err != nil {
		l.log.Warn("could not pack the loose objects of the local repository; trying again after the next push", "err", err)
	}
	return nil
}

// movedError turns a lost compare-and-swap on ref into a *RejectedError
// saying where ref went; other errors pass as they are.
func (l *localStore) movedError(ctx context.Context, ref plumbing.ReferenceName, err error) error {
	if !errors.Is(err, storage.ErrReferenceHasChanged) {
		return err
	}
	current, _, herr := l.head(context.WithoutCancel(ctx), ref)
	if herr != nil {
		return fmt.Errorf("%w; read %s again: %w", err, ref.Short(), herr)
	}
	return &RejectedError{movedReason(ref, current)}
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
