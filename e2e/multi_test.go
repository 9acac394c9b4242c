package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMultiCluster runs ssm with a semaphore-service-mirror configuration
// against three real API servers: remotes east and west, and the local
// cluster. shop/api is exported by all three, with different ports in
// west; west goes down (its files stay as last seen while east keeps
// updating, also across an ssm restart), comes back and drops shop/api.
// The rendered tree is applied to the local cluster with a pruning kubectl.
func TestMultiCluster(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const ns, mirrorNS, gitPath, gl = "shop", "multi-mirrors", "clusters/local", "gl-shop-73736d-api"
	labels := map[string]string{"mirror.e2e/multi": "true", "global.e2e/multi": "true"}
	subset := func(ip string, ports ...corev1.EndpointPort) []corev1.EndpointSubset {
		var addrs []corev1.EndpointAddress
		for a := range strings.SplitSeq(ip, ",") {
			addrs = append(addrs, addr(a))
		}
		return []corev1.EndpointSubset{{Addresses: addrs, Ports: ports}}
	}
	http, grpc := corev1.EndpointPort{Name: "http", Port: 8080}, corev1.EndpointPort{Name: "grpc", Port: 9090}
	eastAPI := func(ips string) service {
		return service{ns: ns, name: "api", labels: labels, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}, subsets: subset(ips, http)}
	}
	eastAPI("10.31.0.1").apply(ctx, t, remote.Client)
	service{ns: ns, name: "only-east", labels: map[string]string{"mirror.e2e/multi": "true"},
		spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}, subsets: subset("10.31.0.9", http)}.apply(ctx, t, remote.Client)
	service{ns: ns, name: "api", labels: labels, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80), tcp("grpc", 9090)}},
		subsets: subset("10.32.0.1", http, grpc)}.apply(ctx, t, remote2.Client)
	localGlobal(t, ns)
	ensureNamespace(t, local.Client, mirrorNS)

	config := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, config, `global:
  mirrorSvcLabelSelector: mirror.e2e/multi=true
  globalSvcLabelSelector: global.e2e/multi=true
  mirrorNamespace: `+mirrorNS+`
  serviceSync: true
localCluster: {name: local, kubeConfigPath: `+local.KubeConfig+`, zones: [z1]}
remoteClusters:
- {name: east, kubeConfigPath: `+remote.KubeConfig+`, servicePrefix: east, resyncPeriod: 2s}
- {name: west, kubeConfigPath: `+remote2.KubeConfig+`, servicePrefix: west, resyncPeriod: 2000000000}
`)

	// ssm render: the tree, applied with pruning to the local cluster.
	dir := filepath.Join(t.TempDir(), "render")
	if r := ssm(t, nil, "render", "--config", config, "-o", dir); r.code != 0 {
		t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
	}
	applyTree(t, dir)
	assertGlobal(t, "east,local,west", "http,grpc", 3)

	// ssm run commits the same tree.
	bare := bareRepo(t)
	// West's last mirror (and its global slices) go at the end: held by
	// default (see TestRunRemovalGuard), the guard is off here.
	args := []string{"--config", config, "--git-url", bare, "--git-path", gitPath, "--debounce", "300ms", "--max-delay", "2s", "--max-removals", "100%"}
	r1 := startRun(t, "multi-1", args...)
	eventually(t, 30*time.Second, "the first commit", func() bool { return len(commits(t, bare, "main")) == 2 })
	assertSameTree(t, dir, filepath.Join(checkout(t, bare), gitPath))
	show := func(p string) string { return git(t, bare, "show", "main:"+gitPath+"/"+p) }
	westFiles := func() map[string]string {
		m := map[string]string{}
		for _, p := range []string{"west/west-shop-73736d-api.yaml", "global/west/" + gl + ".yaml"} {
			m[p] = show(p)
		}
		return m
	}
	before := westFiles()

	// west goes down: what it showed stays, east keeps updating.
	remote2.Stop()
	eventually(t, 30*time.Second, "west reported down", func() bool { return r1.metric(`ssm_remote_up{cluster="west"}`) == 0 })
	eastAPI("10.31.0.1,10.31.0.2").apply(ctx, t, remote.Client)
	eventually(t, 30*time.Second, "east's change committed while west is down", func() bool {
		return strings.Contains(show("global/east/"+gl+".yaml"), "10.31.0.2") && strings.Contains(show("east/east-shop-73736d-api.yaml"), "10.31.0.2")
	})
	assertSame(t, before, westFiles())
	if !strings.Contains(show("global/"+gl+".yaml"), "global-svc-clusters: east,local,west") {
		t.Errorf("west left the global Service while down:\n%s", show("global/"+gl+".yaml"))
	}

	// ssm restarts while west is still down: west is never read, yet its
	// files stay, and east's changes go through.
	r1.terminate()
	service{ns: ns, name: "only-east-2", labels: map[string]string{"mirror.e2e/multi": "true"},
		spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}, subsets: subset("10.31.0.10", http)}.apply(ctx, t, remote.Client)
	r2 := startRun(t, "multi-2", args...)
	eventually(t, 60*time.Second, "east's new Service committed with west never read", func() bool {
		return slices.Contains(lsPath(t, bare, gitPath+"/east"), "east-shop-73736d-only-east-2.yaml")
	})
	assertSame(t, before, westFiles())
	if !strings.Contains(r2.logs(), "clusters not read yet keep their stored files") {
		t.Error("ssm did not log that west's files were kept")
	}

	// west comes back and drops shop/api: its mirror and its slices go,
	// and so does its grpc port.
	if err := remote2.Start(ctx, testbin); err != nil {
		t.Fatalf("restart west: %v\n%s", err, remote2.Logs())
	}
	eventually(t, 60*time.Second, "west read", func() bool { code, _ := r2.get("/readyz"); return code == 200 })
	deleteService(t, remote2.Client, ns, "api")
	eventually(t, 60*time.Second, "west's shop/api removed", func() bool {
		return !slices.Contains(lsPath(t, bare, gitPath), "west") &&
			strings.Contains(show("global/"+gl+".yaml"), "global-svc-clusters: east,local\n")
	})
	r2.terminate()
	applyTree(t, filepath.Join(checkout(t, bare), gitPath))
	assertGlobal(t, "east,local", "http", 2)
}

