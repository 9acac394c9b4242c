// Package gitsync keeps one owned path of a git branch equal to a file set:
// a git sink (Open, Repo.Apply, Repo.Sync) built on go-git. A write is a
// read-modify-write: the caller's fileset.Plan decides what to write from
// what the branch head stores, in the same attempt that is committed and
// pushed. It knows nothing about Kubernetes; it moves bytes. Of this
// module it imports fileset, whose file set, plan and ownership it writes,
// the leaf internal/redact, and its own internal packages: remote, which
// reads and pushes a branch over http(s), ssh or a local path behind one
// interface; pack, the objects a commit adds; and localrepo, below remote,
// a local bare repository written as git writes it.
package gitsync

import (
	"fmt"
	"strings"
	"unicode"
)

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
