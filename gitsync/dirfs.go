package gitsync

import (
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// dirState is what a directory holds.
type dirState struct {
	files Files
	// emptyDirs are directories below the root that hold no file, deepest
	// first: a crash between creating a directory and renaming a file into
	// it leaves one.
	emptyDirs []string
}

// readTree reads every regular file below root, skipping .git and the
// directory sink's temporary files, which it removes if removeTemps is
// set. Symlinks and other non-regular entries are reported as empty files
// so that pruning removes the entry itself, never what it points to.
func readTree(root *os.Root, removeTemps bool) (dirState, error) {
	s := dirState{files: Files{}}
	var dirs []string
	used := map[string]bool{} // directories with a file below
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == ".git":
			return fs.SkipDir
		case d.IsDir():
			if p != "." {
				dirs = append(dirs, p)
			}
			return nil
		case isTempName(d.Name()):
			if removeTemps {
				return root.Remove(p)
			}
			return nil
		}
		for d := path.Dir(p); d != "." && !used[d]; d = path.Dir(d) {
			used[d] = true
		}
		if !d.Type().IsRegular() {
			s.files[p] = nil
			return nil
		}
		b, err := root.ReadFile(p)
		s.files[p] = b
		return err
	})
	for _, d := range dirs {
		if !used[d] {
			s.emptyDirs = append(s.emptyDirs, d)
		}
	}
	slices.SortFunc(s.emptyDirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return s, err
}

// tempSuffix is how the directory sink's temporary files end, before 12
// hexadecimal digits; they are named after the file they become, hidden:
// .<name>.tmp-<hex>.
const tempSuffix = ".tmp-"

// isTempName reports whether name is one the directory sink gives its
// temporary files: it removes them before writing, as they can only be
// left by a write that died.
func isTempName(name string) bool {
	const n = len(tempSuffix) + 12
	if len(name) < 2+n || name[0] != '.' || name[len(name)-n:len(name)-12] != tempSuffix {
		return false
	}
	for _, c := range name[len(name)-12:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// writeAtomic writes data to name through a temporary file in the same
// directory, synced and renamed over it: name is never seen half written.
func writeAtomic(root *os.Root, name string, data []byte) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+tempSuffix+hex.EncodeToString(suffix[:]))
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
