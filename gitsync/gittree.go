package gitsync

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/gitsync/internal/pack"
)

// emptyTree is the hash of the tree with no entries.
var emptyTree = plumbing.ComputeHash(plumbing.TreeObject, nil)

// snapshot is what a Repo remembers of the branch head between syncs: just
// enough to build the next commit without the rest of the repository. Trees
// outside the owned path are kept by hash only, never read.
type snapshot struct {
	commit  plumbing.Hash // zero when the branch does not exist yet
	tree    plumbing.Hash // root tree of commit
	message string        // of commit, for Stored.Message
	// parents and committer ("Name <email>") of commit tell whether a push
	// branch's head is a commit ssm made on top of a base.
	parents   []plumbing.Hash
	committer string
	// spine[i] is the tree at the first i segments of the owned path, from
	// the root down to the owned path's parent.
	spine []treeLevel
	owned *dirNode // contents of the owned path, never nil
	// files are owned's files by path, once built (storedFiles); the
	// only part of a snapshot that changes: a commit moves them to the
	// next (handOver). irregular counts the files among them that are not
	// regular files (executables, links, submodules).
	filesMu   sync.Mutex // a Plan may ask for them from several goroutines
	files     fileset.Files
	irregular int
}

// treeLevel is one tree on the way from the root to the owned path.
type treeLevel struct {
	hash    plumbing.Hash // zero when the tree does not exist
	entries []object.TreeEntry
}

// dirNode is a directory below the owned path. Nodes are never modified once
// built: a sync copies the nodes on the paths it changes and shares all
// others, so a failed push leaves the snapshot as it was.
type dirNode struct {
	hash    plumbing.Hash
	names   []string // entry names in git tree order
	entries map[string]*entry
	files   int // non-directory entries below, recursively
}

// entry is a file (data holds a blob's contents) or a directory (dir).
type entry struct {
	mode filemode.FileMode
	hash plumbing.Hash
	data []byte
	dir  *dirNode
}

func (e *entry) isDir() bool { return e.mode == filemode.Dir }

func emptySnapshot(depth int) *snapshot {
	return &snapshot{tree: emptyTree, spine: make([]treeLevel, depth), owned: &dirNode{hash: emptyTree}}
}

// lookup returns the file at the slash path p, or nil. It allocates nothing,
// as it runs once per rendered file on every sync.
func (d *dirNode) lookup(p string) *entry {
	for {
		name, rest, deeper := strings.Cut(p, "/")
		e := d.entries[name]
		switch {
		case e == nil:
			return nil
		case !deeper && e.isDir(), deeper && !e.isDir():
			return nil
		case !deeper:
			return e
		}
		d, p = e.dir, rest
	}
}

// walk calls fn for every file below d, with its path below prefix.
func (d *dirNode) walk(prefix string, fn func(p string, e *entry)) {
	for _, name := range d.names {
		e := d.entries[name]
		if e.isDir() {
			e.dir.walk(prefix+name+"/", fn)
			continue
		}
		fn(prefix+name, e)
	}
}

// changesTo compares the owned files with files: by the file set when
// they are all regular files, one lookup a file however deep it is, else
// by the tree.
func (s *snapshot) changesTo(files fileset.Files) []fileset.Change {
	stored := s.storedFiles()
	if s.irregular > 0 {
		return s.owned.changesTo(files)
	}
	return fileset.Diff(stored, files)
}

// changesTo compares the stored files below d with files. Its cost is one
// lookup and comparison per rendered file; it walks the stored tree only
// when some stored file was not rendered.
func (d *dirNode) changesTo(files fileset.Files) []fileset.Change {
	var changes []fileset.Change
	matched := 0
	for p, data := range files {
		e := d.lookup(p)
		switch {
		case e == nil:
			changes = append(changes, fileset.Change{Path: p, Kind: fileset.Added, New: data})
			continue
		case e.mode != filemode.Regular || !bytes.Equal(e.data, data):
			changes = append(changes, fileset.Change{Path: p, Kind: fileset.Updated, Old: e.data, New: data})
		}
		matched++
	}
	if matched < d.files {
		d.walk("", func(p string, e *entry) {
			if _, ok := files[p]; !ok {
				changes = append(changes, fileset.Change{Path: p, Kind: fileset.Removed, Old: e.data})
			}
		})
	}
	slices.SortFunc(changes, func(a, b fileset.Change) int { return strings.Compare(a.Path, b.Path) })
	return changes
}

// edit sets (data) or removes the file at path, relative to a dirNode.
type edit struct {
	path   string
	data   []byte
	remove bool
}

// editGroup holds the edits of one entry of a directory: of the entry
// itself (self) and of the files below it (sub).
type editGroup struct {
	self *edit
	sub  []edit
}

