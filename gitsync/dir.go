package gitsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ssm-dev/ssm/gitsync/internal/flock"
)

// Ownership names the file whose presence, starting with Prefix, proves that
// a path was written by us. A sink refuses to prune a non-empty path that
// lacks it, so a mistyped --output or --git-path cannot wipe someone's files.
type Ownership struct {
	File   string
	Prefix []byte
	// Placeholder, when set, is what the directory sink writes as File
	// first into a directory that holds nothing, so that the directory is
	// claimed before any other file lands: a first write killed halfway
	// leaves a directory that the next write owns, not one it refuses. It
	// must start with Prefix, and should be a valid File that lists nothing
	// (ssm passes a kustomization.yaml without resources), as GitOps agents
	// may read it.
	Placeholder []byte
}

// validate checks the ownership file's name and placeholder.
func (o Ownership) validate() error {
	if o.File != "" {
		if why := pathProblem(o.File); why != "" {
			return fmt.Errorf("invalid ownership file %q: %s", o.File, why)
		}
	}
	if o.Placeholder != nil && (o.File == "" || !bytes.HasPrefix(o.Placeholder, o.Prefix)) {
		return fmt.Errorf("invalid ownership placeholder for %q: it must start with the ownership prefix", o.File)
	}
	return nil
}

// owns reports whether stored (the files found under the owned path) may be
// replaced: it is empty, or it holds the ownership file.
func (o Ownership) owns(stored Files) bool {
	if len(stored) == 0 || o.File == "" {
		return true
	}
	b, ok := stored[o.File]
	return ok && bytes.HasPrefix(b, o.Prefix)
}

// diff compares what is stored with what was rendered, sorted by path.
func diff(stored, rendered Files) []Change {
	var changes []Change
	for _, p := range rendered.Paths() {
		old, ok := stored[p]
		switch {
		case !ok:
			changes = append(changes, Change{Path: p, Kind: Added, New: rendered[p]})
		case !bytes.Equal(old, rendered[p]):
			changes = append(changes, Change{Path: p, Kind: Updated, Old: old, New: rendered[p]})
		}
	}
	for _, p := range stored.Paths() {
		if _, ok := rendered[p]; !ok {
			changes = append(changes, Change{Path: p, Kind: Removed, Old: stored[p]})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return changes
}

// DiffDir returns how the directory dir differs from files, without writing.
// A directory that does not exist differs by every file.
func DiffDir(dir string, files Files) ([]Change, error) {
	if err := files.Validate(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return diff(nil, files), nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	stored, err := readTree(root, false)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return diff(stored.files, files), nil
}

// WriteDir makes the directory dir hold exactly files: ApplyDir with a plan
// that ignores what is stored.
func WriteDir(dir string, files Files, own Ownership) (Result, error) {
	if err := files.Validate(); err != nil {
		return Result{}, err
	}
	return ApplyDir(dir, own, func(Stored) (Write, error) { return Write{Files: files}, nil })
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
	if err := own.validate(); err != nil {
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
	changes := diff(stored.files, w.Files)
	if err := writeChanges(root, dir, own, stored, changes); err != nil {
		return Result{}, err
	}
	return resultOf(changes), nil
}

// lockDir takes the flock of root's directory and returns its release.
func lockDir(root *os.Root) (func(), error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dirLockTimeout)
	defer cancel()
	if err := flock.Lock(ctx, d); err != nil {
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

// storedFiles is what a directory holds, as a Plan sees it. The directory
// sink reads every file in any case, to compare it.
type storedFiles Files

func (s storedFiles) Files() Files  { return Files(s) }
func (storedFiles) Message() string { return "" }
