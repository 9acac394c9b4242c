package gitsync

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/internal/gittest"
)

func writePassword(t *testing.T, p, password string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPBasicAuth(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bare := gittest.NewServedBare(t, root, "repo.git")
	srv := gittest.StartHTTP(t, root, "ssm", "first-token")
	url := srv.URL + "/repo.git"
	pwFile := filepath.Join(t.TempDir(), "token")

	writePassword(t, pwFile, "wrong")
	_, err := Open(t.Context(), RepoOptions{URL: url, Username: "ssm", PasswordPath: pwFile})
	if err == nil || !strings.Contains(err.Error(), "fetch main from "+url) || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("Open with a wrong password: error = %v, want an authentication error naming %s", err, url)
	}

	writePassword(t, pwFile, "first-token")
	r := open(t, url, "deploy", func(o *RepoOptions) { o.Username, o.PasswordPath = "ssm", pwFile })
	files := Files{"a.yaml": []byte("a\n"), "sub/b.yaml": []byte("b\n")}
	if res := mustSync(t, r, files); !res.Changed || res.Commit != gittest.Git(t, bare, "rev-parse", "main") {
		t.Fatalf("Sync = %+v, want the pushed head", res)
	}
	if diff := cmp.Diff(under("deploy/", files), gittest.BranchFiles(t, bare, "main")); diff != "" {
		t.Errorf("branch files (-want +got):\n%s", diff)
	}
	gittest.Fsck(t, bare)

	// The token rotates on the server; until the file follows, pushes fail.
	srv.SetPassword("second-token")
	files["a.yaml"] = []byte("a2\n")
	if _, err := r.Sync(t.Context(), files, "s"); err == nil || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("Sync with a stale token: error = %v, want an authentication error", err)
	}
	writePassword(t, pwFile, "second-token")
	if res := mustSync(t, r, files); !res.Changed || !cmp.Equal(res.Updated, []string{"a.yaml"}) {
		t.Errorf("Sync after rotation = %+v, want a.yaml updated", res)
	}
	if got := gittest.Git(t, bare, "show", "main:deploy/a.yaml"); got != "a2" {
		t.Errorf("deploy/a.yaml = %q, want a2", got)
	}
}

func TestHTTPPushRejectedThenRetried(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bare := gittest.NewServedBare(t, root, "repo.git")
	srv := gittest.StartHTTP(t, root, "u", "p")
	pwFile := filepath.Join(t.TempDir(), "pw")
	writePassword(t, pwFile, "p")
	var logs strings.Builder
	r := open(t, srv.URL+"/repo.git", "mine", func(o *RepoOptions) {
		o.Username, o.PasswordPath = "u", pwFile
		o.Logger = newTestLogger(t, &logs)
	})
	mustSync(t, r, Files{"a.yaml": []byte("a\n")})

	// Someone pushes to another path after Sync fetched but before its
	// push reaches git, so git itself refuses the update.
	foreignc := make(chan string, 1)
	srv.SetBeforePush(func(*http.Request) bool {
		srv.SetBeforePush(nil)
		foreignc <- gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"theirs/x.yaml": "x\n"}) }, "theirs")
		return true
	})
	res := mustSync(t, r, Files{"a.yaml": []byte("a2\n")})
	var foreign string
	select {
	case foreign = <-foreignc:
	default:
		t.Fatal("the push hook did not run")
	}
	if !res.Changed || !cmp.Equal(res.Updated, []string{"a.yaml"}) || res.Retries != 1 {
		t.Errorf("Sync = %+v, want a.yaml updated after 1 retry", res)
	}
	if parent := gittest.Git(t, bare, "rev-parse", "main^"); parent != foreign {
		t.Errorf("parent of head = %s, want the foreign commit %s", parent, foreign)
	}
	want := map[string]string{"mine/a.yaml": "a2\n", "theirs/x.yaml": "x\n"}
	if diff := cmp.Diff(want, gittest.BranchFiles(t, bare, "main")); diff != "" {
		t.Errorf("branch files (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "push rejected, retrying") {
		t.Errorf("no retry was logged:\n%s", logs.String())
	}
	gittest.Fsck(t, bare)
}

