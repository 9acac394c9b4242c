package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aymanbagabas/go-udiff"

	"github.com/ssm-dev/ssm/gitsync"
)

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
func printChange(w io.Writer, prefix string, ch gitsync.Change) error {
	p := path.Join(prefix, ch.Path)
	var b strings.Builder
	fmt.Fprintf(&b, "diff --git a/%s b/%s\n", p, p)
	from, to := "a/"+p, "b/"+p
	switch ch.Kind {
	case gitsync.Added:
		from = "/dev/null"
		b.WriteString("new file mode 100644\n")
	case gitsync.Removed:
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
