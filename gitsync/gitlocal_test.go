package gitsync

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/gittest"
)

func TestLocalRefLocks(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	head := gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"README": "r\n"}) }, "seed")
	// git creates a lock file empty, then writes it; a broken ref elsewhere
	// is none of this branch's business.
	lock := filepath.Join(bare, "refs", "heads", "main.lock")
	for _, p := range []string{lock, filepath.Join(bare, "refs", "heads", "broken")} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	young := open(t, bare, "p", func(o *RepoOptions) {
		o.MaxRetries, o.staleLockAfter, o.Logger = 1, time.Hour, newTestLogger(t, &logs)
	})
	if _, err := young.Diff(t.Context(), fileset.Files{"a": []byte("1")}); err != nil {
		t.Fatalf("Diff: %v", err)
	}
	// A lock younger than the threshold may be a live git's: it is waited
	// for, then reported as a rejection to retry, and never removed.
	_, err := young.Sync(t.Context(), fileset.Files{"a": []byte("1")}, "s")
	if err == nil || !strings.Contains(err.Error(), "refs/heads/main.lock is held by another update") || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Errorf("Sync while main is locked: error = %v, want a rejection naming the lock, retried", err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("the young lock is gone: %v", err)
	}
	if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
		t.Errorf("head moved to %s while locked", got)
	}

	// An old one can only be left by a writer that died: it is removed,
	// with a warning, and the push goes through.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	stale := open(t, bare, "p", func(o *RepoOptions) { o.Logger = newTestLogger(t, &logs) })
	if res := mustSync(t, stale, fileset.Files{"a": []byte("1")}); !res.Changed {
		t.Errorf("Sync after the lock went stale = %+v, want a change", res)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"removed a stale ref lock") || !strings.Contains(logs.String(), "age=1h0m0") {
		t.Errorf("logs lack a warning with the lock's age:\n%s", logs.String())
	}
	assertNoLeftovers(t, bare)
}

func TestLocalCleansLeftoversAtOpen(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	mustSync(t, open(t, bare, "p"), fileset.Files{"a": []byte("1")})
	pack := func(hex, ext string) string { return "objects/pack/pack-" + strings.Repeat(hex, 40) + ext }
	// An index ends with its pack's checksum and its own.
	idxOf := func(digit string) string {
		sum, _ := hex.DecodeString(strings.Repeat(digit, 40))
		return "index" + string(sum) + strings.Repeat("\x00", 20)
	}
	ours := map[string]string{
		"ssm-ref-123.tmp":                  "", // earlier versions' ref lock contents
		"objects/ab/tmp_obj_ssm-x1y2":      "", // a loose object being written
		"objects/ab/tmp_obj_3141592653":    "", // earlier versions' (os.CreateTemp)
		"objects/pack/tmp_pack_ssm-k9":     "", // a pack being written
		"objects/pack/tmp_idx_ssm-k9":      idxOf("a"),
		pack("a", ".pack"):                 "", // moved in, but its index never was
		"objects/pack/tmp_pack_2718281828": "", // go-git's pack writer, which earlier versions used
		"refs/heads/.main.lock.ssm-stale":  "", // a stale lock moved aside
		"objects/pack/tmp_idx_ssm-c1":      idxOf("c"),
		"logs/refs/heads/.ssm-file-r2":     "", // a reflog being made in a shared repository
		"objects/.ssm-dir-q1/":             "", // and directories
		"logs/refs/.ssm-dir-q2/":           "",
		".ssm-dir-q3/":                     "",
	}
	gits := map[string]string{
		"objects/ab/tmp_obj_Ab12cD":    "", // git's own, maybe being written now
		"objects/ab/tmp_obj_123456":    "", // six digits: maybe git's
		"objects/pack/tmp_pack_Zz09aB": "",
		"objects/pack/tmp_idx_Zz09aB":  "",
		pack("b", ".pack"):             "", // maybe git's, about to get its index
		pack("c", ".pack"):             "", // has its index: the temporary one is a copy
		pack("c", ".idx"):              "",
		"refs/heads/main.lock":         "",
		"refs/tags/.ssm-dir-x":         "", // not where a push to main makes anything
	}
	plant(t, bare, merge(ours, gits))
	var logs bytes.Buffer
	open(t, bare, "p", func(o *RepoOptions) { o.Logger = newTestLogger(t, &logs) })
	for p := range ours {
		p = strings.TrimSuffix(p, "/")
		if _, err := os.Lstat(filepath.Join(bare, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was left: %v", p, err)
		}
		if !strings.Contains(logs.String(), p) {
			t.Errorf("the log does not name %s", p)
		}
	}
	for p := range gits {
		if _, err := os.Lstat(filepath.Join(bare, p)); err != nil {
			t.Errorf("%s, which may be git's, was removed: %v", p, err)
		}
	}
}

// plant creates files below dir, and directories for paths ending in a
// slash, an hour old: their age tells nothing.
func plant(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for rel, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if strings.HasSuffix(rel, "/") {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte(data), 0o444)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLocalWaitsForAnotherWriter(t *testing.T) {
	t.Parallel()
	bare := gittest.NewBare(t)
	r := open(t, bare, "p")
	release := flockDir(t, bare)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := r.Sync(ctx, fileset.Files{"a": []byte("1")}, "s"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync while another writer holds the repository: error = %v, want the deadline", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Sync(t.Context(), fileset.Files{"a": []byte("1")}, "s")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Sync returned %v while another writer held the repository", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("Sync after the other writer finished: %v", err)
	}
	if got := gittest.BranchFiles(t, bare, "main"); got["p/a"] != "1" {
		t.Errorf("branch files = %v", got)
	}
}

// flockDir takes the flock that ssm's writers take on dir, as another
// process would, and returns its release.
func flockDir(t *testing.T, dir string) func() {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func() { f.Close() }
}

// assertNoLeftovers fails if the repository holds a lock file, a temporary
// file or a pack without its index.
func assertNoLeftovers(t *testing.T, repo string) {
	t.Helper()
	if diff := cmp.Diff([]string(nil), leftovers(t, repo)); diff != "" {
		t.Errorf("left in %s (-want +got):\n%s", repo, diff)
	}
}
