package fileset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// ReadDir returns the files below dir as the directory sink stores them:
// every file but those below .git and its temporary files, a symlink or
// other irregular entry as an empty file. A directory that does not exist
// holds nothing. It writes nothing, and takes no lock: a writer running
// meanwhile may leave it a mix of old and new files.
func ReadDir(dir string) (Files, error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Files{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	stored, err := readTree(root, false)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return stored.files, nil
}

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
