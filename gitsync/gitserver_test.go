package gitsync

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// httpGitServer serves the bare repositories below a directory over smart
// HTTP with git http-backend, behind basic authentication, on loopback.
type httpGitServer struct {
	URL string // a repository is at URL/<name>

	mu       sync.Mutex
	user     string
	password string
	// beforePush, if set, runs before a push request reaches git; returning
	// false drops the request.
	beforePush func(*http.Request) bool
}

func startHTTPServer(t *testing.T, root, user, password string) *httpGitServer {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	s := &httpGitServer{user: user, password: password}
	backend := cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env:  append([]string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}, gitEnv...),
		// Rejected pushes are expected in tests; keep git's words with the test.
		Stderr: t.Output(),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		h := backend
		h.Env = append(slices.Clone(backend.Env), "REMOTE_USER="+wantUser)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *httpGitServer) setPassword(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.password = p
}

func (s *httpGitServer) setBeforePush(f func(*http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforePush = f
}

// newServedBare creates a bare repository below root that http-backend
// accepts pushes to.
func newServedBare(t *testing.T, root, name string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	git(t, "", "init", "-q", "--bare", "-b", "main", dir)
	git(t, dir, "config", "http.receivepack", "true")
	return dir
}

// sshGitServer serves the repositories below root over SSH on loopback,
// running git-upload-pack and git-receive-pack for one client key.
type sshGitServer struct {
	Addr    string
	HostKey ssh.PublicKey

	root   string
	gitBin string
	config *ssh.ServerConfig
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func startSSHServer(t *testing.T, root string, client ssh.PublicKey) *sshGitServer {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) != string(client.Marshal()) {
				return nil, errors.New("unknown key")
			}
			return nil, nil
		},
	}
	config.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshGitServer{Addr: ln.Addr().String(), HostKey: hostSigner.PublicKey(), root: root,
		gitBin: gitBin, config: config, ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Go(s.accept)
	t.Cleanup(s.close)
	return s
}

func (s *sshGitServer) accept() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = true
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(conn) })
	}
}

func (s *sshGitServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *sshGitServer) serve(conn net.Conn) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, s.config)
	if err != nil {
		return
	}
	defer sc.Close()
	s.wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.session(ch, chReqs) })
	}
}

// session runs the one git command a client execs, then closes.
func (s *sshGitServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		verb, arg, _ := strings.Cut(p.Command, " ")
		dir := filepath.Clean(strings.Trim(arg, "'"))
		if (verb != "git-upload-pack" && verb != "git-receive-pack") || !strings.HasPrefix(dir, s.root+string(filepath.Separator)) {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		status := s.run(ch, strings.TrimPrefix(verb, "git-"), dir)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

func (s *sshGitServer) run(ch ssh.Channel, service, dir string) uint32 {
	cmd := exec.Command(s.gitBin, service, dir)
	cmd.Env = append(os.Environ(), gitEnv...)
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 1
	}
	if err := cmd.Start(); err != nil {
		return 1
	}
	// Ends when the client closes its side or the channel is closed.
	s.wg.Go(func() {
		_, _ = io.Copy(stdin, ch)
		stdin.Close()
	})
	if err := cmd.Wait(); err != nil {
		return 1
	}
	return 0
}

// knownHostsFile writes a known_hosts file listing key for addr.
func knownHostsFile(t *testing.T, addr string, key ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newClientKey writes a new private key file and returns it with its
// public key.
func newClientKey(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p, sshPub
}
