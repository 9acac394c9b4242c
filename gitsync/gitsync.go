// Package gitsync writes a rendered file set under one owned path and keeps
// that path equal to it: a directory sink (WriteDir, DiffDir) and a git sink
// (Open, Repo.Sync) built on go-git. It knows nothing about Kubernetes; it
// moves bytes. It imports no other package of this module.
package gitsync

import (
	"fmt"
	"slices"
	"strings"
)

// Files is a rendered file set: slash-separated paths relative to the owned
// path, mapped to their full contents.
type Files map[string][]byte

// Result says what a sync changed. A sync that changed nothing is a normal
// outcome: Changed is false and nothing was written or committed.
type Result struct {
	Changed bool
	// Added, Updated and Removed hold sorted paths relative to the owned path.
	Added, Updated, Removed []string
	// Commit is the hash of the commit a git sync pushed; empty otherwise.
	Commit string
	// Retries counts pushes retried because the branch moved meanwhile.
	Retries int
}

// ChangeKind says how a file differs between what is stored and what was rendered.
type ChangeKind string

const (
	Added   ChangeKind = "added"
	Updated ChangeKind = "updated"
	Removed ChangeKind = "removed"
)

// Change is one file that differs: Old is what is stored (nil when added),
// New what was rendered (nil when removed).
type Change struct {
	Path     string
	Kind     ChangeKind
	Old, New []byte
}

// Validate rejects paths that could escape the owned path or that git and
// file systems treat differently: absolute, unclean, empty or dot segments,
// backslashes and .git folders. It allocates nothing: it runs on every file
// of every sync.
func (f Files) Validate() error {
	for p := range f {
		if !validPath(p) {
			return fmt.Errorf("invalid file path %q: must be a clean relative slash path", p)
		}
	}
	return nil
}

func validPath(p string) bool {
	if p == "" || strings.ContainsRune(p, '\\') {
		return false
	}
	for rest := p; ; {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "" || seg == "." || seg == ".." || seg == ".git" {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

// Paths returns the paths of f in sorted order.
func (f Files) Paths() []string {
	ps := make([]string, 0, len(f))
	for p := range f {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// resultOf summarises changes as a Result.
func resultOf(changes []Change) Result {
	var r Result
	for _, c := range changes {
		switch c.Kind {
		case Added:
			r.Added = append(r.Added, c.Path)
		case Updated:
			r.Updated = append(r.Updated, c.Path)
		case Removed:
			r.Removed = append(r.Removed, c.Path)
		}
	}
	r.Changed = len(changes) > 0
	return r
}
