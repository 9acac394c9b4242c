package localrepo

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/gitsync/internal/pack"
	"github.com/ssm-dev/ssm/internal/gittest"
)

var main = plumbing.NewBranchReferenceName("main")

// open opens the repository at dir, logging to the test's output and to
// logs, if not nil.
func open(t testing.TB, dir string, logs io.Writer, mod ...func(*Options)) *Repo {
	t.Helper()
	w := t.Output()
	if logs != nil {
		w = io.MultiWriter(w, logs)
	}
	opts := Options{Logger: slog.New(slog.NewTextHandler(w, nil))}
	for _, m := range mod {
		m(&opts)
	}
	r, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

// newBare creates an empty bare repository whose HEAD is main, with
// git init's extra arguments and then the config settings given as
// key, value pairs.
func newBare(t testing.TB, initArgs []string, config ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo.git")
	gittest.Git(t, "", append(append([]string{"init", "-q", "--bare", "-b", "main"}, initArgs...), dir)...)
	for i := 0; i+1 < len(config); i += 2 {
		gittest.Git(t, dir, "config", config[i], config[i+1])
	}
	return dir
}

// newCommit returns a commit of the files (a flat tree) on parent (zero:
// none), with the objects it adds. Its time is fixed, so that the same
// arguments make the same commit in every process.
func newCommit(parent plumbing.Hash, files map[string]string, msg string) (plumbing.Hash, *pack.Objects) {
	objs := &pack.Objects{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	var tree []byte
	for _, name := range names {
		h := objs.Add(plumbing.BlobObject, []byte(files[name]))
		tree = append(fmt.Appendf(tree, "100644 %s\x00", name), h[:]...)
	}
	var c bytes.Buffer
	fmt.Fprintf(&c, "tree %s\n", objs.Add(plumbing.TreeObject, tree))
	if !parent.IsZero() {
		fmt.Fprintf(&c, "parent %s\n", parent)
	}
	fmt.Fprintf(&c, "author T <t@example.com> 1700000000 +0000\ncommitter T <t@example.com> 1700000000 +0000\n\n%s\n", msg)
	return objs.Add(plumbing.CommitObject, c.Bytes()), objs
}

// manyFiles returns n small files: a commit of them has more than
// unpackLimit objects, which go as a pack.
func manyFiles(n int, version string) map[string]string {
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("f%03d.yaml", i)] = fmt.Sprintf("%d %s\n", i, version)
	}
	return files
}

// mustUpdate moves ref from old to the commit of files on top of old and
// returns the commit.
func mustUpdate(t testing.TB, r *Repo, ref plumbing.ReferenceName, old plumbing.Hash, files map[string]string) plumbing.Hash {
	t.Helper()
	return mustCommit(t, r, ref, old, old, files)
}

// mustCommit moves ref from old to the commit of files on top of parent
// and returns the commit.
func mustCommit(t testing.TB, r *Repo, ref plumbing.ReferenceName, old, parent plumbing.Hash, files map[string]string) plumbing.Hash {
	t.Helper()
	c, objs := newCommit(parent, files, "update")
	if err := r.Update(t.Context(), ref, old, c, objs); err != nil {
		t.Fatalf("Update %s from %s: %v", ref.Short(), old, err)
	}
	return c
}

// revParse returns what git resolves name to, "" if nothing.
func revParse(t testing.TB, dir, name string) string {
	t.Helper()
	out, err := gitOut(dir, "rev-parse", "-q", "--verify", name)
	if err != nil {
		return ""
	}
	return out
}

// gitOut runs git in dir and returns its trimmed output, stdout and
// stderr together, and its error: for commands that may fail.
func gitOut(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=human@example.com")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// leftovers returns the lock files, temporary files and packs without an
// index in the repository.
func leftovers(t testing.TB, repo string) []string {
	t.Helper()
	var left []string
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		_, ierr := os.Lstat(strings.TrimSuffix(p, ".pack") + ".idx")
		orphan := strings.HasSuffix(name, ".pack") && ierr != nil
		if strings.HasSuffix(name, ".lock") || strings.Contains(name, "ssm") || strings.HasPrefix(name, "tmp_") || orphan {
			rel, _ := filepath.Rel(repo, p)
			left = append(left, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return left
}

var (
	objectDir   = regexp.MustCompile(`^objects/[0-9a-f]{2}$`)
	looseObject = regexp.MustCompile(`^objects/[0-9a-f]{2}/[0-9a-f]{38}$`)
)

// modesByKind returns the modes found in the repository at dir for each
// kind of file an update writes, sorted.
func modesByKind(t testing.TB, dir string) map[string][]string {
	t.Helper()
	kinds := map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		kind := fileKind(filepath.ToSlash(rel), d.IsDir())
		if kind == "" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if m := fi.Mode().String(); !slices.Contains(kinds[kind], m) {
			kinds[kind] = append(kinds[kind], m)
			slices.Sort(kinds[kind])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

// fileKind names the kind of the file at the slash path rel of a
// repository, "" for what an update does not create.
func fileKind(rel string, dir bool) string {
	switch {
	case dir && objectDir.MatchString(rel):
		return "object directory"
	case dir && strings.HasPrefix(rel, "logs"):
		return "reflog directory"
	case dir:
		return ""
	case looseObject.MatchString(rel):
		return "loose object"
	case strings.HasPrefix(rel, "objects/pack/pack-") && strings.HasSuffix(rel, ".pack"):
		return "pack"
	case strings.HasPrefix(rel, "objects/pack/pack-") && strings.HasSuffix(rel, ".idx"):
		return "pack index"
	case rel == "refs/heads/main":
		return "ref"
	case strings.HasPrefix(rel, "logs/"):
		return "reflog"
	}
	return ""
}

// zlibOf returns s compressed as a loose object file is.
func zlibOf(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
