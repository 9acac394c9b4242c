package localrepo

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/gitsync/internal/pack"
)

// writeLoose writes each object to its own file, as git's unpack-objects
// does, unless it is there already.
func (r *Repo) writeLoose(cfg repoConfig, objs *pack.Objects) error {
	objects := filepath.Join(r.dir, "objects")
	for h, o := range objs.All() {
		hex := h.String()
		dir := filepath.Join(objects, hex[:2])
		final := filepath.Join(dir, hex[2:])
		if _, err := os.Lstat(final); err == nil {
			continue
		}
		if err := r.writeObjectFile(cfg, dir, final, o); err != nil {
			return err
		}
	}
	return nil
}

// writeObjectFile writes o compressed to a temporary file in dir, syncs it
// and links it to final, as git does: an object file is never seen half
// written, and one that another writer linked first is kept.
func (r *Repo) writeObjectFile(cfg repoConfig, dir, final string, o pack.Object) error {
	// Read-only, as git makes objects: nothing rewrites them in place.
	const perm = 0o444
	f, err := cfg.createTemp(dir, tempObjectPrefix, perm)
	if errors.Is(err, fs.ErrNotExist) {
		if err := cfg.mkdirs(r.dir, dir); err != nil {
			return err
		}
		f, err = cfg.createTemp(dir, tempObjectPrefix, perm)
	}
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	bw := r.enc.Buffer(f)
	err = r.enc.WriteLoose(bw, o)
	if err == nil {
		err = bw.Flush()
	}
	if err := fileset.SyncAndClose(f, err); err != nil {
		return err
	}
	return linkNew(f.Name(), final)
}

// writePack writes objs as one pack with its index, as git's index-pack
// does: each to a temporary file, synced, then the pack and last the index
// linked into place, as git uses a pack only once its index is there.
func (r *Repo) writePack(cfg repoConfig, objs *pack.Objects) error {
	dir := filepath.Join(r.dir, "objects", "pack")
	if err := cfg.mkdirs(r.dir, dir); err != nil {
		return err
	}
	packFile, err := cfg.createTemp(dir, tempPackPrefix, 0o444)
	if err != nil {
		return err
	}
	defer os.Remove(packFile.Name())
	var iw idxfile.Writer
	bw := r.enc.Buffer(packFile)
	err = r.enc.WritePack(bw, objs, &iw)
	if err == nil {
		err = bw.Flush()
	}
	if err := fileset.SyncAndClose(packFile, err); err != nil {
		return err
	}
	index, err := iw.Index()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := idxfile.NewEncoder(&buf).Encode(index); err != nil {
		return err
	}
	idx, err := cfg.createTemp(dir, tempIdxPrefix, 0o444)
	if err != nil {
		return err
	}
	defer os.Remove(idx.Name())
	_, err = idx.Write(buf.Bytes())
	if err := fileset.SyncAndClose(idx, err); err != nil {
		return err
	}
	base := filepath.Join(dir, "pack-"+plumbing.Hash(index.PackfileChecksum).String())
	if err := linkNew(packFile.Name(), base+".pack"); err != nil {
		return err
	}
	return linkNew(idx.Name(), base+".idx")
}

// linkNew links the file tmp to final unless final exists: objects and
// packs are named by their contents, so an existing one is the same.
func linkNew(tmp, final string) error {
	if err := os.Link(tmp, final); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
