// Package localrepo reads and writes a bare git repository on this machine
// through its files, as git's own commands would: it reads a reference and
// the objects it needs, writes new objects loose (a pack with its index
// when there are many, as git's receive-pack does) and moves a reference
// with a compare-and-swap under git's lock file. Its cost follows the
// change, not the history. Hooks do not run.
//
// What it writes is what git would write: file modes from the umask and
// core.sharedRepository, reflog entries where core.logAllRefUpdates asks
// for them, lock and temporary files that git's tools understand, and
// git gc --auto's packing of loose objects. Every write is safe against a
// SIGKILL at any system call: files are synced before they are linked or
// renamed into place, ssm's writers hold a flock(2) on the repository
// directory for a whole update, which dies with them, and under it
// whatever an earlier writer left when it was killed is removed; a ref
// lock older than Options.StaleLockAfter is a dead writer's, as git holds
// its own for milliseconds.
//
// It reads through go-git's filesystem storage but writes none of its own:
// go-git v5.19.3 rewrites a ref file in place under a flock of its own, not
// git's <ref>.lock (so git's writers do not see it, and a kill after the
// truncation leaves an empty ref), syncs nothing, writes no reflog, gives
// objects 0444 and directories 0755 whatever core.sharedRepository says,
// rewrites packed-refs without packed-refs.lock, and leaves temporary
// objects and packs behind when killed. Writing through it failed 620 of
// the 751 kill points of gitsync's git crash scenarios (issue 21).
//
// It imports fileset, whose crash-safe helpers it writes with (SyncAndClose,
// Flock), and gitsync/internal/pack.
package localrepo

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
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/gitsync/internal/pack"
)

// ErrNotFound is returned for a repository directory that does not exist.
var ErrNotFound = errors.New("repository not found")

// Options tunes a Repo.
type Options struct {
	// Logger receives warnings (a stale lock removed) and what was cleaned
	// up after a killed writer. It must not be nil.
	Logger *slog.Logger
	// Committer ("Name <email>") signs the reflog entries;
	// "ssm <ssm@localhost>" when empty.
	Committer string
	// Wait bounds the wait for another ssm writer of the repository; 30s
	// when zero.
	Wait time.Duration
	// StaleLockAfter is the age from which a ref lock is taken for a dead
	// writer's and removed; 10s when zero.
	StaleLockAfter time.Duration
}

// Repo is a bare repository on this machine. Its methods must not be
// called concurrently; several Repos, in one process or many, may write
// one repository at once, and so may git.
type Repo struct {
	dir        string
	sto        *filesystem.Storage // kept between calls for its pack indexes
	packs      string              // names in objects/pack when sto last read them
	enc        pack.Encoder
	log        *slog.Logger
	committer  string
	wait       time.Duration
	staleAfter time.Duration
	// cleaned holds the references for which what dead writers left was
	// removed: a push branch makes its directories and reflogs elsewhere.
	cleaned map[plumbing.ReferenceName]bool
}

// unpackLimit is how many objects an update writes loose at most; more go
// in a pack. It is git's receive.unpackLimit default.
const unpackLimit = 100

// Open returns the bare repository at dir. It touches nothing: a missing
// repository is reported by the first read. A non-bare repository is
// refused: its work tree is no git directory, and updating its checked-out
// branch would be wrong anyway.
func Open(dir string, opts Options) (*Repo, error) {
	if _, err := os.Stat(filepath.Join(dir, "config")); err != nil {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			return nil, errors.New("a local repository must be bare (git init --bare)")
		}
	}
	return &Repo{
		dir:        dir,
		sto:        filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRU(16*cache.MiByte)),
		log:        opts.Logger,
		committer:  cmp.Or(opts.Committer, "ssm <ssm@localhost>"),
		wait:       cmp.Or(opts.Wait, 30*time.Second),
		staleAfter: cmp.Or(opts.StaleLockAfter, defaultStaleLockAfter),
	}, nil
}

// MovedError is an update whose reference no longer pointed at the commit
// it expected: another writer moved or deleted it first.
type MovedError struct {
	Ref     plumbing.ReferenceName
	Current plumbing.Hash // zero: the reference does not exist
}

func (e *MovedError) Error() string {
	if e.Current.IsZero() {
		return e.Ref.String() + " was deleted"
	}
	return fmt.Sprintf("%s moved to %s", e.Ref, e.Current)
}

// LockedError is an update that found the reference's lock file (or
// packed-refs') held by another writer for longer than it waits, but for
// less than StaleLockAfter: a live writer's, maybe git's. Trying again
// later may succeed.
type LockedError struct {
	Lock       string // the lock file, a slash path relative to the repository
	StaleAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s is held by another update (younger than %s)", e.Lock, e.StaleAfter)
}

