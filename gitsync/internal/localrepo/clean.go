package localrepo

import (
	"context"
	"crypto/sha1"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Names of ssm's temporary files in a repository. git names its own
// tmp_obj_, tmp_pack_ and tmp_idx_ and six letters or digits, never a
// hyphen, so the two cannot be taken for one another, while git's fsck and
// prune still know ssm's for temporary files.
const (
	tempObjectPrefix = "tmp_obj_ssm-"
	tempPackPrefix   = "tmp_pack_ssm-"
	tempIdxPrefix    = "tmp_idx_ssm-"
	// Directories and reflogs being made in a shared repository, next to
	// where they go; git skips names that start with a dot in refs/ and
	// logs/, and looks at nothing but packs and fan-out directories in
	// objects/.
	tempDirPrefix  = ".ssm-dir-"
	tempFilePrefix = ".ssm-file-"
)

// clean removes what writers of earlier ssm processes left when they died
// (deletedRefLock and packedRefsLock too). It reports whether nothing is
// left to judge later.
// The caller holds the repository's flock, so no other ssm writer is
// running.
func (r *Repo) clean(ref plumbing.ReferenceName) bool {
	var removed []string
	for _, p := range r.leftovers(ref) {
		if err := os.Remove(p); err == nil {
			rel, _ := filepath.Rel(r.dir, p)
			removed = append(removed, filepath.ToSlash(rel))
		} else if !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("could not remove what an interrupted write left", "file", p, "err", err)
		}
	}
	if len(removed) > 0 {
		r.log.Info("removed what an interrupted write left", "files", removed)
	}
	refDone, packedDone := r.deletedRefLock(ref), r.packedRefsLock()
	return refDone && packedDone
}

// deletedRefLock removes the lock of ref, once stale, when ref does not
// exist: a writer died after deleting ref (a push branch), and no later
// write of ref may come to meet the lock, which would stop git's own
// writers. The lock of a ref that exists is left to the ref's next write.
// It reports whether the lock is gone; one too young to be a dead
// writer's is looked at again at the next read.
func (r *Repo) deletedRefLock(ref plumbing.ReferenceName) bool {
	lock := filepath.Join(r.dir, filepath.FromSlash(ref.String())) + ".lock"
	if _, err := os.Lstat(lock); err != nil {
		return true
	}
	if head, _, err := r.head(context.Background(), ref); err != nil || !head.IsZero() {
		return true
	}
	gone, err := r.awaitLock(lock)
	if err != nil {
		r.log.Warn("could not remove a stale ref lock", "ref", ref.Short(), "err", err)
		return true
	}
	return gone
}

// packedRefsLock removes packed-refs.lock once stale. Only a delete takes
// it, and a writer killed holding it leaves the ref it deleted as it was:
// the next write may update that ref rather than delete it again, and never
// meet the lock, which would stop git's pack-refs, gc and deletes. It
// reports whether the lock is gone; one too young to be a dead writer's
// (git's pack-refs holds it for milliseconds) is looked at again at the
// next read.
func (r *Repo) packedRefsLock() bool {
	lock := filepath.Join(r.dir, "packed-refs.lock")
	if _, err := os.Lstat(lock); err != nil {
		return true
	}
	gone, err := r.awaitLock(lock)
	if err != nil {
		r.log.Warn("could not remove a stale packed-refs lock", "err", err)
		return true
	}
	return gone
}

// awaitLock waits up to lockTimeout for the lock file to go, as a
// writer's does, or to turn stale, and then removes it. It reports whether
// the lock is gone.
func (r *Repo) awaitLock(lock string) (bool, error) {
	deadline := time.Now().Add(lockTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		gone, err := r.removeStaleLock(lock)
		if gone || err != nil || time.Now().After(deadline) {
			return gone, err
		}
		time.Sleep(wait)
	}
}

// leftovers returns what writers of ssm leave only when they die:
// temporary files and directories (earlier versions' too), a pack moved
// into place without its index, and a stale lock moved aside. Files of
// git's own writers are none of them.
func (r *Repo) leftovers(ref plumbing.ReferenceName) []string {
	var left []string
	add := func(dir string, match func(name string) bool) {
		for _, name := range readDirNames(dir) {
			if match(name) {
				left = append(left, filepath.Join(dir, name))
			}
		}
	}
	// Earlier versions wrote ref lock contents in the repository itself.
	add(r.dir, func(name string) bool { return strings.HasPrefix(name, "ssm-ref-") && strings.HasSuffix(name, ".tmp") })
	for _, dir := range r.madeIn(ref) {
		add(dir, func(name string) bool {
			return strings.HasPrefix(name, tempDirPrefix) || strings.HasPrefix(name, tempFilePrefix)
		})
	}
	objects := filepath.Join(r.dir, "objects")
	for _, fan := range readDirNames(objects) {
		if len(fan) == 2 && isHex(fan) {
			add(filepath.Join(objects, fan), func(name string) bool {
				return strings.HasPrefix(name, tempObjectPrefix) || isGoTemp(name, "tmp_obj_")
			})
		}
	}
	packs := filepath.Join(objects, "pack")
	add(packs, func(name string) bool {
		if strings.HasPrefix(name, tempIdxPrefix) {
			if pack := orphanPack(filepath.Join(packs, name)); pack != "" {
				left = append(left, pack)
			}
			return true
		}
		return strings.HasPrefix(name, tempPackPrefix) || isGoTemp(name, "tmp_pack_")
	})
	return append(left, staleAside(filepath.Join(r.dir, filepath.FromSlash(ref.String()))+".lock"))
}

// madeIn returns the directories an update makes directories and reflogs in:
// the repository, objects/, and those on the way to ref and to its and
// HEAD's reflogs.
func (r *Repo) madeIn(ref plumbing.ReferenceName) []string {
	dirs := []string{r.dir, filepath.Join(r.dir, "objects")}
	for _, p := range []string{ref.String(), "logs/" + ref.String(), "logs/HEAD"} {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs = append(dirs, filepath.Join(r.dir, filepath.FromSlash(d)))
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// orphanPack returns the pack that the index idx, one of ssm's temporary
// files, was written for, if that pack was moved into place but the index
// never was: a write died between the two, and no reader uses the pack. It
// returns "" otherwise, and for an index cut short, whose trailer names no
// pack.
func orphanPack(idx string) string {
	b, err := os.ReadFile(idx)
	if err != nil || len(b) < 2*sha1.Size {
		return ""
	}
	// An index ends with the checksum of its pack, then its own.
	sum := plumbing.Hash(b[len(b)-2*sha1.Size : len(b)-sha1.Size])
	pack := filepath.Join(filepath.Dir(idx), "pack-"+sum.String())
	if _, err := os.Lstat(pack + ".idx"); !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if _, err := os.Lstat(pack + ".pack"); err != nil {
		return ""
	}
	return pack + ".pack"
}

// isGoTemp reports whether name is one of os.CreateTemp's names for
// prefix, as earlier versions of ssm and go-git made them: decimal digits.
// git's own are six characters long, so a name of six digits may be git's
// and is left to git's prune.
func isGoTemp(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" || len(rest) == 6 {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// readDirNames returns the names in dir, none if it cannot be read: what
// cannot be listed cannot be cleaned, and a write does not depend on it.
func readDirNames(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}
