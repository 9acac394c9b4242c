package localrepo

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/fileset"
)

// deleteRef removes the reference name, which must point at old, in git's
// files backend's order: under the reference's lock and packed-refs.lock
// (if the name is packed), it removes the reflog, renames the new
// packed-refs without the name into place, then removes the loose file.
// The reflog goes first because, as git's files backend says, a reference
// without its reflog is less bad than a reflog without its reference,
// which nothing would remove. A writer killed at any point leaves either
// the reference as it was (the loose file, if any, still names it) or
// gone, and at most lock files, which the next writer takes for a dead
// writer's once they are stale.
func (r *Repo) deleteRef(cfg repoConfig, name plumbing.ReferenceName, old plumbing.Hash) error {
	p, f, err := r.lockName(cfg, name)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Close(); err != nil {
		return err
	}
	if err := r.still(name, old); err != nil {
		return err
	}
	packed, err := r.packedWithout(cfg, name)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(r.dir, "logs", filepath.FromSlash(name.String()))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.log.Warn("the branch is being deleted but not its reflog", "ref", name.Short(), "err", err)
	}
	if packed != "" {
		if err := os.Rename(packed, filepath.Join(r.dir, "packed-refs")); err != nil {
			os.Remove(packed)
			return err
		}
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// packedWithout writes packed-refs without name into packed-refs.lock,
// taken as git takes it, synced, and returns the lock file, to be renamed
// over packed-refs; "" if name is not packed.
func (r *Repo) packedWithout(cfg repoConfig, name plumbing.ReferenceName) (string, error) {
	packed := filepath.Join(r.dir, "packed-refs")
	b, err := os.ReadFile(packed)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if _, found := withoutPacked(b, name); !found {
		return "", nil
	}
	f, err := r.lockRef(cfg, packed)
	if err != nil {
		return "", err
	}
	// Read again under the lock: git may have packed more meanwhile.
	if b, err = os.ReadFile(packed); err == nil {
		out, _ := withoutPacked(b, name)
		_, err = f.Write(out)
	}
	if err := fileset.SyncAndClose(f, err); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// withoutPacked returns the packed-refs file b without the line of name
// and the peeled line ("^<hash>") that may follow it.
func withoutPacked(b []byte, name plumbing.ReferenceName) ([]byte, bool) {
	var out bytes.Buffer
	found, skipPeeled := false, false
	for line := range bytes.Lines(b) {
		text := strings.TrimRight(string(line), "\n")
		if skipPeeled && strings.HasPrefix(text, "^") {
			continue
		}
		skipPeeled = false
		if _, ref, ok := strings.Cut(text, " "); ok && !strings.HasPrefix(text, "#") && ref == name.String() {
			found, skipPeeled = true, true
			continue
		}
		out.Write(line)
	}
	return out.Bytes(), found
}

// Empty reports whether the repository holds no reference: none in
// packed-refs and no file below refs/ but git's lock files and the names
// starting with a dot that git skips.
func (r *Repo) Empty(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if _, err := r.storage(); err != nil {
		return false, err
	}
	b, err := os.ReadFile(filepath.Join(r.dir, "packed-refs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	for line := range bytes.Lines(b) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && t[0] != '^' {
			return false, nil
		}
	}
	errFound := errors.New("found")
	err = filepath.WalkDir(filepath.Join(r.dir, "refs"), func(_ string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() || strings.HasPrefix(d.Name(), ".") || strings.HasSuffix(d.Name(), ".lock"):
			return nil
		}
		return errFound
	})
	switch {
	case errors.Is(err, errFound):
		return false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	return true, nil
}
