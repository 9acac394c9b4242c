package gittest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
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
	"time"
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
// the test ends. Every one of them takes that user's pushes: http-backend
// enables receive-pack for an authenticated REMOTE_USER.
func StartHTTP(t testing.TB, root, user, password string) *HTTPServer {
	t.Helper()
	s := newHTTPServer(t, root, user, password)
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// StartHTTPS is StartHTTP over TLS, with a certificate for 127.0.0.1 from
// a certificate authority of its own, as an internal git server has: the
// CA's certificate is in the PEM file it returns.
func StartHTTPS(t testing.TB, root, user, password string) (*HTTPServer, string) {
	t.Helper()
	s := newHTTPServer(t, root, user, password)
	leaf, caPEM := privateCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return s, caFile
}

// privateCA makes a CA and, signed by it, a server certificate for
// 127.0.0.1; it returns the latter and the CA's certificate as PEM.
func privateCA(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gittest private CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func newHTTPServer(t testing.TB, root, user, password string) *HTTPServer {
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
