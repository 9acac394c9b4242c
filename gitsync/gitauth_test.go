package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/fileset"
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
	files := fileset.Files{"a.yaml": []byte("a\n"), "sub/b.yaml": []byte("b\n")}
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
	mustSync(t, r, fileset.Files{"a.yaml": []byte("a\n")})

	// Someone pushes to another path after Sync fetched but before its
	// push reaches git, so git itself refuses the update.
	foreignc := make(chan string, 1)
	srv.SetBeforePush(func(*http.Request) bool {
		srv.SetBeforePush(nil)
		foreignc <- gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"theirs/x.yaml": "x\n"}) }, "theirs")
		return true
	})
	res := mustSync(t, r, fileset.Files{"a.yaml": []byte("a2\n")})
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
	_, err := r.Sync(t.Context(), fileset.Files{"a.yaml": []byte("a\n")}, "s")
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
	mustSync(t, r, fileset.Files{"a": []byte("1")})
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
	_, err := r.Sync(ctx, fileset.Files{"a": []byte("2")}, "s")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync error = %v, want context.Canceled", err)
	}
	if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
		t.Errorf("head moved to %s after a cancelled push", got)
	}
	// The Repo is still usable.
	srv.SetBeforePush(nil)
	if res := mustSync(t, r, fileset.Files{"a": []byte("2")}); !res.Changed {
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
			files := fileset.Files{"a.yaml": []byte(tt.name)}
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

func TestSSHStalledServer(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	keyFile, hostKey := gittest.NewClientKey(t)
	url := "ssh://git@" + ln.Addr().String() + "/r.git"
	opts := RepoOptions{URL: url, SSHKeyPath: keyFile, KnownHostsPath: gittest.KnownHostsFile(t, ln.Addr().String(), hostKey)}
	tests := []struct {
		name    string
		timeout time.Duration // of each network step
		ctx     time.Duration // of the caller's context
	}{
		{name: "timeout", timeout: 300 * time.Millisecond, ctx: time.Minute},
		{name: "context", timeout: time.Minute, ctx: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), tt.ctx)
			defer cancel()
			opts := opts
			opts.Timeout = tt.timeout
			start := time.Now()
			_, err := Open(ctx, opts)
			if took := time.Since(start); took > 300*time.Millisecond+2*time.Second {
				t.Errorf("Open took %s", took)
			}
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "fetch main from "+url) {
				t.Errorf("Open error = %v, want a deadline naming %s", err, url)
			}
		})
	}
}

func TestCredentialsInURLNeverShown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	for _, userinfo := range []string{"ghp_SECRET@", "u:SECRET@", "SECRET:x-oauth-basic@"} {
		url := strings.Replace(srv.URL, "http://", "http://"+userinfo, 1) + "/r.git"
		var logs strings.Builder
		opts := RepoOptions{URL: url, Logger: newTestLogger(t, &logs)}
		err := opts.Validate()
		if err == nil || !strings.Contains(err.Error(), "--git-password-path") {
			t.Errorf("Validate(%s) = %v, want credentials in the url refused", userinfo, err)
		}
		_, openErr := Open(t.Context(), opts)
		for _, s := range []string{fmt.Sprint(err), fmt.Sprint(openErr), logs.String()} {
			if strings.Contains(s, "SECRET") {
				t.Errorf("the secret of %s shows in %q", userinfo, s)
			}
		}
	}
}

