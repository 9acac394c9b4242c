package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// HTTPServer serves the bare repositories below a directory over smart
// HTTP with git http-backend, behind basic authentication, on loopback.
type HTTPServer struct {
	URL string // a repository is at URL + "/" + its path below the root

	backend cgi.Handler

	mu       sync.Mutex
	user     string
	password string
	// beforePush, if set, runs before a push request reaches git; returning
	// false drops the request.
	beforePush func(*http.Request) bool
}

// StartHTTP serves the repositories below root to user with password until
// the test ends. Only repositories made with NewServedBare accept pushes.
func StartHTTP(t testing.TB, root, user, password string) *HTTPServer {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	s := &HTTPServer{user: user, password: password, backend: cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env:  append([]string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}, env...),
		// Rejected pushes are expected in tests; keep git's words with the test.
		Stderr: t.Output(),
	}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *HTTPServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	wantUser, wantPassword, hook := s.user, s.password, s.beforePush
	s.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != wantUser || p != wantPassword {
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if hook != nil && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") && !hook(r) {
		http.Error(w, "dropped", http.StatusServiceUnavailable)
		return
	}
	h := s.backend
	h.Env = append(slices.Clone(s.backend.Env), "REMOTE_USER="+wantUser)
	h.ServeHTTP(w, r)
}

// SetPassword makes the server accept p, and only p, from now on.
func (s *HTTPServer) SetPassword(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.password = p
}

// SetBeforePush makes f run before each authenticated push reaches git;
// when f returns false the push is dropped with 503. A nil f removes it.
// f runs on the server's goroutine and may call SetBeforePush.
func (s *HTTPServer) SetBeforePush(f func(*http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforePush = f
}

// NewServedBare creates a bare repository named name below root, whose HEAD
// is main and which http-backend accepts pushes to.
func NewServedBare(t testing.TB, root, name string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	Git(t, "", "init", "-q", "--bare", "-b", "main", dir)
	Git(t, dir, "config", "http.receivepack", "true")
	return dir
}
