package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Tokens of the static token file: an admin, and a reader bound only to the
// ClusterRole ssm needs on a remote.
const (
	adminToken  = "admin-token-e2e"
	readerToken = "reader-token-e2e"
	readerUser  = "ssm-reader"
)

// apiServer is a real kube-apiserver with its own etcd, on loopback.
type apiServer struct {
	name       string
	dir        string
	URL        string
	CAFile     string
	KubeConfig string // admin kubeconfig
	Client     kubernetes.Interface
	etcdURL    string
	port       int
	etcd, kube *exec.Cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startAPIServer starts etcd and kube-apiserver from bin under dir.
func startAPIServer(ctx context.Context, bin, dir, name string) (*apiServer, error) {
	s := &apiServer{name: name, dir: filepath.Join(dir, name)}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	if err := s.writeSecrets(); err != nil {
		return nil, err
	}
	var err error
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	s.URL = "https://127.0.0.1:" + strconv.Itoa(s.port)
	s.CAFile = filepath.Join(s.dir, "certs", "apiserver.crt")
	s.KubeConfig = filepath.Join(s.dir, "admin.kubeconfig")
	if err := s.Start(ctx, bin); err != nil {
		s.Stop()
		return nil, err
	}
	if err := os.WriteFile(s.KubeConfig, []byte(kubeconfig(s.URL, s.CAFile, adminToken)), 0o600); err != nil {
		return nil, err
	}
	cfg := &rest.Config{Host: s.URL, BearerToken: adminToken, TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile}, QPS: 100, Burst: 200,
		WarningHandler: rest.NoWarnings{}}
	if s.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *apiServer) writeSecrets() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	if err := os.WriteFile(filepath.Join(s.dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	tokens := fmt.Sprintf("%s,admin,1,\"system:masters\"\n%s,%s,2\n", adminToken, readerToken, readerUser)
	return os.WriteFile(filepath.Join(s.dir, "tokens.csv"), []byte(tokens), 0o600)
}

// Start starts (or restarts, keeping its data and address) the server and
// waits until it is ready.
func (s *apiServer) Start(ctx context.Context, bin string) error {
	if s.etcdURL == "" {
		cp, err := freePort()
		if err != nil {
			return err
		}
		s.etcdURL = "http://127.0.0.1:" + strconv.Itoa(cp)
	}
	pp, err := freePort()
	if err != nil {
		return err
	}
	peer := "http://127.0.0.1:" + strconv.Itoa(pp)
	s.etcd = command(filepath.Join(bin, "etcd"), filepath.Join(s.dir, "etcd.log"),
		"--name=e2e", "--data-dir="+filepath.Join(s.dir, "etcd"),
		"--listen-client-urls="+s.etcdURL, "--advertise-client-urls="+s.etcdURL,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=e2e="+peer, "--unsafe-no-fsync", "--log-level=warn")
	if err := s.etcd.Start(); err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	s.kube = command(filepath.Join(bin, "kube-apiserver"), filepath.Join(s.dir, "kube-apiserver.log"),
		"--etcd-servers="+s.etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(s.port),
		"--cert-dir="+filepath.Join(s.dir, "certs"),
		"--token-auth-file="+filepath.Join(s.dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(s.dir, "sa.key"),
		"--service-account-signing-key-file="+filepath.Join(s.dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--enable-priority-and-fairness=false", "--profiling=false", "--v=0")
	if err := s.kube.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	return s.waitReady(ctx)
}

func command(path, logFile string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	if f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		cmd.Stdout, cmd.Stderr = f, f
	}
	// The servers die with the test binary even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

func (s *apiServer) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var last error
	for {
		if ca, err := os.ReadFile(s.CAFile); err == nil {
			if last = s.probe(ctx, ca); last == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s (last: %v); see %s", s.name, s.URL, last, filepath.Join(s.dir, "kube-apiserver.log"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *apiServer) probe(ctx context.Context, ca []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// Stop kills kube-apiserver and etcd and waits for them; data stays for a restart.
func (s *apiServer) Stop() {
	for _, c := range []*exec.Cmd{s.kube, s.etcd} {
		if c == nil || c.Process == nil {
			continue
		}
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		_ = c.Wait()
	}
	s.kube, s.etcd = nil, nil
}

// Logs returns the tail of the API server's log, for failure messages.
func (s *apiServer) Logs() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "kube-apiserver.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

func kubeconfig(server, caFile, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: e2e
  user:
    token: %s
contexts:
- name: e2e
  context:
    cluster: e2e
    user: e2e
current-context: e2e
`, server, caFile, token)
}
