// Package gitsync writes a rendered file set under one owned path and keeps
// that path equal to it: a directory sink (ApplyDir, WriteDir, DiffDir) and
// a git sink (Open, Repo.Apply, Repo.Sync) built on go-git. A write is a
// read-modify-write: the caller's Plan decides what to write from what is
// stored, in the same attempt that is written. It knows nothing about
// Kubernetes; it moves bytes. It imports no other package of this module
// but its own internal packages: remote, which reads and pushes a branch
// over http(s), ssh or a local path behind one interface, and flock, which
// serialises writers that share a directory.
package gitsync

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
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
	// subject; it is cut at MaxMessageBytes; Trailers still close it. An
	// error aborts the write. A directory sink ignores it.
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

// Validate rejects paths that could escape the owned path or that git and
// file systems treat differently: absolute, empty, "." or ".." segments,
// NUL, backslashes, and names git reserves: .git in any case and its
// aliases on Windows (git~1, trailing dots and spaces, a stream name after
// ':') and macOS (invisible Unicode), which git refuses to check out. It
// allocates nothing: it runs on every file of every sync.
func (f Files) Validate() error {
	for p := range f {
		if err := validPath(p); err != nil {
			return err
		}
	}
	return nil
}

func validPath(p string) error {
	if why := pathProblem(p); why != "" {
		return fmt.Errorf("invalid file path %q: %s", p, why)
	}
	return nil
}

// validWrites validates the paths that changes write: a file left as it is
// stored was validated when it was written, or was not written by ssm, and
// a sync that changes one file of 10,000 checks one path.
func validWrites(changes []Change) error {
	for _, c := range changes {
		if c.Kind == Removed {
			continue
		}
		if err := validPath(c.Path); err != nil {
			return err
		}
	}
	return nil
}

// validTrailers rejects trailers that git would not read back as one
// trailer each: a key of letters, digits and hyphens, ": ", and a value on
// one line.
func validTrailers(trailers []string) error {
	for _, t := range trailers {
		key, value, ok := strings.Cut(t, ": ")
		switch {
		case !ok || key == "":
			return fmt.Errorf("invalid trailer %q: must be \"Key: value\"", t)
		case strings.IndexFunc(key, notTokenRune) >= 0:
			return fmt.Errorf("invalid trailer %q: the key must hold only letters, digits and hyphens", t)
		case strings.TrimSpace(value) == "":
			return fmt.Errorf("invalid trailer %q: empty value", t)
		case strings.IndexFunc(value, unicode.IsControl) >= 0:
			return fmt.Errorf("invalid trailer %q: the value must not hold newlines or control characters", t)
		}
	}
	return nil
}

func notTokenRune(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-')
}

// pathProblem says what is wrong with the slash path p, or "" if nothing.
func pathProblem(p string) string {
	if p == "" {
		return "empty"
	}
	for rest := p; ; {
		seg, tail, more := strings.Cut(rest, "/")
		switch {
		case seg == "":
			return "must be a relative slash path without empty segments"
		case seg == "." || seg == "..":
			return "must not have . or .. segments"
		case strings.IndexByte(seg, 0) >= 0:
			return "must not hold NUL"
		case strings.IndexByte(seg, '\\') >= 0:
			return "must not hold backslashes"
		case isNTFSDotGit(seg) || isHFSDotGit(seg):
			return "must not have a segment that git takes for .git"
		}
		if !more {
			return ""
		}
		rest = tail
	}
}

// isNTFSDotGit reports whether Windows takes the name for .git: ".git" or
// its short name "git~1", in any case, followed by nothing but dots and
// spaces, which Windows drops, or by ':' and a stream name. It mirrors git's
// is_ntfs_dotgit.
func isNTFSDotGit(name string) bool {
	var rest string
	switch {
	case len(name) >= 4 && strings.EqualFold(name[:4], ".git"):
		rest = name[4:]
	case len(name) >= 5 && strings.EqualFold(name[:5], "git~1"):
		rest = name[5:]
	default:
		return false
	}
	for i := range len(rest) {
		switch rest[i] {
		case '.', ' ':
		case ':':
			return true
		default:
			return false
		}
	}
	return true
}

// isHFSDotGit reports whether macOS takes the name for .git: ".git" in
// any case once the code points HFS+ ignores are dropped. It mirrors git's
// is_hfs_dotgit.
func isHFSDotGit(name string) bool {
	const want = ".git"
	n := 0
	for i, r := range name {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size == 1 {
				// git's next_hfs_char reads malformed UTF-8 as the end of
				// the name: ".git\xff" is .git to it.
				return n == len(want)
			}
		}
		switch {
		case r >= 0x200c && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x206a && r <= 0x206f, r == 0xfeff:
			continue
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		}
		if n == len(want) || r != rune(want[n]) {
			return false
		}
		n++
	}
	return n == len(want)
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