// with returns a copy of d with edits applied, adding the new blobs and
// trees to objs. Only directories on an edited path are copied and
// re-encoded. prefix names d in errors.
func (d *dirNode) with(prefix string, edits []edit, objs *pack.Objects) (*dirNode, error) {
	if len(edits) == 0 {
		return d, nil
	}
	n := &dirNode{names: d.names, entries: maps.Clone(d.entries), files: d.files}
	if n.entries == nil {
		n.entries = map[string]*entry{}
	}
	groups := map[string]*editGroup{}
	var order []string
	for _, e := range edits {
		name, rest, deeper := strings.Cut(e.path, "/")
		g := groups[name]
		if g == nil {
			g = &editGroup{}
			groups[name] = g
			order = append(order, name)
		}
		if deeper {
			g.sub = append(g.sub, edit{path: rest, data: e.data, remove: e.remove})
		} else {
			g.self = &e
		}
	}
	owned := false // whether n.names may be modified in place
	for _, name := range order {
		if err := n.applyGroup(prefix, name, groups[name], objs, &owned); err != nil {
			return nil, err
		}
	}
	n.hash = objs.Add(plumbing.TreeObject, n.encode())
	return n, nil
}

// applyGroup applies the edits of one entry: a removal first, so that a file
// can become a directory; then the files below it; then a new file, which
// fails if a directory of the same name remains.
func (n *dirNode) applyGroup(prefix, name string, g *editGroup, objs *pack.Objects, owned *bool) error {
	if g.self != nil && g.self.remove {
		n.remove(name, owned)
	}
	if len(g.sub) > 0 {
		child := &dirNode{hash: emptyTree}
		if old := n.entries[name]; old != nil {
			if !old.isDir() {
				return fmt.Errorf("%s is a file, not a directory", path.Join(prefix, name))
			}
			child = old.dir
		}
		c, err := child.with(path.Join(prefix, name), g.sub, objs)
		if err != nil {
			return err
		}
		if len(c.entries) > 0 {
			n.set(name, &entry{mode: filemode.Dir, hash: c.hash, dir: c}, owned)
		} else {
			n.remove(name, owned) // git keeps no empty directories
		}
	}
	if g.self != nil && !g.self.remove {
		if old := n.entries[name]; old != nil && old.isDir() {
			return fmt.Errorf("%s is both a file and a directory", path.Join(prefix, name))
		}
		h := objs.Add(plumbing.BlobObject, g.self.data)
		n.set(name, &entry{mode: filemode.Regular, hash: h, data: g.self.data}, owned)
	}
	return nil
}

func (n *dirNode) remove(name string, owned *bool) {
	e := n.entries[name]
	if e == nil {
		return
	}
	i, _ := n.find(name, e.isDir())
	n.own(owned)
	n.names = slices.Delete(n.names, i, i+1)
	delete(n.entries, name)
	n.files -= e.count()
}

func (n *dirNode) set(name string, e *entry, owned *bool) {
	if old := n.entries[name]; old != nil && old.isDir() != e.isDir() {
		n.remove(name, owned) // it sorts elsewhere
	}
	if old := n.entries[name]; old != nil {
		n.files -= old.count()
	} else {
		i, _ := n.find(name, e.isDir())
		n.own(owned)
		n.names = slices.Insert(n.names, i, name)
	}
	n.entries[name] = e
	n.files += e.count()
}

// own copies names before its first change, as it is shared with the node
// n was copied from.
func (n *dirNode) own(owned *bool) {
	if !*owned {
		n.names = slices.Clone(n.names)
		*owned = true
	}
}

// find returns where name sorts among n.names.
func (n *dirNode) find(name string, dir bool) (int, bool) {
	return slices.BinarySearchFunc(n.names, name, func(have, want string) int {
		return gitCompare(have, n.entries[have].isDir(), want, dir)
	})
}

func (e *entry) count() int {
	if e.isDir() {
		return e.dir.files
	}
	return 1
}

// encode returns d in git's tree object format.
func (d *dirNode) encode() []byte {
	size := 0
	for _, name := range d.names {
		size += len(name) + 28
	}
	buf := make([]byte, 0, size)
	for _, name := range d.names {
		e := d.entries[name]
		buf = appendTreeEntry(buf, e.mode, name, e.hash)
	}
	return buf
}

func appendTreeEntry(buf []byte, mode filemode.FileMode, name string, h plumbing.Hash) []byte {
	buf = strconv.AppendUint(buf, uint64(mode), 8)
	buf = append(buf, ' ')
	buf = append(buf, name...)
	buf = append(buf, 0)
	return append(buf, h[:]...)
}

// gitCompare orders tree entries as git does: by name, with directories
// compared as if their name ended in a slash.
func gitCompare(a string, aDir bool, b string, bDir bool) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	next := func(s string, dir bool) int {
		switch {
		case len(s) > n:
			return int(s[n])
		case dir:
			return '/'
		default:
			return 0
		}
	}
	return next(a, aDir) - next(b, bDir)
}
