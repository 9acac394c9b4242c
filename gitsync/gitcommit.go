package gitsync

import (
	"cmp"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/gitsync/internal/pack"
)

// next returns the snapshot after changes and the objects it adds: a blob
// per written file and a tree per directory on the path to one, up to the
// root. Every other entry is kept by hash. The commit is left unset.
func (s *snapshot) next(parts []string, changes []fileset.Change) (*snapshot, *pack.Objects, error) {
	objs := &pack.Objects{}
	if len(changes) == 0 {
		return s, objs, nil
	}
	edits := make([]edit, 0, len(changes))
	for _, c := range changes {
		if c.Kind == fileset.Removed {
			edits = append(edits, edit{path: c.Path, remove: true})
			continue
		}
		// Kept, not copied (see Files): the next sync compares the same
		// slice in constant time.
		edits = append(edits, edit{path: c.Path, data: c.New})
	}
	owned, err := s.owned.with(path.Join(parts...), edits, objs)
	if err != nil {
		return nil, nil, err
	}
	n := &snapshot{owned: owned, spine: make([]treeLevel, len(parts))}
	child, present := owned.hash, len(owned.entries) > 0
	for i := len(parts) - 1; i >= 0; i-- {
		entries := withEntry(s.spine[i].entries, parts[i], child, present)
		lvl := treeLevel{entries: entries}
		if len(entries) > 0 || i == 0 { // git keeps no empty trees but the root
			lvl.hash = objs.Add(plumbing.TreeObject, encodeEntries(entries))
		}
		n.spine[i] = lvl
		child, present = lvl.hash, len(entries) > 0
	}
	n.tree = child
	return n, objs, nil
}