// lock takes the repository's flock, waiting for another ssm writer at most
// until ctx is done or the wait has passed, and returns its release.
func (r *Repo) lock(ctx context.Context) (func(), error) {
	d, err := os.Open(r.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, r.wait)
	defer cancel()
	if err := fileset.Flock(wctx, d); err != nil {
		d.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("wait for another ssm writing %s: %w", r.dir, err)
	}
	return func() { d.Close() }, nil
}

// cleanOnce removes, once per reference, what writers that died left,
// under the lock.
func (r *Repo) cleanOnce(ctx context.Context, ref plumbing.ReferenceName) error {
	if r.cleaned[ref] {
		return nil
	}
	unlock, err := r.lock(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil // reported by the read that follows
	}
	if err != nil {
		return err
	}
	defer unlock()
	r.cleanRef(ref)
	return nil
}

// cleanRef removes what dead writers of ref left, until nothing is left
// to judge; the caller holds the lock.
func (r *Repo) cleanRef(ref plumbing.ReferenceName) {
	if r.cleaned[ref] || !r.clean(ref) {
		return
	}
	if r.cleaned == nil {
		r.cleaned = map[plumbing.ReferenceName]bool{}
	}
	r.cleaned[ref] = true
}

// storage returns the object store, told to read the pack indexes again if
// packs came or went since it last read them (git gc, pushes by others).
func (r *Repo) storage() (*filesystem.Storage, error) {
	if _, err := os.Stat(filepath.Join(r.dir, "objects")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(r.dir, "objects", "pack"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var names strings.Builder
	for _, e := range entries {
		names.WriteString(e.Name())
		names.WriteByte('\n')
	}
	if names.String() != r.packs {
		r.sto.Reindex()
		r.packs = names.String()
	}
	return r.sto, nil
}

// Head returns the commit ref points at, zero when it does not exist, and
// the repository's objects. The first call for each ref removes what
// writers that died left, so that a restart after a crash starts clean.
func (r *Repo) Head(ctx context.Context, ref plumbing.ReferenceName) (plumbing.Hash, storer.EncodedObjectStorer, error) {
	if err := r.cleanOnce(ctx, ref); err != nil {
		return plumbing.ZeroHash, nil, err
	}
	h, sto, err := r.head(ctx, ref)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	return h, sto, nil
}

// head returns the commit ref points at, zero when it does not exist.
func (r *Repo) head(ctx context.Context, ref plumbing.ReferenceName) (plumbing.Hash, *filesystem.Storage, error) {
	if err := ctx.Err(); err != nil {
		return plumbing.ZeroHash, nil, err
	}
	sto, err := r.storage()
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	ent, err := storer.ResolveReference(sto, ref)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		return plumbing.ZeroHash, sto, nil
	case err != nil:
		return plumbing.ZeroHash, nil, fmt.Errorf("read %s: %w", ref, err)
	}
	return ent.Hash(), sto, nil
}

// Update writes objs, then moves ref from old (zero: it must not exist) to
// commit (zero: delete it) under its lock, all under the repository's
// flock. If ref no longer points at old it returns a *MovedError, if
// another writer holds its lock a *LockedError; in both cases ref is left
// as that writer made it. The objects written stay: git's prune removes
// them once unreachable, and the next try reuses them.
func (r *Repo) Update(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *pack.Objects) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	r.cleanRef(ref)
	cfg, err := readRepoConfig(r.dir)
	if err != nil {
		return err
	}
	if _, err := r.storage(); err != nil {
		return err
	}
	if commit.IsZero() {
		return r.movedError(ctx, ref, r.deleteRef(cfg, ref, old))
	}
	if objs.Len() < unpackLimit {
		err = r.writeLoose(cfg, objs)
	} else {
		err = r.writePack(cfg, objs)
	}
	if err != nil {
		return fmt.Errorf("write objects: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.updateRef(cfg, ref, old, commit); err != nil {
		return r.movedError(ctx, ref, err)
	}
	// As git gc --auto after a push: the update is done whatever this does.
	if err := r.autoPack(cfg); err != nil {
		r.log.Warn("could not pack the loose objects of the local repository; trying again after the next push", "err", err)
	}
	return nil
}

// movedError turns a lost compare-and-swap on ref into a *MovedError
// saying where ref went; other errors pass as they are.
func (r *Repo) movedError(ctx context.Context, ref plumbing.ReferenceName, err error) error {
	if !errors.Is(err, storage.ErrReferenceHasChanged) {
		return err
	}
	current, _, herr := r.head(context.WithoutCancel(ctx), ref)
	if herr != nil {
		return fmt.Errorf("%w; read %s again: %w", err, ref.Short(), herr)
	}
	return &MovedError{Ref: ref, Current: current}
}