// localGlobal exports shop/api from the local cluster. No controller
// manager runs, so its EndpointSlice is written here, with a zone.
func localGlobal(t *testing.T, ns string) {
	t.Helper()
	lbl := map[string]string{"global.e2e/multi": "true"}
	service{ns: ns, name: "api", labels: lbl, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}}.apply(t.Context(), t, local.Client)
	ready, port, name := true, int32(8080), "http"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "api-local", Namespace: ns, Labels: map[string]string{"global.e2e/multi": "true", discoveryv1.LabelServiceName: "api"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.30.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, Zone: ptr("z1")}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
	_, err := local.Client.DiscoveryV1().EndpointSlices(ns).Create(t.Context(), slice, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

// applyTree applies a --config tree to the local cluster as a GitOps agent
// would, pruning, and checks the cluster holds exactly what it renders.
func applyTree(t *testing.T, dir string) {
	t.Helper()
	applySet(t, "--applyset=ssm-multi", "-n", "multi-mirrors", "-k", dir)
	assertApplied(t, local, dir, "multi-mirrors", "app.kubernetes.io/managed-by=ssm")
}

// assertGlobal checks the applied global Service: its clusters, its ports
// and how many EndpointSlices point at it.
func assertGlobal(t *testing.T, clusters, ports string, slices int) {
	t.Helper()
	const gl = "gl-shop-73736d-api"
	got := kubectl(t, local, "get", "service", gl, "-n", "multi-mirrors",
		"-o", `jsonpath={.metadata.annotations.global-svc-clusters} {range .spec.ports[*]}{.name},{end}`)
	want := clusters + " "
	for p := range strings.SplitSeq(ports, ",") {
		want += p + ","
	}
	if got != want {
		t.Errorf("global Service: %q, want %q", got, want)
	}
	names := kubectl(t, local, "get", "endpointslices", "-n", "multi-mirrors", "-l", "kubernetes.io/service-name="+gl, "-o", "name")
	if n := strings.Count(names, "\n"); n != slices {
		t.Errorf("%d EndpointSlices for %s, want %d:\n%s", n, gl, slices, names)
	}
}

func assertSame(t *testing.T, want, got map[string]string) {
	t.Helper()
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s changed:\n%s\nwant:\n%s", p, got[p], w)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
