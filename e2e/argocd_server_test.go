package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Running Argo CD for the end-to-end tests: its application-controller and
// repo-server (hack/argocd builds both into one binary, with the kustomize
// release Argo CD pins, and copies the manifests the tests need from Argo
// CD's module), and Debian's redis-server, all on loopback, applying to the
// local cluster as an in-cluster Argo CD would.

// argoNS is the namespace Argo CD runs in (its --namespace).
const argoNS = "argocd"

var (
	applicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	appProjectGVR  = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}
)

// argoCD is a running Argo CD.
type argoCD struct {
	bin, manifests string // the binaries' folder; Argo CD's manifests
	dir            string
	dyn            dynamic.Interface
	procs          []*exec.Cmd
}

// argoCDBins returns the folder holding what hack/argocd/build.sh builds
// (SSM_ARGOCD names the argocd binary; make test builds it into
// .cache/bin): argocd, kustomize and argocd-manifests/. With redis, the
// path of redis-server too. It skips the test when one is missing, unless
// SSM_E2E_REQUIRED is set.
func argoCDBins(t *testing.T, redis bool) (bin, redisServer string) {
	t.Helper()
	path := os.Getenv("SSM_ARGOCD")
	if path == "" {
		path = filepath.Join(testbin, "argocd")
	}
	bin = filepath.Dir(path)
	var missing []string
	for _, f := range []string{path, filepath.Join(bin, "kustomize"), filepath.Join(bin, "argocd-manifests", "argocd-cm.yaml")} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f+" (run hack/argocd/build.sh)")
		}
	}
	if redis {
		var err error
		if redisServer, err = exec.LookPath("redis-server"); err != nil {
			missing = append(missing, "redis-server (Debian package redis-server)")
		}
	}
	if len(missing) > 0 {
		if os.Getenv("SSM_E2E_REQUIRED") != "" {
			t.Fatalf("missing %s", strings.Join(missing, ", "))
		}
		t.Skipf("missing %s: run `make test`, which builds them", strings.Join(missing, ", "))
	}
	return bin, redisServer
}

// startArgoCD installs Argo CD's CRDs, a default AppProject, argocd-secret
// and argocd-cm (cm: the ConfigMap's manifest) into the local cluster, then
// starts redis, the repo-server and the application-controller. They are
// stopped when the test ends.
func startArgoCD(t *testing.T, cm []byte) *argoCD {
	t.Helper()
	bin, redis := argoCDBins(t, true)
	a := &argoCD{bin: bin, manifests: filepath.Join(bin, "argocd-manifests"), dir: t.TempDir(), dyn: localDynamic(t)}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"application-controller", "repo-server"} {
				t.Logf("%s log (tail):\n%s", name, a.logs(name))
			}
		}
		a.stop()
	})
	a.install(t, cm)

	ports := make([]int, 4)
	for i := range ports {
		var err error
		if ports[i], err = freePort(); err != nil {
			t.Fatal(err)
		}
	}
	redisAddr, repoAddr := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	a.start(t, "redis", redis, "--bind", "127.0.0.1", "--port", strconv.Itoa(ports[0]), "--save", "", "--appendonly", "no", "--dir", a.dir)
	waitListening(t, redisAddr)
	a.start(t, "repo-server", filepath.Join(bin, "argocd"), "repo-server", "--disable-tls", "--redis", redisAddr,
		"--address", "127.0.0.1", "--port", strconv.Itoa(ports[1]),
		"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(ports[2]), "--loglevel", "debug")
	waitListening(t, repoAddr)
	a.start(t, "application-controller", filepath.Join(bin, "argocd"), "application-controller",
		"--kubeconfig", local.KubeConfig, "--namespace", argoNS, "--redis", redisAddr,
		"--repo-server", repoAddr, "--repo-server-plaintext", "--metrics-port", strconv.Itoa(ports[3]), "--loglevel", "debug")
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", ports[3]))
	a.requireLoopback(t)
	return a
}