func TestHTTPPushGivesUp(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bare := gittest.NewServedBare(t, root, "repo.git")
	srv := gittest.StartHTTP(t, root, "u", "p")
	pwFile := filepath.Join(t.TempDir(), "pw")
	writePassword(t, pwFile, "p")
	r := open(t, srv.URL+"/repo.git", "mine", func(o *RepoOptions) {
		o.Username, o.PasswordPath, o.MaxRetries = "u", pwFile, 2
	})
	var pushes atomic.Int32
	srv.SetBeforePush(func(*http.Request) bool { // always someone faster
		n := int(pushes.Add(1))
		gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"theirs/n": strings.Repeat("x", n)}) }, "theirs")
		return true
	})
	_, err := r.Sync(t.Context(), Files{"a.yaml": []byte("a\n")}, "s")
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("Sync error = %v, want it to give up after 3 attempts", err)
	}
	if n := pushes.Load(); n != 3 {
		t.Errorf("push requests = %d, want 3", n)
	}
	if n := gittest.CommitCount(t, bare, "main"); n != 3 {
		t.Errorf("commits = %d, want the 3 foreign ones", n)
	}
}

func TestHTTPCancelDuringPush(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bare := gittest.NewServedBare(t, root, "repo.git")
	srv := gittest.StartHTTP(t, root, "u", "p")
	pwFile := filepath.Join(t.TempDir(), "pw")
	writePassword(t, pwFile, "p")
	r := open(t, srv.URL+"/repo.git", "", func(o *RepoOptions) { o.Username, o.PasswordPath = "u", pwFile })
	mustSync(t, r, Files{"a": []byte("1")})
	head := gittest.Git(t, bare, "rev-parse", "main")

	ctx, cancel := context.WithCancel(t.Context())
	testDone := make(chan struct{})
	t.Cleanup(func() { close(testDone) }) // before the server closes
	// The push hangs at the server until the client gives up.
	srv.SetBeforePush(func(req *http.Request) bool {
		_, _ = io.Copy(io.Discard, req.Body) // so that the server notices the client leave
		cancel()
		select {
		case <-req.Context().Done():
		case <-testDone:
		}
		return false
	})
	_, err := r.Sync(ctx, Files{"a": []byte("2")}, "s")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync error = %v, want context.Canceled", err)
	}
	if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
		t.Errorf("head moved to %s after a cancelled push", got)
	}
	// The Repo is still usable.
	srv.SetBeforePush(nil)
	if res := mustSync(t, r, Files{"a": []byte("2")}); !res.Changed {
		t.Errorf("Sync after cancel = %+v, want a change", res)
	}
}

func TestSSHKnownHosts(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bare := gittest.NewServedBare(t, root, "repo.git")
	keyFile, pub := gittest.NewClientKey(t)
	srv := gittest.StartSSH(t, root, pub)
	url := "ssh://git@" + srv.Addr + bare
	_, otherHost := gittest.NewClientKey(t)
	otherKeyFile, _ := gittest.NewClientKey(t)

	tests := []struct {
		name    string
		opts    RepoOptions
		wantErr string
	}{
		{name: "known host", opts: RepoOptions{SSHKeyPath: keyFile, KnownHostsPath: gittest.KnownHostsFile(t, srv.Addr, srv.HostKey)}},
		{name: "wrong host key", opts: RepoOptions{SSHKeyPath: keyFile, KnownHostsPath: gittest.KnownHostsFile(t, srv.Addr, otherHost)}, wantErr: "key mismatch"},
		{name: "unknown host", opts: RepoOptions{SSHKeyPath: keyFile, KnownHostsPath: gittest.KnownHostsFile(t, "127.0.0.1:1", srv.HostKey)}, wantErr: "key is unknown"},
		{name: "ignored host key", opts: RepoOptions{SSHKeyPath: keyFile, InsecureIgnoreHostKey: true}},
		{name: "wrong client key", opts: RepoOptions{SSHKeyPath: otherKeyFile, InsecureIgnoreHostKey: true}, wantErr: "unable to authenticate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.URL, tt.opts.Path, tt.opts.Logger = url, tt.name, testLogger(t)
			r, err := Open(t.Context(), tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), url) {
					t.Fatalf("Open error = %v, want %q naming %s", err, tt.wantErr, url)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			files := Files{"a.yaml": []byte(tt.name)}
			if res := mustSync(t, r, files); !res.Changed {
				t.Fatalf("Sync = %+v, want a change", res)
			}
			if got := gittest.Git(t, bare, "show", "main:"+tt.name+"/a.yaml"); got != tt.name {
				t.Errorf("%s/a.yaml = %q", tt.name, got)
			}
		})
	}
	gittest.Fsck(t, bare)
}