func TestPushRefusedByHook(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"http", "ssh"} { // the local transport runs no hooks
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			url, bare, auth := newRemoteRepo(t, kind)
			runs := filepath.Join(t.TempDir(), "runs")
			hook := fmt.Sprintf("#!/bin/sh\necho run >> %s\necho 'main is protected' >&2\nexit 1\n", runs)
			if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			r := open(t, url, "p", auth, func(o *RepoOptions) { o.Logger = newTestLogger(t, &logs) })
			_, err := r.Sync(t.Context(), fileset.Files{"a": []byte("1")}, "s")
			if err == nil || !strings.Contains(err.Error(), "push main to "+url) ||
				!strings.Contains(err.Error(), "pre-receive hook declined") || !strings.Contains(err.Error(), "main is protected") {
				t.Fatalf("Sync error = %v, want the refusal with the hook's words", err)
			}
			if b, _ := os.ReadFile(runs); string(b) != "run\n" {
				t.Errorf("hook ran %d times, want once: a refusal is not retried", strings.Count(string(b), "run"))
			}
			if !strings.Contains(logs.String(), "main is protected") {
				t.Errorf("the hook's words are not logged:\n%s", logs.String())
			}
			if refs := gittest.Git(t, bare, "for-each-ref"); refs != "" {
				t.Errorf("refs = %q, want none", refs)
			}
		})
	}
}

// onLog is a slog handler that calls fn when a record with message msg
// passes through.
type onLog struct {
	slog.Handler
	msg string
	fn  func()
}

func (h onLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.fn()
	}
	return h.Handler.Handle(ctx, r)
}

func (h onLog) WithAttrs(as []slog.Attr) slog.Handler {
	return onLog{h.Handler.WithAttrs(as), h.msg, h.fn}
}

func (h onLog) WithGroup(name string) slog.Handler {
	return onLog{h.Handler.WithGroup(name), h.msg, h.fn}
}

func TestSyncCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bare := gittest.NewServedBare(t, root, "repo.git")
	srv := gittest.StartHTTP(t, root, "u", "p")
	pwFile := filepath.Join(t.TempDir(), "pw")
	writePassword(t, pwFile, "p")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	url := srv.URL + "/repo.git"
	r := open(t, url, "mine", func(o *RepoOptions) {
		o.Username, o.PasswordPath = "u", pwFile
		o.Logger = slog.New(onLog{testLogger(t).Handler(), "push rejected, retrying on the new head", cancel})
	})
	srv.SetBeforePush(func(*http.Request) bool { // someone is faster
		gittest.HumanPush(t, bare, func(w string) { gittest.WriteFiles(t, w, map[string]string{"theirs": "x"}) }, "theirs")
		return true
	})
	_, err := r.Sync(ctx, fileset.Files{"a.yaml": []byte("a\n")}, "s")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "push main to "+url) {
		t.Errorf("Sync error = %v, want context.Canceled naming the push", err)
	}
}

// TestHTTPSPrivateCA: an https git server whose certificate a private CA
// signed is refused by default and trusted with CAFile; a file without a
// certificate, or a CA file for an http URL, is refused up front.
func TestHTTPSPrivateCA(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bare := gittest.NewServedBare(t, root, "repo.git")
	srv, caFile := gittest.StartHTTPS(t, root, "ssm", "token")
	url := srv.URL + "/repo.git"
	pwFile := filepath.Join(t.TempDir(), "token")
	writePassword(t, pwFile, "token")

	_, err := Open(t.Context(), RepoOptions{URL: url, Username: "ssm", PasswordPath: pwFile})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Open without the CA: error = %v, want a certificate error", err)
	}
	r := open(t, url, "deploy", func(o *RepoOptions) { o.Username, o.PasswordPath, o.CAFile = "ssm", pwFile, caFile })
	if res := mustSync(t, r, fileset.Files{"a.yaml": []byte("a\n")}); !res.Changed || res.Commit != gittest.Git(t, bare, "rev-parse", "main") {
		t.Fatalf("Sync with the CA = %+v", res)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	writePassword(t, notPEM, "not a certificate")
	for _, tt := range []struct {
		opts RepoOptions
		want string
	}{
		{RepoOptions{URL: url, CAFile: notPEM}, "holds no PEM certificate"},
		{RepoOptions{URL: url, CAFile: "/nonexistent/ca.pem"}, "read CA file"},
		{RepoOptions{URL: "http://127.0.0.1:1/repo.git", CAFile: caFile}, "a CA file is for https urls"},
	} {
		if err := tt.opts.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.opts, err, tt.want)
		}
	}
}
