package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestWireCancelledBeforeStart: a done context fails every call before
// it connects.
func TestWireCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := serve(t, kind)
			_, head := seed(t, s)
			tr := s.transport(t)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := tr.Empty(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("Empty: error = %v, want context.Canceled", err)
			}
			if _, _, err := tr.FetchHead(ctx, mainRef, plumbing.ZeroHash); !errors.Is(err, context.Canceled) {
				t.Errorf("FetchHead: error = %v, want context.Canceled", err)
			}
			c, objs := commit(t, head, map[string]string{"a": "x"}, "x")
			if err := tr.Push(ctx, mainRef, head, c, objs); !errors.Is(err, context.Canceled) {
				t.Errorf("Push: error = %v, want context.Canceled", err)
			}
			if got := s.head(t, "main"); got != head.String() {
				t.Errorf("main = %s, want %s", got, head)
			}
		})
	}
}

// stallHook makes pre-receive wait until the test ends, touching started
// first; it returns started.
func stallHook(t *testing.T, s *gitServer) string {
	t.Helper()
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	s.hook(t, "pre-receive", fmt.Sprintf("touch %s\nwhile [ ! -e %s ]; do sleep 0.05; done\nexit 1\n", started, release))
	// Before the server stops: it waits for the hook.
	t.Cleanup(func() { writeFile(t, release, "") })
	return started
}

// TestWirePushStalled: a server that stalls in the middle of a push (a
// hook that never returns) is given up on at the step's timeout, or when
// the caller cancels; the branch stays, and the transport works on.
func TestWirePushStalled(t *testing.T) {
	t.Parallel()
	for _, kind := range wireKinds {
		for _, how := range []string{"timeout", "cancel"} {
			t.Run(kind+"/"+how, func(t *testing.T) {
				t.Parallel()
				s := serve(t, kind)
				_, head := seed(t, s)
				started := stallHook(t, s)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				want := context.Canceled
				tr := s.transport(t)
				if how == "timeout" {
					want = context.DeadlineExceeded
					tr = s.transport(t, func(o *Options) { o.Timeout = 2 * time.Second })
				} else {
					var wg sync.WaitGroup
					defer wg.Wait()
					wg.Go(func() {
						for ctx.Err() == nil {
							if _, err := os.Stat(started); err == nil {
								cancel()
							}
							time.Sleep(10 * time.Millisecond)
						}
					})
				}
				c, objs := commit(t, head, map[string]string{"a": "x"}, "x")
				start := time.Now()
				err := tr.Push(ctx, mainRef, head, c, objs)
				if !errors.Is(err, want) {
					t.Fatalf("Push: error = %v, want %v", err, want)
				}
				if took := time.Since(start); took > 10*time.Second {
					t.Errorf("Push returned after %s", took)
				}
				if _, err := os.Stat(started); err != nil && how == "cancel" {
					t.Errorf("the push never reached the hook: %v", err)
				}
				if got := s.head(t, "main"); got != head.String() {
					t.Errorf("main = %s, want %s", got, head)
				}
				if empty, err := s.transport(t).Empty(t.Context()); err != nil || empty {
					t.Errorf("Empty after the stalled push = %v, %v", empty, err)
				}
			})
		}
	}
}

// TestStalledServers: a server that accepts the connection and never
// answers is given up on at the step's timeout: an ssh server silent in
// the handshake, an http server that never responds.
func TestStalledServers(t *testing.T) {
	t.Parallel()
	// An ssh server that accepts connections and never says a word.
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
	release := make(chan struct{})
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(httpSrv.Close)
	t.Cleanup(func() { close(release) })

	key, _ := gittest.NewClientKey(t)
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{name: "ssh", opts: Options{URL: "ssh://git@" + ln.Addr().String() + "/r.git", SSHKeyPath: key, InsecureIgnoreHostKey: true}},
		{name: "http", opts: Options{URL: httpSrv.URL + "/r.git"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Timeout, tt.opts.Logger = 300*time.Millisecond, slog.New(slog.DiscardHandler)
			tr, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, errEmpty := tr.Empty(t.Context())
			_, _, errFetch := tr.FetchHead(t.Context(), mainRef, plumbing.ZeroHash)
			c, objs := commit(t, plumbing.ZeroHash, map[string]string{"a": "1"}, "c")
			errPush := tr.Push(t.Context(), mainRef, plumbing.ZeroHash, c, objs)
			for _, err := range []error{errEmpty, errFetch, errPush} {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error = %v, want context.DeadlineExceeded", err)
				}
			}
			if took := time.Since(start); took > 3*(300*time.Millisecond)+5*time.Second {
				t.Errorf("three calls took %s", took)
			}
		})
	}
}
