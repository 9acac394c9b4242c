package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// Flux's kustomize-controller, built by hack/flux into the test binaries'
// folder with the CRDs it needs beside it. source-controller does not build
// from the module proxy, so the tests play its part: fluxSource serves
// what ssm pushed as a GitRepository artifact and points the
// GitRepository's status at it, as source-controller would after a fetch.

// fluxBin returns the kustomize-controller binary, skipping the test
// without it unless the end-to-end tests are required.
func fluxBin(t *testing.T) string {
	t.Helper()
	requireEnv(t)
	bin := filepath.Join(testbin, "kustomize-controller")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("SSM_E2E_REQUIRED") != "" {
			t.Fatalf("no kustomize-controller in %s (make flux-bin builds it): %v", testbin, err)
		}
		t.Skipf("no kustomize-controller in %s: run `make test`, which builds it", testbin)
	}
	installFluxCRDs(t)
	return bin
}

var (
	fluxCRDsOnce sync.Once
	fluxCRDsErr  string
)

// installFluxCRDs installs the sources' and the Kustomization's CRDs in the
// local cluster, once for every test.
func installFluxCRDs(t *testing.T) {
	t.Helper()
	fluxCRDsOnce.Do(func() {
		dir := filepath.Join(testbin, "flux-crds")
		r := run(t, nil, "kubectl", "--kubeconfig", local.KubeConfig, "apply", "--server-side", "-f", dir)
		if r.code == 0 {
			r = run(t, nil, "kubectl", "--kubeconfig", local.KubeConfig, "wait", "--for", "condition=established", "--timeout", "60s",
				"crd/gitrepositories.source.toolkit.fluxcd.io", "crd/kustomizations.kustomize.toolkit.fluxcd.io")
		}
		if r.code != 0 {
			fluxCRDsErr = r.stdout + r.stderr
		}
	})
	if fluxCRDsErr != "" {
		t.Fatalf("install the Flux CRDs: %s", fluxCRDsErr)
	}
}

// startFlux runs kustomize-controller against the local cluster, watching
// only namespace ns (its runtime namespace), so that tests running at once
// each have their own.
func startFlux(t *testing.T, bin, ns string) {
	t.Helper()
	metrics, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	health, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "kustomize-controller.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--watch-all-namespaces=false", "--log-level=debug", "--log-encoding=console",
		fmt.Sprintf("--metrics-addr=127.0.0.1:%d", metrics), fmt.Sprintf("--health-addr=127.0.0.1:%d", health),
		"--events-addr=", "--concurrent=2", "--requeue-dependency=2s", "--no-remote-bases=true")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+local.KubeConfig, "RUNTIME_NAMESPACE="+ns)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("kustomize-controller log (tail):\n%s", b)
		}
	})
}

// fluxSource serves the artifacts of one GitRepository on loopback.
type fluxSource struct {
	t        *testing.T
	ns, name string
	srv      *httptest.Server

	mu        sync.Mutex
	artifacts map[string][]byte // by URL path
}

func newFluxSource(t *testing.T, ns, name string) *fluxSource {
	t.Helper()
	s := &fluxSource{t: t, ns: ns, name: name, artifacts: map[string][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b, ok := s.artifacts[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.srv.Close)
	applyYAML(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: %s, namespace: %s}
spec:
  url: %s/repo.git
  interval: 1h
  ref: {branch: main}
`, name, ns, s.srv.URL))
	return s
}

// publish makes the tree of commit in bare the GitRepository's artifact,
// as source-controller does after fetching the branch: a tar.gz of the
// files, its sha256 digest, and the revision "main@sha1:<commit>".
func (s *fluxSource) publish(bare, commit string) {
	t := s.t
	t.Helper()
	archive := tarGz(t, gittest.BranchFiles(t, bare, commit))
	sum := sha256.Sum256(archive)
	p := fmt.Sprintf("/gitrepository/%s/%s/%s.tar.gz", s.ns, s.name, commit)
	s.mu.Lock()
	s.artifacts[p] = archive
	s.mu.Unlock()
	status := map[string]any{"status": map[string]any{
		"observedGeneration": 1,
		"artifact": map[string]any{
			"path": strings.TrimPrefix(p, "/"), "url": s.srv.URL + p, "revision": "main@sha1:" + commit,
			"digest": "sha256:" + hex.EncodeToString(sum[:]), "size": len(archive),
			"lastUpdateTime": time.Now().UTC().Format(time.RFC3339),
		},
		"conditions": []map[string]any{{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored artifact for revision main@sha1:" + commit,
			"observedGeneration": 1, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}},
	}}
	patch, _ := json.Marshal(status)
	kubectl(t, local, "patch", "gitrepository", s.name, "-n", s.ns, "--subresource=status", "--type=merge", "-p", string(patch))
}

// tarGz archives files, sorted, as a gzipped tarball.
func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// applyYAML applies manifests to the local cluster with kubectl.
func applyYAML(t *testing.T, manifests string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(f, []byte(manifests), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, local, "apply", "-f", f)
}

// fluxKustomization creates a Kustomization of path in the source, which
// prunes what leaves it.
func fluxKustomization(t *testing.T, src *fluxSource, name, path string) {
	t.Helper()
	applyYAML(t, fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %s, namespace: %s}
spec:
  interval: 1h
  retryInterval: 2s
  timeout: 30s
  path: ./%s
  prune: true
  sourceRef: {kind: GitRepository, name: %s}
`, name, src.ns, path, src.name))
}

// appliedRevision returns the revision the Kustomization last applied, and
// its Ready condition's message.
func appliedRevision(t *testing.T, ns, name string) (string, string) {
	t.Helper()
	out := kubectl(t, local, "get", "kustomization", name, "-n", ns, "-o",
		`jsonpath={.status.lastAppliedRevision}|{.status.conditions[?(@.type=="Ready")].message}`)
	rev, msg, _ := strings.Cut(out, "|")
	return rev, msg
}

// waitApplied waits until the Kustomization applied commit.
func waitApplied(t *testing.T, ns, name, commit string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		rev, msg := appliedRevision(t, ns, name)
		switch {
		case rev == "main@sha1:"+commit:
			return
		case time.Now().After(deadline):
			t.Fatalf("Flux did not apply %s within 90s; it applied %q and says: %s", commit, rev, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMainMoves waits until main of bare leaves from and holds cond, and
// returns its head.
func waitMainMoves(t *testing.T, bare, from, what string, cond func(files map[string]string) bool) string {
	t.Helper()
	var head string
	eventually(t, 60*time.Second, what, func() bool {
		head = gittest.Git(t, bare, "rev-parse", "main")
		return head != from && cond(gittest.BranchFiles(t, bare, head))
	})
	return head
}
