package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ssm-dev/ssm/gitsync"
)

// maxDiffCells bounds the line-matching table of one file's diff; larger
// differences are shown as whole removed and added blocks.
const maxDiffCells = 4 << 20

// printChange writes a unified-style diff of one file.
func printChange(w io.Writer, dir string, ch gitsync.Change) error {
	path := filepath.Join(dir, ch.Path)
	from, to := "a/"+path, "b/"+path
	switch ch.Kind {
	case gitsync.Added:
		from = "/dev/null"
	case gitsync.Removed:
		to = "/dev/null"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", from, to)
	for _, l := range lineDiff(lines(ch.Old), lines(ch.New)) {
		b.WriteString(l)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func lines(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, string(b)+"\n")
			break
		}
		out = append(out, string(b[:i+1]))
		b = b[i+1:]
	}
	return out
}

// lineDiff returns the changed lines prefixed with "-" or "+", with one
// line of context around each change, by longest common subsequence.
func lineDiff(a, b []string) []string {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	var out []string
	if pre > 0 {
		out = append(out, " "+a[pre-1])
	}
	if len(ma)*len(mb) > maxDiffCells {
		for _, l := range ma {
			out = append(out, "-"+l)
		}
		for _, l := range mb {
			out = append(out, "+"+l)
		}
	} else {
		out = append(out, lcsDiff(ma, mb)...)
	}
	if suf > 0 {
		out = append(out, " "+a[len(a)-suf])
	}
	return out
}

func lcsDiff(a, b []string) []string {
	n, m := len(a), len(b)
	// l[i][j] is the LCS length of a[i:] and b[j:].
	l := make([][]int32, n+1)
	for i := range l {
		l[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, " "+a[i])
			i, j = i+1, j+1
		case j < m && (i == n || l[i][j+1] >= l[i+1][j]):
			out = append(out, "+"+b[j])
			j++
		default:
			out = append(out, "-"+a[i])
			i++
		}
	}
	return out
}
