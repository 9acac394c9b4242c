// Package fileset holds what every output of ssm shares: a rendered file
// set (Files), what a sink stores (Stored), the Plan that decides what to
// write from it (Write), how two sets differ (Change, Diff) and what a
// write changed (Result); the ownership mark that keeps a sink from
// pruning files it did not write; crash-safe writes (a temporary file
// synced and renamed, directories synced, a lock that dies with its
// process); and the sinks that write no git: a directory (DirSink), a
// YAML stream (StreamSink) and a drift check printing a unified diff
// (CheckSink). It knows nothing of Kubernetes or git; it moves bytes. It
// imports no package of this module.
package fileset

import (
	"bytes"
	"slices"
	"strings"
)

// Files is a rendered file set: slash-separated paths relative to the owned
// path, mapped to their full contents. A sink keeps the contents it was
// given, and the caller must not modify them afterwards: a file rendered
// again unchanged (generate.Cache hands back the same slice) then compares
// equal at the cost of a pointer comparison, not of its bytes.
type Files map[string][]byte

// Stored is what the owned path holds before a write.
type Stored interface {
	// Files returns the stored files, paths relative to the owned path. A
	// git sink builds the set only when it is called. The caller must not
	// modify it, nor keep it after the write that showed it returns: the
	// sink makes it the set of its next commit, in place.
	Files() Files
	// Message returns the full message of the commit the branch points at:
	// "" for a directory sink or a branch without commits.
	Message() string
}

// Write is what a Plan decides to write.
type Write struct {
	// Files is exactly what the owned path must hold.
	Files Files
	// Subject is the first line of the commit; "Update rendered files"
	// when empty. A directory sink ignores it.
	Subject string
	// Trailers are "Key: value" lines, appended as the commit message's
	// last paragraph (a git trailer block, which git interpret-trailers
	// and forges read), after the list of changed paths. A directory sink
	// ignores them.
	Trailers []string
	// Message, when set, writes the commit message in place of Subject and
	// the list of changed paths, given the changes the commit makes (sorted
	// by path; with a push branch, from the base). Its first line is the
	// subject; a git sink cuts it at its maximum length; Trailers still
	// close it. An error aborts the write. A directory sink ignores it.
	Message func(changes []Change) (string, error)
}

// Plan decides what to write from what is stored. A sink calls it once per
// attempt, on what it has just read, so that the decision and the write
// see the same state; a git sink calls it again when a push was rejected
// because the branch moved. An error aborts the write, writing nothing, and
// is returned as it is. A Plan must not call the sink that calls it.
type Plan func(Stored) (Write, error)

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

// Paths returns the paths of f in sorted order.
func (f Files) Paths() []string {
	ps := make([]string, 0, len(f))
	for p := range f {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Diff compares what is stored with what was rendered, sorted by path. Its
// cost is one lookup and comparison per rendered file (the same slice
// compares equal at once); it walks stored only when some stored file was
// not rendered.
func Diff(stored, rendered Files) []Change {
	var changes []Change
	matched := 0
	for p, data := range rendered {
		old, ok := stored[p]
		switch {
		case !ok:
			changes = append(changes, Change{Path: p, Kind: Added, New: data})
			continue
		case !bytes.Equal(old, data):
			changes = append(changes, Change{Path: p, Kind: Updated, Old: old, New: data})
		}
		matched++
	}
	if matched < len(stored) {
		for p, old := range stored {
			if _, ok := rendered[p]; !ok {
				changes = append(changes, Change{Path: p, Kind: Removed, Old: old})
			}
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return changes
}

// ResultOf summarises changes as a Result.
func ResultOf(changes []Change) Result {
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

// storedFiles is a Stored read whole: a directory, or nothing.
type storedFiles Files

func (s storedFiles) Files() Files  { return Files(s) }
func (storedFiles) Message() string { return "" }
