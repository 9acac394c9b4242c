package gitsync

import (
	"fmt"
	"io"
	"path"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// readSnapshot reads what Repo needs of commit from sto: the trees down to
// the owned path and everything below it. Trees and blobs whose hash did
// not change since prev are taken from prev, as a fetch that announced prev
// as known does not send them again.
func readSnapshot(sto storer.EncodedObjectStorer, commit plumbing.Hash, parts []string, prev *snapshot) (*snapshot, error) {
	c, err := object.GetCommit(sto, commit)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", commit, err)
	}
	s := &snapshot{commit: commit, tree: c.TreeHash, message: c.Message, parents: c.ParentHashes,
		committer: c.Committer.Name + " <" + c.Committer.Email + ">"}
	h := c.TreeHash
	for i, name := range parts {
		lvl := treeLevel{hash: h}
		switch {
		case h.IsZero():
		case prev != nil && prev.spine[i].hash == h:
			lvl = prev.spine[i]
		default:
			t, err := object.GetTree(sto, h)
			if err != nil {
				return nil, fmt.Errorf("read tree /%s: %w", path.Join(parts[:i]...), err)
			}
			lvl.entries = t.Entries
		}
		s.spine = append(s.spine, lvl)
		h = plumbing.ZeroHash
		if j := findEntry(lvl.entries, name); j >= 0 {
			if lvl.entries[j].Mode != filemode.Dir {
				return nil, fmt.Errorf("%s is a file in the repository, not a directory", path.Join(parts[:i+1]...))
			}
			h = lvl.entries[j].Hash
		}
	}
	var prevOwned *dirNode
	if prev != nil {
		prevOwned = prev.owned
	}
	if s.owned, err = readDir(sto, h, prevOwned); err != nil {
		return nil, err
	}
	return s, nil
}

// readDir reads the tree h and everything below it.
func readDir(sto storer.EncodedObjectStorer, h plumbing.Hash, prev *dirNode) (*dirNode, error) {
	if h.IsZero() {
		return &dirNode{hash: emptyTree}, nil
	}
	if prev != nil && prev.hash == h {
		return prev, nil
	}
	t, err := object.GetTree(sto, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	d := &dirNode{hash: h, entries: make(map[string]*entry, len(t.Entries))}
	for _, te := range t.Entries {
		var old *entry
		if prev != nil {
			old = prev.entries[te.Name]
		}
		e := &entry{mode: te.Mode, hash: te.Hash}
		switch {
		case te.Mode == filemode.Dir:
			var oldDir *dirNode
			if old != nil && old.isDir() {
				oldDir = old.dir
			}
			if e.dir, err = readDir(sto, te.Hash, oldDir); err != nil {
				return nil, err
			}
		case te.Mode == filemode.Submodule: // a commit of another repository: no blob
		case old != nil && old.hash == te.Hash && !old.isDir():
			e.data = old.data
		default:
			if e.data, err = readBlob(sto, te.Hash); err != nil {
				return nil, err
			}
		}
		d.names = append(d.names, te.Name)
		d.entries[te.Name] = e
		d.files += e.count()
	}
	slices.SortFunc(d.names, func(a, b string) int {
		return gitCompare(a, d.entries[a].isDir(), b, d.entries[b].isDir())
	})
	return d, nil
}

func readBlob(sto storer.EncodedObjectStorer, h plumbing.Hash) ([]byte, error) {
	obj, err := sto.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return b, nil
}

// findEntry returns the index of the directory entry name, or -1.
func findEntry(entries []object.TreeEntry, name string) int {
	for i, e := range entries {
		if e.Name == name {
			return i
		}
	}
	return -1
}
