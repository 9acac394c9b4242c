package fileset

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path"
)

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
	if err = SyncAndClose(f, err); err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
	}
	return err
}

// SyncAndClose flushes f to disk after a write that returned err, and
// closes it, keeping the first error: nothing counts as written before it
// is on disk. Every crash-safe write of ssm's ends with it: the directory
// sink's and the local git repository store's.
func SyncAndClose(f *os.File, err error) error {
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
