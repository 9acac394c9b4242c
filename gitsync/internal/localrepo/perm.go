package localrepo

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// sharedMode returns mode (unix bits) adjusted for core.sharedRepository,
// as git's adjust_shared_perm and calc_shared_perm compute it: the shared
// bits added, or the exact mode set; write bits only where the owner may
// write; execute bits wherever read bits are, for directories and
// executables; and set-group-ID on directories shared with the group, so
// that what is created in them belongs to the group.
func (c repoConfig) sharedMode(mode uint32, dir bool) uint32 {
	tweak := uint32(c.shared)
	if c.shared < 0 {
		tweak = uint32(-c.shared)
	}
	if mode&0o200 == 0 {
		tweak &^= 0o222
	}
	if mode&0o100 != 0 {
		tweak |= (tweak & 0o444) >> 2
	}
	if c.shared < 0 {
		mode = mode&^0o777 | tweak
	} else {
		mode |= tweak
	}
	if dir {
		mode |= (mode & 0o444) >> 2
		if mode&0o060 != 0 {
			mode |= 0o2000
		}
	}
	return mode
}

// adjust gives the file or directory that fi describes the mode git would,
// through chmod, which is f's when f is not nil and p's otherwise.
func (c repoConfig) adjust(f *os.File, p string) error {
	if c.shared == 0 {
		return nil
	}
	var fi fs.FileInfo
	var err error
	if f != nil {
		fi, err = f.Stat()
	} else {
		fi, err = os.Stat(p)
	}
	if err != nil {
		return err
	}
	old := unixMode(fi.Mode())
	mode := c.sharedMode(old, fi.IsDir())
	switch {
	case mode == old:
		return nil
	case f != nil:
		return f.Chmod(goMode(mode))
	default:
		return os.Chmod(p, goMode(mode))
	}
}

// mkdirs creates dir and its missing parents below base as git does: mode
// 0777 less the umask, adjusted for core.sharedRepository. A directory
// that needs adjusting is made under a temporary name and renamed into
// place once adjusted, so that a writer killed in between leaves no
// directory without the mode other users need, only a temporary one.
func (c repoConfig) mkdirs(base, dir string) error {
	err := c.mkdir(dir)
	switch {
	case err == nil, errors.Is(err, fs.ErrExist):
		return nil
	case !errors.Is(err, fs.ErrNotExist) || len(dir) <= len(base):
		return err
	}
	if err := c.mkdirs(base, filepath.Dir(dir)); err != nil {
		return err
	}
	if err := c.mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

func (c repoConfig) mkdir(dir string) error {
	if c.shared == 0 {
		return os.Mkdir(dir, 0o777)
	}
	if _, err := os.Lstat(dir); err == nil {
		return fs.ErrExist
	}
	tmp := filepath.Join(filepath.Dir(dir), tempDirPrefix+strconv.FormatUint(rand.Uint64(), 36))
	if err := os.Mkdir(tmp, 0o777); err != nil {
		return err
	}
	err := c.adjust(nil, tmp)
	if err == nil {
		// os.Rename refuses to replace a directory: one made meanwhile wins.
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// createShared creates the file p if it does not exist, empty, as create
// does, but whole: made under a temporary name and linked into place once
// adjusted, so that a writer killed in between leaves no file without the
// mode other users need.
func (c repoConfig) createShared(p string) error {
	if c.shared == 0 {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o666)
		if err != nil {
			return err
		}
		return f.Close()
	}
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	f, err := c.createTemp(filepath.Dir(p), tempFilePrefix, 0o666)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Close(); err != nil {
		return err
	}
	return linkNew(f.Name(), p)
}

// create creates the file p, which must not exist, for writing, with perm
// less the umask, adjusted for core.sharedRepository.
func (c repoConfig) create(p string, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	if err := c.adjust(f, ""); err != nil {
		f.Close()
		os.Remove(p)
		return nil, err
	}
	return f, nil
}

// createTemp creates a new file named prefix and a random suffix in dir,
// as create does.
func (c repoConfig) createTemp(dir, prefix string, perm fs.FileMode) (*os.File, error) {
	for {
		f, err := c.create(filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36)), perm)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
}

// unixMode returns the permission bits of m as chmod takes them.
func unixMode(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// goMode is unixMode's inverse.
func goMode(b uint32) fs.FileMode {
	m := fs.FileMode(b & 0o777)
	if b&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if b&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if b&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
