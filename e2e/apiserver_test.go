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
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// controllers is the kube-controller-manager of StartControllers, or nil.
	controllers *exec.Cmd
	// extra are more kube-apiserver flags, kept across restarts.
	extra []string
	// sharedEtcd marks an etcd (etcdURL) started by someone else, shared
	// with other API servers under their own --etcd-prefix: Start and Stop
	// leave it alone.
	sharedEtcd bool
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startAPIServer starts etcd and kube-apiserver from bin under dir, with
// extra kube-apiserver flags.
func startAPIServer(ctx context.Context, bin, dir, name string, extra ...string) (*apiServer, error) {
	return startAPIServerOn(ctx, bin, dir, name, "", extra...)
}

// startAPIServerOn starts kube-apiserver on etcdURL, an etcd shared with
// other API servers ("" starts one of its own), under the prefix /name.
func startAPIServerOn(ctx context.Context, bin, dir, name, etcdURL string, extra ...string) (*apiServer, error) {
	s := &apiServer{name: name, dir: filepath.Join(dir, name), extra: extra, etcdURL: etcdURL, sharedEtcd: etcdURL != ""}
	if s.sharedEtcd {
		s.extra = append(s.extra, "--etcd-prefix=/"+name)
	}
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
	if !s.sharedEtcd {
		if err := s.startEtcd(bin); err != nil {
			return err
		}
	}
	args := []string{"--etcd-servers=" + s.etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(s.port),
		"--cert-dir=" + filepath.Join(s.dir, "certs"),
		"--token-auth-file=" + filepath.Join(s.dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(s.dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(s.dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108", // dual-stack: the MCS tests pin ClusterSetIPs of both families
		"--enable-priority-and-fairness=false", "--profiling=false", "--v=0"}
	s.kube = command(filepath.Join(bin, "kube-apiserver"), filepath.Join(s.dir, "kube-apiserver.log"), append(args, s.extra...)...)
	if err := s.kube.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	return s.waitReady(ctx)
}

// startEtcd starts the server's own etcd, at the address it had before
// when restarted.
func (s *apiServer) startEtcd(bin string) error {
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
	return nil
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

// localControllers are the controllers of kube-controller-manager that act
// on what a GitOps agent applies from ssm's output: the garbage collector
// (foreground and orphan deletions, and the objects of a deleted owner) and
// the EndpointSlice mirroring controller, which turns the Endpoints of a
// selector-less Service (every mirror of --endpoints-api endpoints) into the
// EndpointSlices kube-proxy reads; and the namespace controller, which
// finishes deleting a namespace a GitOps agent prunes (NodePort mode's, once
// ssm no longer renders it). The other controllers act on Pods, Nodes and
// workloads, which no test has.
var localControllers = []string{"garbage-collector-controller", "endpointslice-mirroring-controller", "namespace-controller"}

// StartControllers starts kube-controller-manager from bin against s with
// the given controllers and waits until they work; Stop stops it. It serves
// nothing (--secure-port=0): its work is seen in the API.
func (s *apiServer) StartControllers(ctx context.Context, bin string, controllers []string) error {
	s.controllers = command(filepath.Join(bin, "kube-controller-manager"), filepath.Join(s.dir, "kube-controller-manager.log"),
		"--kubeconfig="+s.KubeConfig,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false", "--secure-port=0", "--bind-address=127.0.0.1",
		"--v=2")
	if err := s.controllers.Start(); err != nil {
		s.controllers = nil
		return fmt.Errorf("start kube-controller-manager for %s: %w", s.name, err)
	}
	return s.waitControllers(ctx)
}

// waitControllers waits until both controllers work: a selector-less
// Service's Endpoints is mirrored into an EndpointSlice, and a foreground
// deletion of the Endpoints, which waits for the garbage collector to delete
// that EndpointSlice (its dependent) first, completes.
func (s *apiServer) waitControllers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	const ns, name = "e2e-controllers", "probe"
	meta := metav1.ObjectMeta{Namespace: ns, Name: name}
	_, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err == nil {
		_, err = s.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: meta,
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	}
	if err == nil {
		_, err = s.Client.CoreV1().Endpoints(ns).Create(ctx, &corev1.Endpoints{ObjectMeta: meta, Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}}, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("create the controller probe in %s: %w", s.name, err)
	}
	log := filepath.Join(s.dir, "kube-controller-manager.log")
	mirrored := func() bool {
		l, err := s.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
		return err == nil && len(l.Items) == 1
	}
	if err := poll(ctx, mirrored); err != nil {
		return fmt.Errorf("%s: no EndpointSlice mirrored by kube-controller-manager (see %s): %w", s.name, log, err)
	}
	fg := metav1.DeletePropagationForeground
	if err := s.Client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		return fmt.Errorf("delete the controller probe in %s: %w", s.name, err)
	}
	gone := func() bool {
		_, err := s.Client.CoreV1().Endpoints(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	if err := poll(ctx, gone); err != nil {
		return fmt.Errorf("%s: a foreground deletion not completed by kube-controller-manager's garbage collector (see %s): %w", s.name, log, err)
	}
	return nil
}

// poll checks cond every 50ms until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Stop kills kube-controller-manager, kube-apiserver and etcd and waits for
// them; data stays for a restart.
func (s *apiServer) Stop() {
	for _, c := range []*exec.Cmd{s.controllers, s.kube, s.etcd} {
		if c == nil || c.Process == nil {
			continue
		}
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		_ = c.Wait()
	}
	s.controllers, s.kube, s.etcd = nil, nil, nil
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
