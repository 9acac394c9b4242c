package gitsync

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssm-dev/ssm/fileset"
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
	many := func(n int, name func(int) string) []fileset.Change {
		var cs []fileset.Change
		for i := range n {
			cs = append(cs, fileset.Change{Path: name(i), Kind: fileset.Added})
		}
		return cs
	}
	tests := []struct {
		name      string
		changes   []fileset.Change
		wantLines int    // of the path list
		wantTail  string // last line
	}{
		{name: "few", changes: []fileset.Change{{Path: "a", Kind: fileset.Added}, {Path: "b", Kind: fileset.Removed}}, wantLines: 2, wantTail: "removed: b"},
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
	changes := []fileset.Change{{Path: "a\nremoved: b", Kind: fileset.Added}, {Path: `"q"`, Kind: fileset.Added}, {Path: "é \u200c", Kind: fileset.Updated}}
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
	files := fileset.Files{}
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

// A snapshot compares by its file set what its tree compares by lookups,
// and falls back to the tree when some stored file is not a regular one.
func TestSnapshotChangesTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	file := func() string { return fmt.Sprintf("d%d/f%d", rng.IntN(3), rng.IntN(6)) }
	for i := range 200 {
		base := emptySnapshot(0)
		stored := fileset.Files{}
		var edits []fileset.Change
		for range rng.IntN(12) {
			p := file()
			if rng.IntN(8) == 0 {
				p = strings.Split(p, "/")[0] + "x" // a file beside the folders
			}
			stored[p] = []byte(p)
		}
		for p, b := range stored {
			edits = append(edits, fileset.Change{Path: p, Kind: fileset.Added, New: b})
		}
		snap, _, err := base.next(nil, edits)
		if err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 && len(stored) > 0 { // an executable among them
			for _, e := range snap.owned.entries {
				if !e.isDir() {
					e.mode = filemode.Executable
					break
				}
			}
		}
		rendered := fileset.Files{}
		for p, b := range stored {
			switch rng.IntN(4) {
			case 0: // removed
			case 1:
				rendered[p] = []byte(p + "!")
			default:
				rendered[p] = b // the very slice
			}
		}
		for range rng.IntN(3) {
			rendered[file()] = []byte("new")
		}
		want := snap.owned.changesTo(rendered)
		if diff := cmp.Diff(want, snap.changesTo(rendered), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("case %d: by file set (-tree +set):\n%s", i, diff)
		}
	}
}
