// Package gittest runs real git servers on loopback and the git CLI for
// tests: bare repositories, pushes made as a person would make them, and
// reads of what a branch holds. Only tests import it; ssm itself never
// execs git. It imports none of ssm's packages, so that any package's tests
// may use it.
package gittest

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// env makes the git CLI and servers independent of the machine's
// configuration.
var env = []string{
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
	"GIT_AUTHOR_NAME=Human", "GIT_AUTHOR_EMAIL=human@example.com",
	"GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=human@example.com",
	// Tests read repositories other users wrote (a container's uid).
	"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*",
}

// Run runs the git binary bin in dir with stdin (which may be nil) and
// returns its standard output untrimmed. A test that takes git off PATH
// passes the binary's full path as bin.
func Run(t testing.TB, bin, dir string, stdin io.Reader, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// Git runs the git CLI in dir and returns its trimmed output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(string(Run(t, "git", dir, nil, args...)))
}

// NewBare creates an empty bare repository whose HEAD is main.
func NewBare(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo.git")
	Git(t, "", "init", "-q", "--bare", "-b", "main", dir)
	return dir
}

// HumanPush commits to main of bare as a person with the git CLI would:
// change edits a fresh shallow clone of it. It returns the commit.
func HumanPush(t testing.TB, bare string, change func(work string), msg string) string {
	t.Helper()
	work := t.TempDir()
	Git(t, work, "init", "-q", "-b", "main")
	Git(t, work, "remote", "add", "origin", bare)
	if Git(t, work, "ls-remote", "origin", "refs/heads/main") != "" {
		Git(t, work, "fetch", "-q", "--depth=1", "origin", "main")
		Git(t, work, "reset", "-q", "--hard", "FETCH_HEAD")
	}
	change(work)
	Git(t, work, "add", "-A")
	Git(t, work, "commit", "-q", "--allow-empty", "-m", msg)
	Git(t, work, "push", "-q", "origin", "HEAD:main")
	return Git(t, work, "rev-parse", "HEAD")
}

// WriteFiles writes files, keyed by slash-separated path, below dir.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, s := range files {
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// BranchFiles returns every file on branch of the repository at dir with
// its contents, read with the git CLI.
func BranchFiles(t testing.TB, dir, branch string) map[string]string {
	t.Helper()
	files := map[string]string{}
	var hashes, paths []string
	for _, line := range strings.Split(string(Run(t, "git", dir, nil, "ls-tree", "-r", "-z", branch)), "\x00") {
		if line == "" {
			continue
		}
		meta, p, _ := strings.Cut(line, "\t")
		f := strings.Fields(meta)
		hashes, paths = append(hashes, f[2]), append(paths, p)
	}
	out := bufio.NewReader(bytes.NewReader(Run(t, "git", dir, strings.NewReader(strings.Join(hashes, "\n")+"\n"), "cat-file", "--batch")))
	for _, p := range paths {
		hdr, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(hdr)
		size, _ := strconv.Atoi(f[len(f)-1])
		b := make([]byte, size+1)
		if _, err := io.ReadFull(out, b); err != nil {
			t.Fatal(err)
		}
		files[p] = string(b[:size])
	}
	return files
}

// CommitCount returns how many commits branch has.
func CommitCount(t testing.TB, dir, branch string) int {
	t.Helper()
	n, err := strconv.Atoi(Git(t, dir, "rev-list", "--count", branch))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Fsck fails the test if git finds anything wrong in the repository.
func Fsck(t testing.TB, dir string) {
	t.Helper()
	Git(t, dir, "fsck", "--strict", "--no-dangling", "--no-progress")
}
