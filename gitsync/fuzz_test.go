package gitsync

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// pathSeeds are the paths ssm writes (added from the golden trees too)
// and the names git reserves, spelled as Windows and macOS alias them.
var pathSeeds = []string{
	"kustomization.yaml", "east/east-shop-73736d-web.yaml", "global/west/gl-shop-73736d-web.yaml", "bm/mirrors/shop.web.yaml",
	".ssm-revisions", "a b/c:d", "日本/語.yaml", "\xff\xfe", "a\nb", ".gitmodules", ".gitx", "..a", ".git~1", "git~2", "git~1x",
	".git", "a/.GIT/b", "git~1", "GIT~1/x", ".git.", ".git ", ".git. .", ".git:stream", ".g\u200cit", "\ufeff.git", ".gi\u206ft",
	"", "/a", "a/", "a//b", "./a", "a/./b", "a/..", "a\\b", "a\x00b",
}

// FuzzPathValidate: a path Validate accepts is relative, clean, has no
// empty, . or .. segment, no NUL or backslash, and no segment git takes
// for .git on any file system (checked against gitDotGit, written from
// git's path.c, and on a sample of inputs against the git CLI itself).
func FuzzPathValidate(f *testing.F) {
	for _, p := range append(pathSeeds, goldenPaths(f)...) {
		f.Add(p)
	}
	git := newGitChecker(f)
	f.Fuzz(func(t *testing.T, p string) {
		err := fileset.Files{p: nil}.Validate()
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(p)) {
				t.Fatalf("error does not name the path: %v", err)
			}
			return
		}
		switch {
		case p == "" || strings.HasPrefix(p, "/"):
			t.Fatalf("accepted %q: not a relative path", p)
		case path.Clean(p) != p:
			t.Fatalf("accepted %q: not clean (%q)", p, path.Clean(p))
		case strings.ContainsAny(p, "\x00\\"):
			t.Fatalf("accepted %q: NUL or backslash", p)
		}
		for seg := range strings.SplitSeq(p, "/") {
			if seg == "" || seg == "." || seg == ".." || gitDotGit(seg) {
				t.Fatalf("accepted %q: segment %q", p, seg)
			}
		}
		if git.sample() {
			if err := git.addPath(p); err != nil {
				t.Fatalf("accepted %q, which git refuses: %v", p, err)
			}
		}
	})
}

// FuzzBranchValidate: a branch RepoOptions.Validate accepts is one git
// accepts as a branch name (checked against gitBranchOK, written from git's
// refs.c, and on a sample of inputs against git check-ref-format --branch).
func FuzzBranchValidate(f *testing.F) {
	for _, b := range branchSeeds {
		f.Add(b)
	}
	bare := gittest.NewBare(f)
	git := newGitChecker(f)
	f.Fuzz(func(t *testing.T, b string) {
		if b == "" {
			return // "main"
		}
		err := RepoOptions{URL: bare, Branch: b}.Validate()
		if err != nil {
			if !strings.Contains(err.Error(), "branch") {
				t.Fatalf("error does not say the branch is at fault: %v", err)
			}
			return
		}
		if !gitBranchOK(b) {
			t.Fatalf("accepted branch %q, which git refuses", b)
		}
		if git.sample() {
			if err := git.checkBranch(b); err != nil {
				t.Fatalf("accepted branch %q, which git refuses: %v", b, err)
			}
		}
	})
}