// withEntry returns a copy of the tree entries with the directory name
// pointing at h, or removed when present is false.
func withEntry(entries []object.TreeEntry, name string, h plumbing.Hash, present bool) []object.TreeEntry {
	out := slices.Clone(entries)
	if i := findEntry(out, name); i >= 0 {
		if !present {
			return slices.Delete(out, i, i+1)
		}
		out[i].Hash = h
		return out
	}
	if !present {
		return out
	}
	i, _ := slices.BinarySearchFunc(out, name, func(e object.TreeEntry, name string) int {
		return gitCompare(e.Name, e.Mode == filemode.Dir, name, true)
	})
	return slices.Insert(out, i, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
}

func encodeEntries(entries []object.TreeEntry) []byte {
	var buf []byte
	for _, e := range entries {
		buf = appendTreeEntry(buf, e.Mode, e.Name, e.Hash)
	}
	return buf
}

// commitObject returns the encoded commit of tree on top of parent (none
// when zero), signed by s unless s is nil. A signed commit is verified as
// encoded, so that what is pushed is what git verify-commit accepts.
func commitObject(tree, parent plumbing.Hash, sig object.Signature, msg string, s signer) ([]byte, error) {
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	payload, err := encodeCommit(c)
	if err != nil || s == nil {
		return payload, err
	}
	if c.PGPSignature, err = s.sign(payload); err != nil {
		return nil, fmt.Errorf("sign commit with %s: %w", s, err)
	}
	data, err := encodeCommit(c)
	if err != nil {
		return nil, err
	}
	if err := verifyCommit(s, data); err != nil {
		return nil, fmt.Errorf("refusing to push a commit whose signature does not verify with %s: %w", s, err)
	}
	return data, nil
}

func encodeCommit(c *object.Commit) ([]byte, error) {
	obj := &plumbing.MemoryObject{}
	if err := c.Encode(obj); err != nil {
		return nil, fmt.Errorf("encode commit: %w", err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("encode commit: %w", err)
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Limits of the list of changed paths in a commit message.
const (
	messageMaxNames = 50
	messageMaxBytes = 4 << 10
)

// defaultSubject is the first line of a commit whose caller gave none: git
// tools show the first line as the commit's title.
const defaultSubject = "Update rendered files"

// commitMessage returns subject followed by the counts of changes and the
// changed paths, cut after messageMaxNames names or messageMaxBytes bytes,
// and the trailers as the last paragraph, where git looks for them. A path
// with a newline or another control character is quoted, so that each line
// names one path.
func commitMessage(subject string, changes []fileset.Change, trailers []string) string {
	counts := map[fileset.ChangeKind]int{}
	for _, c := range changes {
		counts[c.Kind]++
	}
	var b strings.Builder
	b.WriteString(cmp.Or(strings.TrimSpace(subject), defaultSubject))
	fmt.Fprintf(&b, "\n\n%d added, %d updated, %d removed\n\n", counts[fileset.Added], counts[fileset.Updated], counts[fileset.Removed])
	start := b.Len()
	for i, c := range changes {
		line := fmt.Sprintf("%s: %s\n", c.Kind, messagePath(c.Path))
		if i == messageMaxNames || b.Len()-start+len(line) > messageMaxBytes {
			fmt.Fprintf(&b, "… and %d more\n", len(changes)-i)
			break
		}
		b.WriteString(line)
	}
	if len(trailers) > 0 {
		b.WriteByte('\n')
		for _, t := range trailers {
			b.WriteString(t)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// MaxMessageBytes bounds a commit message that a Write's Message writes:
// what is longer is cut at the last line that fits, and says so.
const MaxMessageBytes = 16 << 10

// messageOf returns the commit message of w for changes: w.Message's, or
// by default the subject, the counts and the changed paths; w.Trailers
// close it either way.
func messageOf(w fileset.Write, changes []fileset.Change) (string, error) {
	if w.Message == nil {
		return commitMessage(w.Subject, changes, w.Trailers), nil
	}
	body, err := w.Message(changes)
	if err != nil {
		return "", fmt.Errorf("write the commit message: %w", err)
	}
	return writtenMessage(body, w.Subject, w.Trailers), nil
}

// writtenMessage tidies a message its caller wrote: valid UTF-8 without
// NUL, no blank lines before the subject nor trailing space, at most
// MaxMessageBytes, the subject (or defaultSubject) when it is empty. The
// trailers join the message's last paragraph when that is a trailer block
// already (a template's Signed-off-by:), as git reads only the last
// paragraph's; otherwise they make one.
func writtenMessage(body, subject string, trailers []string) string {
	body = strings.ReplaceAll(strings.ToValidUTF8(body, "\uFFFD"), "\x00", "")
	body = strings.TrimRightFunc(strings.TrimLeft(body, "\r\n"), unicode.IsSpace)
	if len(body) > MaxMessageBytes {
		cut := strings.LastIndexByte(body[:MaxMessageBytes], '\n')
		if cut <= 0 {
			cut = MaxMessageBytes
		}
		body = strings.ToValidUTF8(body[:cut], "") + fmt.Sprintf("\n\n(message cut at %d KiB)", MaxMessageBytes>>10)
	}
	if strings.TrimSpace(body) == "" {
		body = cmp.Or(strings.TrimSpace(subject), defaultSubject)
	}
	if len(trailers) == 0 {
		return body + "\n"
	}
	sep := "\n\n"
	if i := strings.LastIndex(body, "\n\n"); i > 0 && isTrailerBlock(body[i+2:]) {
		sep = "\n"
	}
	return body + sep + strings.Join(trailers, "\n") + "\n"
}

// isTrailerBlock reports whether every line of p is a "Key: value" trailer.
func isTrailerBlock(p string) bool {
	for line := range strings.SplitSeq(p, "\n") {
		if validTrailers([]string{line}) != nil {
			return false
		}
	}
	return true
}

// messagePath returns p as a commit message lists it: quoted, Go style, if
// it holds a quote, invalid UTF-8 or anything unprintable, such as a
// newline.
func messagePath(p string) string {
	if q := strconv.Quote(p); q[1:len(q)-1] != p {
		return q
	}
	return p
}
