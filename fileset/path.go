package fileset

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

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
	if why := PathProblem(p); why != "" {
		return fmt.Errorf("invalid file path %q: %s", p, why)
	}
	return nil
}

// ValidWrites validates the paths that changes write: a file left as it is
// stored was validated when it was written, or was not written by ssm, and
// a sync that changes one file of 10,000 checks one path.
func ValidWrites(changes []Change) error {
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

// PathProblem says what is wrong with the slash path p as Validate sees
// it, or "" if nothing: for paths that name no file, such as the folder a
// git sink owns.
func PathProblem(p string) string {
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