var branchSeeds = []string{"main", "master", "ssm/mirrors", "release-1.0", "a/b/c", "feature@x", "日本", "@", "-x", "a/-x", "a.lock", "a/b.lock/c",
	"x..y", "x.", "a/.b", "a//b", "/a", "a/", "a{b", "a@{b", "@{-1}", "a b", "a\tb", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b", "a\x7fb", "refs/heads/x", "x/HEAD"}

// gitDotGit reports whether git (is_ntfs_dotgit or is_hfs_dotgit in
// path.c) takes the path component name for .git.
func gitDotGit(name string) bool {
	// NTFS: ".git" or "git~1", any case, then only dots and spaces up to
	// the end or a ':' (an alternate data stream).
	lower := strings.Map(func(r rune) rune { // ASCII only, as git's tolower
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, name)
	if rest, ok := strings.CutPrefix(lower, ".git"); ok || strings.HasPrefix(lower, "git~1") {
		if !ok {
			rest = lower[len("git~1"):]
		}
		if before, _, _ := strings.Cut(rest, ":"); strings.Trim(before, ". ") == "" {
			return true
		}
	}
	// HFS+: ".git", ASCII case folded, once the ignored code points are
	// dropped. git's next_hfs_char reads malformed UTF-8 as the end of the
	// name, so ".git\xff" is .git too.
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			name = name[:i]
			break
		}
		i += size
	}
	kept := strings.Map(func(r rune) rune {
		switch {
		case 0x200c <= r && r <= 0x200f, 0x202a <= r && r <= 0x202e, 0x206a <= r && r <= 0x206f, r == 0xfeff:
			return -1
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, name)
	return kept == ".git"
}

// gitBranchOK reports whether git's strbuf_check_branch_ref (refs.c and
// object-name.c) accepts b as a branch name, outside a repository.
func gitBranchOK(b string) bool {
	if strings.HasPrefix(b, "-") || b == "HEAD" {
		return false
	}
	ref := "refs/heads/" + b
	if strings.HasSuffix(ref, ".") {
		return false
	}
	for comp := range strings.SplitSeq(ref, "/") {
		if comp == "" || strings.HasPrefix(comp, ".") || strings.HasSuffix(comp, ".lock") ||
			strings.Contains(comp, "..") || strings.Contains(comp, "@{") {
			return false
		}
		for i := range len(comp) {
			if c := comp[i]; c < 0x20 || c == 0x7f || strings.IndexByte(" :?[\\^~*", c) >= 0 {
				return false
			}
		}
	}
	return true
}

// goldenPaths are the paths of the files in the repository's golden trees.
func goldenPaths(tb testing.TB) []string {
	var out []string
	wants, _ := filepath.Glob("../testdata/render/*/want")
	for _, want := range wants {
		err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(want, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no golden trees under ../testdata/render")
	}
	return out
}

// gitChecker asks the git CLI, in a repository of its own, whether it
// takes a path or a branch name. It runs on the first input a fuzzing
// process tries and on every sampleEvery-th after, so that a failure
// found by sampling reproduces when its input is run alone.
type gitChecker struct {
	git, repo, scratch string
	blob               string // the empty blob's id
	n                  int
}

const sampleEvery = 64

var gitEnv = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0"}

func newGitChecker(tb testing.TB) *gitChecker {
	bin, err := exec.LookPath("git")
	if err != nil {
		tb.Skip("no git binary: the cross-check against git needs it")
	}
	repo := gittest.NewBare(tb)
	blob := gittest.Git(tb, repo, "hash-object", "-w", "--stdin")
	return &gitChecker{git: bin, repo: repo, scratch: tb.TempDir(), blob: blob}
}

func (g *gitChecker) sample() bool {
	g.n++
	return g.n%sampleEvery == 1
}

func (g *gitChecker) run(dir string, extraEnv []string, args ...string) error {
	cmd := exec.Command(g.git, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), gitEnv...), extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %q: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// addPath adds the empty blob at p to a fresh index with the checks git
// runs on every platform (core.protectNTFS and core.protectHFS), and
// writes the tree.
func (g *gitChecker) addPath(p string) error {
	index := filepath.Join(g.scratch, "index")
	defer os.Remove(index)
	env := []string{"GIT_INDEX_FILE=" + index}
	if err := g.run(g.repo, env, "-c", "core.protectNTFS=true", "-c", "core.protectHFS=true",
		"update-index", "--add", "--cacheinfo", "100644,"+g.blob+","+p); err != nil {
		return err
	}
	return g.run(g.repo, env, "write-tree")
}

// checkBranch runs git check-ref-format --branch outside any repository,
// where @{-N} means nothing.
func (g *gitChecker) checkBranch(b string) error {
	return g.run(g.scratch, []string{"GIT_CEILING_DIRECTORIES=" + filepath.Dir(g.scratch)}, "check-ref-format", "--branch", b)
}

// TestValidateAgainstGit runs every seed and every input stored under
// testdata/fuzz through the git CLI: what Validate accepts git accepts,
// and what Validate refuses as .git git refuses too.
func TestValidateAgainstGit(t *testing.T) {
	t.Parallel()
	git := newGitChecker(t)
	for _, p := range slices.Concat(pathSeeds, stored(t, "FuzzPathValidate"), goldenPaths(t)) {
		if strings.Contains(p, "\x00") {
			continue // no argument can hold NUL
		}
		err, gitErr := fileset.Files{p: nil}.Validate(), git.addPath(p)
		switch {
		case err == nil && gitErr != nil:
			t.Errorf("Validate accepts %q, git refuses it: %v", p, gitErr)
		case err != nil && strings.HasSuffix(err.Error(), "git takes for .git") && gitErr == nil:
			t.Errorf("Validate refuses %q as .git, git accepts it", p)
		}
	}
	for _, b := range slices.Concat(branchSeeds, stored(t, "FuzzBranchValidate")) {
		if b == "" || strings.Contains(b, "\x00") {
			continue
		}
		err := RepoOptions{URL: git.repo, Branch: b}.Validate()
		if gitErr := git.checkBranch(b); err == nil && gitErr != nil {
			t.Errorf("Validate accepts branch %q, git refuses it: %v", b, gitErr)
		}
	}
}

// stored reads the string inputs of testdata/fuzz/<target>, as go test
// writes them.
func stored(t *testing.T, target string) []string {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	var out []string
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if q, ok := strings.CutPrefix(sc.Text(), "string("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				out = append(out, s)
			}
		}
	}
	return out
}
