package gitsync

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/internal/gittest"
)

func testSignature() object.Signature {
	return object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0).UTC()}
}

func TestGitCompare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a    string
		aDir bool
		b    string
		bDir bool
		want int // sign
	}{
		{a: "a", b: "b", want: -1},
		{a: "a", b: "a", want: 0},
		{a: "a", b: "a.yaml", want: -1},
		{a: "a", aDir: true, b: "a.yaml", want: 1}, // "a/" > "a."
		{a: "a", aDir: true, b: "a0", want: -1},    // "a/" < "a0"
		{a: "a-b", b: "a", bDir: true, want: -1},
		{a: "a", aDir: true, b: "a", bDir: true, want: 0},
	}
	for _, tt := range tests {
		got := gitCompare(tt.a, tt.aDir, tt.b, tt.bDir)
		if sign(got) != tt.want {
			t.Errorf("gitCompare(%q, %v, %q, %v) = %d, want sign %d", tt.a, tt.aDir, tt.b, tt.bDir, got, tt.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestCommitMessage(t *testing.T) {
	t.Parallel()
	many := func(n int, name func(int) string) []Change {
		var cs []Change
		for i := range n {
			cs = append(cs, Change{Path: name(i), Kind: Added})
		}
		return cs
	}
	tests := []struct {
		name      string
		changes   []Change
		wantLines int    // of the path list
		wantTail  string // last line
	}{
		{name: "few", changes: []Change{{Path: "a", Kind: Added}, {Path: "b", Kind: Removed}}, wantLines: 2, wantTail: "removed: b"},
		{name: "too many names", changes: many(60, func(i int) string { return fmt.Sprintf("f%02d.yaml", i) }), wantLines: 51, wantTail: "… and 10 more"},
		{name: "too many bytes", changes: many(40, func(i int) string { return fmt.Sprintf("%03d%s", i, strings.Repeat("x", 200)) }), wantLines: 20, wantTail: "… and 21 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := commitMessage("  Subject  ", tt.changes, nil)
			head, list, ok := strings.Cut(msg, "\n\n")
			if !ok || head != "Subject" {
				t.Fatalf("message %q: want subject line then a blank line", msg)
			}
			_, list, _ = strings.Cut(list, "\n\n")
			lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n")
			if len(lines) != tt.wantLines || lines[len(lines)-1] != tt.wantTail {
				t.Errorf("%d lines ending %q, want %d ending %q", len(lines), lines[len(lines)-1], tt.wantLines, tt.wantTail)
			}
			if len(list) > messageMaxBytes+100 {
				t.Errorf("list of %d bytes", len(list))
			}
		})
	}
}

func TestCommitMessageSubjectAndOddPaths(t *testing.T) {
	t.Parallel()
	changes := []Change{{Path: "a\nremoved: b", Kind: Added}, {Path: `"q"`, Kind: Added}, {Path: "é \u200c", Kind: Updated}}
	want := "Update rendered files\n\n2 added, 1 updated, 0 removed\n\n" +
		"added: \"a\\nremoved: b\"\nadded: \"\\\"q\\\"\"\nupdated: \"é \\u200c\"\n"
	for _, subject := range []string{"", " \n\t"} {
		if got := commitMessage(subject, changes, nil); got != want {
			t.Errorf("commitMessage(%q):\n%s\nwant:\n%s", subject, got, want)
		}
	}
}

func TestSyncPushesOnlyChangedObjects(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, "clusters/prod")
	files := Files{}
	for i := range 300 {
		files[fmt.Sprintf("ns%d/svc%03d.yaml", i%3, i)] = fmt.Appendf(nil, "name: svc%d\n", i)
	}
	mustSync(t, r, files)
	before := objectCount(t, bare)
	files["ns1/svc001.yaml"] = []byte("changed\n")
	res := mustSync(t, r, files)
	if !cmp.Equal(res.Updated, []string{"ns1/svc001.yaml"}) {
		t.Fatalf("Updated = %v", res.Updated)
	}
	// The blob, the trees ns1, prod, clusters and the root, the commit.
	if got := objectCount(t, bare) - before; got != 6 {
		t.Errorf("pushed %d objects, want 6", got)
	}
	gittest.Fsck(t, bare)
}

// objectCount returns how many objects a repository holds, loose or in packs.
func objectCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(gittest.Git(t, dir, "count-objects", "-v"), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k == "count" || k == "in-pack" {
			c, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			n += c
		}
	}
	return n
}
