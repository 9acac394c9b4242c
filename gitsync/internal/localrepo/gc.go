package localrepo

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/gitsync/internal/pack"
)

// defaultGCAuto is git's gc.auto default: about this many loose objects
// make `git gc --auto`, which a push through git's receive-pack runs,
// pack them.
const defaultGCAuto = 6700

// autoPack packs the repository's loose objects once there are about
// cfg.gcAuto of them, as git gc --auto does after a push to a git server,
// so that a repository ssm writes directly stays as compact: the pack and
// its index first, then the loose copies go (git prune-packed). It runs
// under the repository's flock, after an update.
func (r *Repo) autoPack(cfg repoConfig) error {
	if cfg.gcAuto <= 0 || !tooManyLoose(r.dir, cfg.gcAuto) {
		return nil
	}
	objs, files, err := readLooseObjects(filepath.Join(r.dir, "objects"))
	if err != nil || objs.Len() == 0 {
		return err
	}
	if err := r.writePack(cfg, objs); err != nil {
		return fmt.Errorf("pack loose objects: %w", err)
	}
	for _, f := range files {
		_ = os.Remove(f) // in the pack now; one left behind is harmless
	}
	r.log.Info("packed the loose objects of the local repository", "objects", objs.Len())
	return nil
}

// tooManyLoose estimates, as git's too_many_loose_objects does, from one
// fan-out folder (objects/17), whether more than limit objects are loose.
func tooManyLoose(dir string, limit int) bool {
	names := readDirNames(filepath.Join(dir, "objects", "17"))
	n := 0
	for _, name := range names {
		if len(name) == 38 && isHex(name) {
			n++
		}
	}
	return n > (limit+255)/256
}

// readLooseObjects reads every loose object of the objects folder dir.
func readLooseObjects(dir string) (*pack.Objects, []string, error) {
	objs := &pack.Objects{}
	var files []string
	for i := range 256 {
		fan := fmt.Sprintf("%02x", i)
		for _, name := range readDirNames(filepath.Join(dir, fan)) {
			if len(name) != 38 || !isHex(name) {
				continue // a temporary file, being written
			}
			p := filepath.Join(dir, fan, name)
			typ, data, err := readLoose(p)
			if err != nil {
				return nil, nil, fmt.Errorf("read %s: %w", p, err)
			}
			if h := objs.Add(typ, data); h.String() != fan+name {
				return nil, nil, fmt.Errorf("read %s: it holds object %s", p, h)
			}
			files = append(files, p)
		}
	}
	return objs, files, nil
}

// readLoose reads a loose object file: zlib of "<type> <size>\0<data>".
func readLoose(p string) (plumbing.ObjectType, []byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	zr, err := zlib.NewReader(f)
	if err != nil {
		return 0, nil, err
	}
	defer zr.Close()
	raw, err := io.ReadAll(zr)
	if err != nil {
		return 0, nil, err
	}
	hdr, data, ok := bytes.Cut(raw, []byte{0})
	typName, sizeStr, ok2 := bytes.Cut(hdr, []byte{' '})
	size, err := strconv.Atoi(string(sizeStr))
	if !ok || !ok2 || err != nil || size != len(data) {
		return 0, nil, fmt.Errorf("not a loose object")
	}
	typ, err := plumbing.ParseObjectType(string(typName))
	return typ, data, err
}
