package gitsync

import (
	"io"
	"log/slog"
	"testing"

	"github.com/ssm-dev/ssm/fileset"
)

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

func mustSync(t testing.TB, r *Repo, files fileset.Files) fileset.Result {
	t.Helper()
	res, err := r.Sync(t.Context(), files, "test sync")
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

// under returns files with prefix prepended to each path, as strings.
func under(prefix string, files fileset.Files) map[string]string {
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