// install creates what Argo CD's install.yaml would and no Argo CD process
// writes: the CRDs, argocd-cm, argocd-secret (with the signature key
// argocd-server would generate) and the default AppProject.
func (a *argoCD) install(t *testing.T, cm []byte) {
	t.Helper()
	ctx := t.Context()
	kubectl(t, local, "apply", "--server-side", "-f", filepath.Join(a.manifests, "crds"))
	for _, crd := range []string{"applications.argoproj.io", "appprojects.argoproj.io"} {
		eventually(t, 60*time.Second, crd+" established", func() bool {
			r := run(t, nil, "kubectl", "--kubeconfig", local.KubeConfig, "get", "crd", crd,
				"-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
			return r.stdout == "True"
		})
	}
	ensureNamespace(t, local.Client, argoNS)
	a.setConfigMap(t, cm)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: argoNS,
		Labels: map[string]string{"app.kubernetes.io/name": "argocd-secret", "app.kubernetes.io/part-of": "argocd"}},
		Data: map[string][]byte{"server.secretkey": []byte(hex.EncodeToString(key))}}
	if _, err := local.Client.CoreV1().Secrets(argoNS).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	project := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
		"metadata": map[string]any{"name": "default", "namespace": argoNS},
		"spec": map[string]any{
			"sourceRepos":              []any{"*"},
			"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}}
	if _, err := a.dyn.Resource(appProjectGVR).Namespace(argoNS).Create(ctx, project, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// setConfigMap applies argocd-cm, as `kubectl apply` of an install does.
func (a *argoCD) setConfigMap(t *testing.T, cm []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "argocd-cm.yaml")
	if err := os.WriteFile(file, cm, 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, local, "apply", "--server-side", "--force-conflicts", "--field-manager=e2e-argocd-install", "-n", argoNS, "-f", file)
}

// start runs one Argo CD process from a.dir: loopback only, no GnuPG (no
// AppProject has signature keys, so Argo CD would verify nothing), its
// scratch files under a.dir, kustomize from a.bin.
func (a *argoCD) start(t *testing.T, name, path string, args ...string) {
	t.Helper()
	cmd := command(path, filepath.Join(a.dir, name+".log"), args...)
	cmd.Dir = a.dir
	cmd.Env = append(os.Environ(),
		"PATH="+a.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+a.dir, "TMPDIR="+a.dir,
		"KUBECONFIG="+local.KubeConfig,
		"ARGOCD_FAKE_IN_CLUSTER=true", // https://kubernetes.default.svc is the cluster of KUBECONFIG
		"ARGOCD_GPG_ENABLED=false",
		"ARGOCD_ASK_PASS_SOCK="+filepath.Join(a.dir, "askpass.sock"),
		"ARGOCD_TLS_DATA_PATH="+filepath.Join(a.dir, "tls"),
		"ARGOCD_SSH_DATA_PATH="+filepath.Join(a.dir, "ssh"),
	)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	a.procs = append(a.procs, cmd)
}

func (a *argoCD) stop() {
	for i := len(a.procs) - 1; i >= 0; i-- {
		_ = syscall.Kill(-a.procs[i].Process.Pid, syscall.SIGKILL)
		_ = a.procs[i].Wait()
	}
	a.procs = nil
}

// logs returns the tail of a process's log, for failure messages.
func (a *argoCD) logs(name string) string {
	b, _ := os.ReadFile(filepath.Join(a.dir, name+".log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	eventually(t, 60*time.Second, addr+" listening", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// requireLoopback fails unless every TCP socket the Argo CD processes
// listen on is bound to 127.0.0.1.
func (a *argoCD) requireLoopback(t *testing.T) {
	t.Helper()
	inodes := map[string]int{}
	for _, p := range a.procs {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p.Process.Pid, fd.Name()))
			if inode, ok := strings.CutPrefix(link, "socket:["); ok {
				inodes[strings.TrimSuffix(inode, "]")] = p.Process.Pid
			}
		}
	}
	listening := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || inodes[fields[9]] == 0 {
				continue // not a listener of ours
			}
			listening++
			if host, _, _ := strings.Cut(fields[1], ":"); host != "0100007F" {
				t.Errorf("pid %d listens on %s (%s), not on 127.0.0.1", inodes[fields[9]], fields[1], table)
			}
		}
		f.Close()
	}
	if listening < 4 { // redis, the repo-server and its metrics, the controller's metrics
		t.Errorf("found %d listening sockets of Argo CD's processes, want at least 4", listening)
	}
}

// application returns the Application name, or nil when it does not exist.
func (a *argoCD) application(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	app, err := a.dyn.Resource(applicationGVR).Namespace(argoNS).Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// refresh sets the annotation that Argo CD's webhook handler and `argocd app
// get --hard-refresh` set: the repo-server fetches the branch again instead
// of serving its cached revision.
func (a *argoCD) refresh(t *testing.T, name string) {
	t.Helper()
	patch := []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"hard"}}}`)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := a.dyn.Resource(applicationGVR).Namespace(argoNS).Patch(ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// appStatus is what an Application reports.
type appStatus struct {
	sync, health, revision   string // of the last comparison
	phase, operationRevision string // of the last sync operation
	conditions               []string
}

func (a *argoCD) status(t *testing.T, name string) appStatus {
	t.Helper()
	app := a.application(t, name)
	if app == nil {
		return appStatus{}
	}
	str := func(path ...string) string { s, _, _ := unstructured.NestedString(app.Object, path...); return s }
	s := appStatus{sync: str("status", "sync", "status"), health: str("status", "health", "status"), revision: str("status", "sync", "revision"),
		phase: str("status", "operationState", "phase"), operationRevision: str("status", "operationState", "syncResult", "revision")}
	conds, _, _ := unstructured.NestedSlice(app.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		s.conditions = append(s.conditions, fmt.Sprintf("%v: %v", m["type"], m["message"]))
	}
	return s
}

func (s appStatus) String() string {
	return fmt.Sprintf("sync %q at %.7s, health %q, last operation %q at %.7s, conditions %q",
		s.sync, s.revision, s.health, s.phase, s.operationRevision, s.conditions)
}
