package gitsync

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// gitEnv makes the git CLI in tests independent of the machine's
// configuration.
var gitEnv = []string{
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
	"GIT_AUTHOR_NAME=Human", "GIT_AUTHOR_EMAIL=human@example.com",
	"GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=human@example.com",
}

// gitRaw runs the git binary bin in dir and returns its standard output.
func gitRaw(t testing.TB, bin, dir string, stdin io.Reader, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// git runs the git CLI in dir and returns its trimmed output.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(string(gitRaw(t, "git", dir, nil, args...)))
}

// newBare creates an empty bare repository whose HEAD is main.
func newBare(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo.git")
	git(t, "", "init", "-q", "--bare", "-b", "main", dir)
	return dir
}

// humanPush commits to main of bare as a person with the git CLI would:
// change edits a fresh shallow clone of it. It returns the commit.
func humanPush(t testing.TB, bare string, change func(work string), msg string) string {
	t.Helper()
	work := t.TempDir()
	git(t, work, "init", "-q", "-b", "main")
	git(t, work, "remote", "add", "origin", bare)
	if git(t, work, "ls-remote", "origin", "refs/heads/main") != "" {
		git(t, work, "fetch", "-q", "--depth=1", "origin", "main")
		git(t, work, "reset", "-q", "--hard", "FETCH_HEAD")
	}
	change(work)
	git(t, work, "add", "-A")
	git(t, work, "commit", "-q", "--allow-empty", "-m", msg)
	git(t, work, "push", "-q", "origin", "HEAD:main")
	return git(t, work, "rev-parse", "HEAD")
}

// writeFiles writes files below dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
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

// branchFiles returns every file on branch of the repository at dir with
// its contents, read with the git CLI.
func branchFiles(t testing.TB, dir, branch string) map[string]string {
	t.Helper()
	files := map[string]string{}
	var hashes, paths []string
	for _, line := range strings.Split(string(gitRaw(t, "git", dir, nil, "ls-tree", "-r", "-z", branch)), "\x00") {
		if line == "" {
			continue
		}
		meta, p, _ := strings.Cut(line, "\t")
		f := strings.Fields(meta)
		hashes, paths = append(hashes, f[2]), append(paths, p)
	}
	out := bufio.NewReader(bytes.NewReader(gitRaw(t, "git", dir, strings.NewReader(strings.Join(hashes, "\n")+"\n"), "cat-file", "--batch")))
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

// commitCount returns how many commits branch has.
func commitCount(t testing.TB, dir, branch string) int {
	t.Helper()
	n, err := strconv.Atoi(git(t, dir, "rev-list", "--count", branch))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fsck fails the test if git finds anything wrong in the repository.
func fsck(t testing.TB, dir string) {
	t.Helper()
	git(t, dir, "fsck", "--strict", "--no-dangling", "--no-progress")
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestLogger logs to the test's output and to w.
func newTestLogger(t testing.TB, w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), w), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// open opens a Repo on the main branch of url with path as the owned path.
func open(t testing.TB, url, path string, mod ...func(*RepoOptions)) *Repo {
	t.Helper()
	opts := RepoOptions{URL: url, Path: path, Logger: testLogger(t)}
	for _, m := range mod {
		m(&opts)
	}
	r, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func mustSync(t testing.TB, r *Repo, files Files) Result {
	t.Helper()
	res, err := r.Sync(t.Context(), files, "test sync")
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

// under returns files with prefix prepended to each path, as strings.
func under(prefix string, files Files) map[string]string {
	out := map[string]string{}
	for p, b := range files {
		out[prefix+p] = string(b)
	}
	return out
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
