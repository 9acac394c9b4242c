package localrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage"

	"github.com/ssm-dev/ssm/fileset"
)

// lockTimeout is how long a ref update waits for another writer's lock
// file to go, as git does for core.filesRefLockTimeout (100ms by default);
// longer, as replicas of ssm push at the same moment by design.
const lockTimeout = time.Second

// defaultStaleLockAfter is the age from which a ref lock file is taken for
// a dead writer's. git holds a ref lock for milliseconds, and ssm's own
// writers are serialised by the repository's flock, so an older lock can
// only be left by a process that died holding it.
const defaultStaleLockAfter = 10 * time.Second

// lockName takes the lock of reference name, making its directories: the
// reference's path and its open lock file.
func (r *Repo) lockName(cfg repoConfig, name plumbing.ReferenceName) (string, *os.File, error) {
	p := filepath.Join(r.dir, filepath.FromSlash(name.String()))
	if err := cfg.mkdirs(r.dir, filepath.Dir(p)); err != nil {
		return "", nil, err
	}
	f, err := r.lockRef(cfg, p)
	return p, f, err
}

// updateRef moves the reference name from old (zero: it must not exist) to
// h as git does: it creates <name>.lock exclusively, writes h to it, syncs
// it, checks the current value under the lock, appends to the reflogs git
// would keep, and renames the lock file over the reference.
func (r *Repo) updateRef(cfg repoConfig, name plumbing.ReferenceName, old, h plumbing.Hash) error {
	_, f, err := r.lockName(cfg, name)
	if err != nil {
		return err
	}
	if err := r.commitRef(cfg, f, name, old, h); err != nil {
		os.Remove(f.Name())
		return err
	}
	// As git, HEAD's reflog records the update after the branch moved.
	if head, _ := os.ReadFile(filepath.Join(r.dir, "HEAD")); strings.TrimSpace(string(head)) == "ref: "+name.String() {
		if err := r.appendReflog(cfg, "HEAD", old, h); err != nil {
			r.log.Warn("the branch moved but HEAD's reflog was not written", "err", err)
		}
	}
	return nil
}

// commitRef writes h to the lock file f, checks that name still points at
// old and renames f over it.
func (r *Repo) commitRef(cfg repoConfig, f *os.File, name plumbing.ReferenceName, old, h plumbing.Hash) error {
	_, err := f.WriteString(h.String() + "\n")
	if err := fileset.SyncAndClose(f, err); err != nil {
		return err
	}
	if err := r.still(name, old); err != nil {
		return err
	}
	if err := r.appendReflog(cfg, name.String(), old, h); err != nil {
		return fmt.Errorf("append to the reflog of %s: %w", name, err)
	}
	return os.Rename(f.Name(), strings.TrimSuffix(f.Name(), ".lock"))
}

// lockRef creates the lock file of the reference at p. It waits up to
// lockTimeout while another writer holds it, and removes it when it is
// stale; a lock still held after the wait is a *LockedError, which the
// caller may retry.
func (r *Repo) lockRef(cfg repoConfig, p string) (*os.File, error) {
	lock := p + ".lock"
	deadline := time.Now().Add(lockTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		f, err := cfg.create(lock, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
		removed, err := r.removeStaleLock(lock)
		switch {
		case err != nil:
			return nil, fmt.Errorf("remove stale lock %s: %w", lock, err)
		case time.Now().After(deadline):
			rel, _ := filepath.Rel(r.dir, lock)
			return nil, &LockedError{Lock: filepath.ToSlash(rel), StaleAfter: r.staleAfter}
		case removed:
			continue
		}
		time.Sleep(wait/2 + rand.N(wait/2+1))
	}
}

// removeStaleLock removes the lock file if it is older than staleAfter,
// and reports whether it is gone. It moves the file aside before removing
// it and checks that what it moved is the file it judged stale: a writer
// may have replaced it meanwhile, and a fresh lock is put back.
func (r *Repo) removeStaleLock(lock string) (bool, error) {
	fi, err := os.Lstat(lock)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	age := time.Since(fi.ModTime())
	if age < r.staleAfter {
		return false, nil
	}
	aside := staleAside(lock)
	if err := os.Rename(lock, aside); errors.Is(err, fs.ErrNotExist) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	moved, err := os.Lstat(aside)
	if err != nil {
		return false, err
	}
	if !os.SameFile(fi, moved) {
		// Put the fresh lock back; if yet another appeared, its writer
		// fails on its own, as with any lock lost to a race.
		err := os.Link(aside, lock)
		os.Remove(aside)
		return false, err
	}
	if err := os.Remove(aside); err != nil {
		return false, err
	}
	r.log.Warn("removed a stale ref lock left by a writer that died", "lock", lock, "age", age.Round(time.Millisecond))
	return true, nil
}

// staleAside names where a stale lock is moved before it is removed: next
// to it, so that the move is a rename, and starting with a dot, which no
// reference name does and which git's reference listing skips.
func staleAside(lock string) string {
	return filepath.Join(filepath.Dir(lock), "."+filepath.Base(lock)+".ssm-stale")
}

// appendReflog appends a line for the update of name from old to h to its
// reflog, when git would: core.logAllRefUpdates asks for it, or the log
// exists. The line is git's, with "push" as receive-pack writes it.
func (r *Repo) appendReflog(cfg repoConfig, name string, old, h plumbing.Hash) error {
	p := filepath.Join(r.dir, "logs", filepath.FromSlash(name))
	if cfg.logsRef(name) {
		if err := cfg.mkdirs(r.dir, filepath.Dir(p)); err != nil {
			return err
		}
		if err := cfg.createShared(p); err != nil && !errors.Is(err, syscall.EISDIR) {
			return err
		}
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now()
	_, err = fmt.Fprintf(f, "%s %s %s %d %s\tpush\n", old, h, r.committer, now.Unix(), now.Format("-0700"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// still reports storage.ErrReferenceHasChanged unless name points at old
// (the zero hash: name does not exist), read under its lock.
func (r *Repo) still(name plumbing.ReferenceName, old plumbing.Hash) error {
	var cur plumbing.Hash
	switch ent, err := r.sto.Reference(name); {
	case err == nil:
		cur = ent.Hash()
	case !errors.Is(err, plumbing.ErrReferenceNotFound):
		return err
	}
	if cur != old {
		return storage.ErrReferenceHasChanged
	}
	return nil
}
