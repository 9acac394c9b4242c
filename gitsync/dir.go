package gitsync

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// Ownership names the file whose presence, starting with Prefix, proves that
// a path was written by us. A sink refuses to prune a non-empty path that
// lacks it, so a mistyped --output or --git-path cannot wipe someone's files.
type Ownership struct {
	File   string
	Prefix []byte
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

// readTree reads every regular file below root, skipping .git. Symlinks and
// other non-regular entries are reported as empty files so that pruning
// removes the entry itself, never what it points to.
func readTree(root *os.Root) (Files, error) {
	files := Files{}
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			files[p] = nil
			return nil
		}
		b, err := root.ReadFile(p)
		if err != nil {
			return err
		}
		files[p] = b
		return nil
	})
	return files, err
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
	stored, err := readTree(root)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return diff(stored, files), nil
}

// WriteDir makes the directory dir hold exactly files: it writes new and
// changed files atomically (temporary file, fsync, rename), leaves unchanged
// files untouched, writes the ownership file after the files it lists, and
// removes stored files that were not rendered, then empty directories. All
// writes stay inside dir (os.Root). A crash leaves each file old or new,
// never half written.
func WriteDir(dir string, files Files, own Ownership) (Result, error) {
	if err := files.Validate(); err != nil {
		return Result{}, err
	}
	if own.File != "" {
		if why := pathProblem(own.File); why != "" {
			return Result{}, fmt.Errorf("invalid ownership file %q: %s", own.File, why)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Result{}, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	stored, err := readTree(root)
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", dir, err)
	}
	if !own.owns(stored) {
		return Result{}, fmt.Errorf("refusing to write %s: it is not empty and has no %s written by ssm; empty it or choose another directory", dir, own.File)
	}
	changes := diff(stored, files)
	res := resultOf(changes)
	// The ownership file goes last so that it never lists a file not yet written.
	slices.SortStableFunc(changes, func(a, b Change) int {
		return boolCmp(a.Path == own.File, b.Path == own.File)
	})
	dirs := map[string]bool{".": true}
	for _, c := range changes {
		if c.Kind == Removed {
			continue
		}
		if err := writeAtomic(root, c.Path, c.New); err != nil {
			return Result{}, fmt.Errorf("write %s: %w", path.Join(dir, c.Path), err)
		}
		dirs[path.Dir(c.Path)] = true
	}
	for _, c := range changes {
		if c.Kind != Removed {
			continue
		}
		if err := root.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Result{}, fmt.Errorf("remove %s: %w", path.Join(dir, c.Path), err)
		}
		dirs[path.Dir(c.Path)] = true
		removeEmptyParents(root, path.Dir(c.Path))
	}
	for d := range dirs {
		if err := syncDir(root, d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Result{}, fmt.Errorf("sync %s: %w", path.Join(dir, d), err)
		}
	}
	return res, nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

func writeAtomic(root *os.Root, name string, data []byte) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".tmp-"+hex.EncodeToString(suffix[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err = syncAndClose(f, err); err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
	}
	return err
}

// syncAndClose flushes f to disk after a write that returned err, and
// closes it, keeping the first error: nothing counts as written before it
// is on disk.
func syncAndClose(f *os.File, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeEmptyParents removes d and its parents below the root while empty.
func removeEmptyParents(root *os.Root, d string) {
	for d != "." && d != "/" {
		if err := root.Remove(d); err != nil { // fails on a non-empty directory
			return
		}
		d = path.Dir(d)
	}
}

func syncDir(root *os.Root, d string) error {
	f, err := root.Open(d)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
