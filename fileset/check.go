package fileset

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aymanbagabas/go-udiff"
)

// CheckSink writes nothing: it prints on W how the directory Dir differs
// from what a Plan decides, as a unified diff that git apply takes, and
// reports the differences as its result. A directory that Ownership does
// not claim is refused, as DirSink refuses to write it: its diff would
// delete files that are not ours, and git apply would.
type CheckSink struct {
	Dir       string
	W         io.Writer
	Ownership Ownership
}

// Sync shows plan the directory's files and prints how they differ from
// its decision.
func (s CheckSink) Sync(_ context.Context, plan Plan) (Result, error) {
	if err := s.Ownership.Validate(); err != nil {
		return Result{}, err
	}
	stored, err := ReadDir(s.Dir)
	if err != nil {
		return Result{}, err
	}
	if !s.Ownership.owns(stored) {
		return Result{}, fmt.Errorf("refusing to compare %s: it is not empty and has no %s written by ssm, so its diff would delete files that are not ssm's; choose another directory",
			s.Dir, s.Ownership.File)
	}
	w, err := plan(storedFiles(stored))
	if err != nil {
		return Result{}, err
	}
	if err := validDirFiles(w.Files); err != nil { // what DirSink refuses to write
		return Result{}, err
	}
	changes := Diff(stored, w.Files)
	prefix := diffPrefix(s.Dir)
	for _, ch := range changes {
		if err := printChange(s.W, prefix, ch); err != nil {
			return Result{}, err
		}
	}
	return ResultOf(changes), nil
}

// diffPrefix is what the paths of a --check diff start with: the output
// directory relative to the working directory, so that `git apply` run
// there (a repository's root, say) takes the diff as it is. A directory
// outside the working directory gets paths relative to itself.
func diffPrefix(dir string) string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return ""
	}
	return filepath.ToSlash(rel)
}

// printChange writes one file's change as git writes a unified diff:
// a diff --git header, the mode of a file created or deleted, and hunks
// with three lines of context (go-udiff, the diff of gopls).
func printChange(w io.Writer, prefix string, ch Change) error {
	p := path.Join(prefix, ch.Path)
	var b strings.Builder
	fmt.Fprintf(&b, "diff --git a/%s b/%s\n", p, p)
	from, to := "a/"+p, "b/"+p
	switch ch.Kind {
	case Added:
		from = "/dev/null"
		b.WriteString("new file mode 100644\n")
	case Removed:
		to = "/dev/null"
		b.WriteString("deleted file mode 100644\n")
	}
	old, new := string(ch.Old), string(ch.New)
	d, err := udiff.ToUnified(from, to, old, udiff.Lines(old, new), udiff.DefaultContextLines)
	if err != nil {
		return fmt.Errorf("diff %s: %w", p, err)
	}
	b.WriteString(d)
	_, err = io.WriteString(w, b.String())
	return err
}
