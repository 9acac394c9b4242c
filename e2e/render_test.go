package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestRender renders a real remote API server's Services live (three ways
// in) and from a `kubectl get -o yaml` snapshot of it, requires identical
// bytes, applies the result to a second real API server with kubectl, then
// changes and deletes remote objects and checks that --check sees the drift
// and that a pruning apply converges the local cluster.
func TestRender(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const prefix, mirrorNS = "e2e", "mirrors"
	sel := map[string]string{"mirror.e2e/render": "true"}
	selector := "mirror.e2e/render=true"
	fixture := remoteFixture(sel)
	for _, s := range fixture {
		s.apply(ctx, t, remote.Client)
	}
	grantReader(t, remote.Client)
	ensureNamespace(t, local.Client, mirrorNS)

	tmp := t.TempDir()
	common := []string{"render", "--label-selector", selector, "--svc-prefix", prefix, "--mirror-ns", mirrorNS, "--remote-name", "remote-e2e"}
	render := func(env []string, out string, args ...string) result {
		t.Helper()
		return ssm(t, env, append(append(append([]string{}, common...), "-o", out), args...)...)
	}

	// Live, by kubeconfig: one remote Service has a mirror name over 63
	// characters, so the exit status is 3 and the rest is written.
	live := filepath.Join(tmp, "live")
	r := render(nil, live, "--target-kube-config", remote.KubeConfig)
	if r.code != 3 || !strings.Contains(r.stderr, "a-service-name-long-enough-to-overflow-the-limit") {
		t.Fatalf("render with an invalid name: exit %d, want 3 naming the Service\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "shop/ext") || !strings.Contains(r.stderr, "ExternalName") {
		t.Errorf("no warning for the ExternalName Service:\n%s", r.stderr)
	}
	wantFiles := []string{"e2e-db-73736d-pg.yaml", "e2e-edge-73736d-dns.yaml", "e2e-shop-73736d-cart.yaml",
		"e2e-shop-73736d-empty.yaml", "e2e-shop-73736d-web.yaml", "kustomization.yaml"}
	assertFiles(t, live, wantFiles)

	// Live by API URL + CA fetched over HTTP + rotating token file, as the
	// least-privileged reader; and with the token from the environment.
	ca, err := os.ReadFile(remote.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	caServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(ca) }))
	defer caServer.Close()
	tokenFile := filepath.Join(tmp, "token")
	if err := os.WriteFile(tokenFile, []byte(readerToken), 0o600); err != nil {
		t.Fatal(err)
	}
	byURL := filepath.Join(tmp, "by-url")
	if r := render(nil, byURL, "--skip-invalid", "--remote-api-url", remote.URL, "--remote-ca-url", caServer.URL+"/ca.crt",
		"--remote-sa-token-path", tokenFile); r.code != 0 {
		t.Fatalf("render by API URL: exit %d\n%s", r.code, r.stderr)
	}
	assertSameTree(t, live, byURL)
	byEnv := filepath.Join(tmp, "by-env")
	if r := render([]string{"SSM_REMOTE_SERVICE_ACCOUNT_TOKEN=" + readerToken, "SSM_REMOTE_API_URL=" + remote.URL, "SSM_REMOTE_CA_URL=" + remote.CAFile},
		byEnv, "--skip-invalid"); r.code != 0 {
		t.Fatalf("render with the token in the environment: exit %d\n%s", r.code, r.stderr)
	}
	assertSameTree(t, live, byEnv)

	// Offline: a snapshot of everything (selected or not) renders the same bytes.
	snapshot := filepath.Join(tmp, "snapshot.yaml")
	if err := os.WriteFile(snapshot, []byte(kubectl(t, remote, "get", "services,endpoints,endpointslices", "-A", "-o", "yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	if dst := os.Getenv("SSM_E2E_SAVE_SNAPSHOT"); dst != "" {
		// How testdata/ and examples/ get an authentic snapshot of this fixture.
		if err := os.WriteFile(dst, []byte(kubectl(t, remote, "get", "services,endpoints,endpointslices", "-A", "-o", "yaml")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fromFile := filepath.Join(tmp, "from-file")
	if r := render(nil, fromFile, "--skip-invalid", "--from-file", snapshot); r.code != 0 {
		t.Fatalf("render from file: exit %d\n%s", r.code, r.stderr)
	}
	assertSameTree(t, live, fromFile)

	// What a GitOps agent does: apply the directory to the local cluster.
	applyPruning(t, prefix, mirrorNS, live)
	assertApplied(t, local, live, mirrorNS, "mirror-svc-prefix-sync="+prefix)

	// The remote changes: web gains a port and loses an address, pg-1
	// becomes ready, cart is deleted.
	web := fixture[0]
	web.spec.Ports = append(web.spec.Ports, tcp("metrics", 9090))
	web.subsets = []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{addr("10.1.0.1"), addr("10.1.0.4")},
		Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "https", Port: 8443}, {Name: "metrics", Port: 9090}},
	}}
	web.apply(ctx, t, remote.Client)
	pg := fixture[2]
	pg.subsets[0].Addresses = append(pg.subsets[0].Addresses, pg.subsets[0].NotReadyAddresses...)
	pg.subsets[0].NotReadyAddresses = nil
	pg.apply(ctx, t, remote.Client)
	deleteService(t, remote.Client, "shop", "cart")

	r = render(nil, live, "--skip-invalid", "--check", "--target-kube-config", remote.KubeConfig)
	if r.code != 1 {
		t.Fatalf("--check after remote changes: exit %d, want 1\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"e2e-shop-73736d-cart.yaml", "+++ /dev/null", "+  - 10.1.0.4", "-  - 10.1.0.2", "name: metrics"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--check output lacks %q:\n%s", want, r.stdout)
		}
	}
	assertFiles(t, live, wantFiles) // --check wrote nothing
	if r := render(nil, live, "--skip-invalid", "--target-kube-config", remote.KubeConfig); r.code != 0 {
		t.Fatalf("render after changes: exit %d\n%s", r.code, r.stderr)
	}
	assertFiles(t, live, []string{"e2e-db-73736d-pg.yaml", "e2e-edge-73736d-dns.yaml", "e2e-shop-73736d-empty.yaml", "e2e-shop-73736d-web.yaml", "kustomization.yaml"})
	if r := render(nil, live, "--skip-invalid", "--check", "--target-kube-config", remote.KubeConfig); r.code != 0 {
		t.Fatalf("--check right after render: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	applyPruning(t, prefix, mirrorNS, live)
	assertApplied(t, local, live, mirrorNS, "mirror-svc-prefix-sync="+prefix)
}

// applyPruning applies dir to the local cluster and prunes what dir no
// longer holds, with an ApplySet (a Secret named after prefix in ns), as
// README documents it. Deleting a Service makes the API server delete its
// Endpoints too, and kubectl's pruner fails when it gets there second; like
// a GitOps agent's next sync, running the apply again converges.
func applyPruning(t *testing.T, prefix, ns, dir string) {
	t.Helper()
	applySet(t, "--applyset=ssm-"+prefix, "-n", ns, "-k", dir)
}

// applySet runs a server-side, pruning kubectl apply with an ApplySet
// against the local cluster, and runs it once more when kubectl's pruner
// lost the race with the API server's own Endpoints cleanup.
func applySet(t *testing.T, args ...string) {
	t.Helper()
	args = append([]string{"--kubeconfig", local.KubeConfig, "apply", "--server-side", "--field-manager=e2e-gitops", "--prune"}, args...)
	r := run(t, []string{"KUBECTL_APPLYSET=true"}, "kubectl", args...)
	if r.code != 0 && strings.Contains(r.stderr, "error: pruning ") && strings.Contains(r.stderr, "not found") {
		t.Logf("kubectl lost the race with the API server's own Endpoints cleanup; applying again:\n%s", r.stderr)
		r = run(t, []string{"KUBECTL_APPLYSET=true"}, "kubectl", args...)
	}
	if r.code != 0 {
		t.Fatalf("kubectl %s: exit %d\n%s\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
}

func assertFiles(t *testing.T, dir string, want []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, want)
	}
}
