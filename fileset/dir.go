package fileset

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"
)

// DirSink keeps the directory Dir equal to what each Plan decides
// (ApplyDir), refusing to prune one that Ownership does not claim.
type DirSink struct {
	Dir       string
	Ownership Ownership
}

// Sync writes what plan returns for the directory's files.
func (d DirSink) Sync(_ context.Context, plan Plan) (Result, error) {
	return ApplyDir(d.Dir, d.Ownership, plan)
}

// dirLockTimeout bounds the wait for another writer of the same directory.
const dirLockTimeout = 30 * time.Second

// ApplyDir makes the directory dir hold exactly the files plan decides,
// given what dir holds. Writers of one directory run one at a time (a
// flock on it, which dies with its process). It writes new and changed
// files atomically (temporary file, fsync, rename), leaves unchanged files
// untouched, writes the ownership file after the files it lists (and,
// into a directory holding nothing, its placeholder before them), and
// removes stored files that were not planned, then empty directories. All
// writes stay inside dir (os.Root). A crash at any point leaves each file
// old or new, never half written, and nothing that stops the next write:
// its temporary files are removed first and never count as stored.
func ApplyDir(dir string, own Ownership, plan Plan) (Result, error) {
	if err := own.Validate(); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Result{}, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	unlock, err := lockDir(root)
	if err != nil {
		return Result{}, fmt.Errorf("lock %s: %w", dir, err)
	}
	defer unlock()
	stored, err := readTree(root, true)
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", dir, err)
	}
	if !own.owns(stored.files) {
		return Result{}, fmt.Errorf("refusing to write %s: it is not empty and has no %s written by ssm; empty it or choose another directory", dir, own.File)
	}
	w, err := plan(storedFiles(stored.files))
	if err != nil {
		return Result{}, err
	}
	if err := validDirFiles(w.Files); err != nil {
		return Result{}, err
	}
	changes := Diff(stored.files, w.Files)
	if err := writeChanges(root, dir, own, stored, changes); err != nil {
		return Result{}, err
	}
	return ResultOf(changes), nil
}

// lockDir takes the flock of root's directory and returns its release.
func lockDir(root *os.Root) (func(), error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dirLockTimeout)
	defer cancel()
	if err := Flock(ctx, d); err != nil {
		d.Close()
		return nil, fmt.Errorf("wait for another writer: %w", err)
	}
	return func() { d.Close() }, nil
}

// validDirFiles rejects what Validate rejects and names that the directory
// sink keeps for its temporary files, which it would remove.
func validDirFiles(files Files) error {
	if err := files.Validate(); err != nil {
		return err
	}
	for p := range files {
		if isTempName(path.Base(p)) {
			return fmt.Errorf("invalid file path %q: the name is reserved for temporary files", p)
		}
	}
	return nil
}

// writeChanges applies changes to root: the placeholder into a directory
// that holds nothing, then new and changed files, then the ownership file,
// then removals and the directories they, or a crash, left empty.
func writeChanges(root *os.Root, dir string, own Ownership, stored dirState, changes []Change) error {
	dirs := map[string]bool{}
	write := func(p string, data []byte) error {
		if err := writeAtomic(root, p, data); err != nil {
			return fmt.Errorf("write %s: %w", path.Join(dir, p), err)
		}
		dirs[path.Dir(p)] = true
		return nil
	}
	var ownership *Change
	others := 0 // files to write but the ownership file
	for i, c := range changes {
		switch {
		case c.Kind == Removed:
		case c.Path == own.File:
			ownership = &changes[i]
		default:
			others++
		}
	}
	if len(stored.files) == 0 && own.Placeholder != nil && ownership != nil && others > 0 {
		if err := write(own.File, own.Placeholder); err != nil {
			return err
		}
	}
	for _, c := range changes {
		if c.Kind == Removed || c.Path == own.File {
			continue
		}
		if err := write(c.Path, c.New); err != nil {
			return err
		}
	}
	if ownership != nil {
		// What it lists is on disk before the list is.
		if err := syncDirs(root, dir, dirs); err != nil {
			return err
		}
		if err := write(ownership.Path, ownership.New); err != nil {
			return err
		}
	}
	if err := removeFiles(root, dir, changes, dirs); err != nil {
		return err
	}
	for _, d := range stored.emptyDirs {
		removeEmptyParents(root, d)
	}
	return syncDirs(root, dir, dirs)
}

// removeFiles removes the removed files of changes, then their directories
// while empty, and adds their directories to dirs.
func removeFiles(root *os.Root, dir string, changes []Change, dirs map[string]bool) error {
	for _, c := range changes {
		if c.Kind != Removed {
			continue
		}
		if err := root.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path.Join(dir, c.Path), err)
		}
		dirs[path.Dir(c.Path)] = true
		removeEmptyParents(root, path.Dir(c.Path))
	}
	return nil
}

// syncDirs syncs the directories in dirs and forgets them.
func syncDirs(root *os.Root, dir string, dirs map[string]bool) error {
	for d := range dirs {
		delete(dirs, d)
		if err := syncDir(root, d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sync %s: %w", path.Join(dir, d), err)
		}
	}
	return nil
}
