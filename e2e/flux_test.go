package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestFlux runs what a Flux user runs: `ssm run` commits to a repository,
// and Flux's real kustomize-controller applies each commit to the local
// cluster, pruning what leaves it. It shows the first commit applied
// (Services, Endpoints and EndpointSlices), a remote deletion pruned, and a
// remote Service turning headless converging through the force annotation
// ssm puts on its Services; the way back, which Kubernetes accepts without
// an error and without a change, converges once the mirror is deleted, as
// docs/flux.md says.
func TestFlux(t *testing.T) {
	bin := fluxBin(t)
	ctx := t.Context()
	const fluxNS, mirrors, app = "flux-e2e", "flux-mirrors", "fluxapp"
	ensureNamespace(t, local.Client, fluxNS)
	ensureNamespace(t, local.Client, mirrors)
	startFlux(t, bin, fluxNS)

	sel := map[string]string{"mirror.e2e/flux": "true"}
	ep := func(ip string) []corev1.EndpointSubset {
		return []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(ip)}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}
	}
	clusterIP := corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}
	headless := corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{tcp("http", 80)}}
	for _, s := range []service{
		{ns: app, name: "web", labels: sel, spec: clusterIP, subsets: ep("10.80.0.1")},
		{ns: app, name: "db", labels: sel, spec: headless, subsets: ep("10.80.0.2")},
		{ns: app, name: "gone", labels: sel, spec: clusterIP, subsets: ep("10.80.0.3")},
		{ns: app, name: "flip", labels: sel, spec: clusterIP, subsets: ep("10.80.0.4")},
	} {
		s.apply(ctx, t, remote.Client)
	}
	bare := bareRepo(t)
	seed := gittest.Git(t, bare, "rev-parse", "main")
	run := startRun(t, "run-flux", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/flux=true",
		"--svc-prefix", "fx", "--mirror-ns", mirrors, "--endpoints-api", "both",
		"--git-url", bare, "--git-path", "clusters/local", "--debounce", "200ms", "--max-delay", "1s")
	src := newFluxSource(t, fluxNS, "ssm")
	fluxKustomization(t, src, "mirrors", "clusters/local")
	mirror := func(name string) string { return "fx-" + app + "-73736d-" + name }
	file := func(name string) string { return "clusters/local/" + mirror(name) + ".yaml" }
	svcs := local.Client.CoreV1().Services(mirrors)

	// The first commit, applied.
	start := time.Now()
	head := waitMainMoves(t, bare, seed, "the first commit", func(f map[string]string) bool {
		_, ok := f[file("flip")]
		return ok
	})
	src.publish(bare, head)
	waitApplied(t, fluxNS, "mirrors", head)
	t.Logf("first commit applied by Flux %s after ssm started", time.Since(start).Round(time.Millisecond))
	for _, name := range []string{"web", "db", "gone", "flip"} {
		if _, err := svcs.Get(ctx, mirror(name), metav1.GetOptions{}); err != nil {
			t.Errorf("mirror Service %s: %v", mirror(name), err)
		}
	}
	if e, err := local.Client.CoreV1().Endpoints(mirrors).Get(ctx, mirror("web"), metav1.GetOptions{}); err != nil ||
		len(e.Subsets) != 1 || e.Subsets[0].Addresses[0].IP != "10.80.0.1" {
		t.Errorf("Endpoints of %s = %+v, %v; want 10.80.0.1", mirror("web"), e, err)
	}
	slices, err := local.Client.DiscoveryV1().EndpointSlices(mirrors).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + mirror("db")})
	if err != nil || len(slices.Items) != 1 || slices.Items[0].Endpoints[0].Addresses[0] != "10.80.0.2" {
		t.Errorf("EndpointSlices of %s = %+v, %v; want one holding 10.80.0.2", mirror("db"), slices, err)
	}

	// A remote deletion, pruned.
	deleteService(t, remote.Client, app, "gone")
	head = waitMainMoves(t, bare, head, "the deletion committed", func(f map[string]string) bool {
		_, ok := f[file("gone")]
		return !ok
	})
	src.publish(bare, head)
	waitApplied(t, fluxNS, "mirrors", head)
	if _, err := svcs.Get(ctx, mirror("gone"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("mirror of the deleted Service: %v, want it pruned", err)
	}
	if _, err := svcs.Get(ctx, mirror("web"), metav1.GetOptions{}); err != nil {
		t.Errorf("mirror %s after the prune: %v", mirror("web"), err)
	}

	// The remote Service turns headless (Kubernetes makes that a delete
	// and a create there too). Flux's apply fails on the immutable
	// clusterIP, and the force annotation has it create the mirror anew.
	before, err := svcs.Get(ctx, mirror("flip"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deleteService(t, remote.Client, app, "flip")
	service{ns: app, name: "flip", labels: sel, spec: headless, subsets: ep("10.80.0.4")}.apply(ctx, t, remote.Client)
	head = waitMainMoves(t, bare, head, "the headless mirror committed", func(f map[string]string) bool {
		return strings.Contains(f[file("flip")], "clusterIP: None")
	})
	src.publish(bare, head)
	waitApplied(t, fluxNS, "mirrors", head)
	after, err := svcs.Get(ctx, mirror("flip"), metav1.GetOptions{})
	if err != nil || after.Spec.ClusterIP != corev1.ClusterIPNone || after.UID == before.UID {
		t.Fatalf("mirror after the remote turned headless: %v (clusterIP %q, uid %s, was %s), want it created anew, headless",
			err, after.Spec.ClusterIP, after.UID, before.UID)
	}

	// And back. The API server keeps clusterIP None when an apply leaves
	// it out, without an error: no agent sees the difference. Deleting the
	// mirror, as docs/flux.md says, has Flux create it as it is now.
	deleteService(t, remote.Client, app, "flip")
	service{ns: app, name: "flip", labels: sel, spec: clusterIP, subsets: ep("10.80.0.4")}.apply(ctx, t, remote.Client)
	head = waitMainMoves(t, bare, head, "the ClusterIP mirror committed", func(f map[string]string) bool {
		content, ok := f[file("flip")]
		return ok && !strings.Contains(content, "clusterIP: None")
	})
	src.publish(bare, head)
	waitApplied(t, fluxNS, "mirrors", head)
	if s, err := svcs.Get(ctx, mirror("flip"), metav1.GetOptions{}); err != nil || s.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("mirror after the remote left headless: %v, clusterIP %q; Kubernetes used to keep None here, update docs/flux.md", err, s.Spec.ClusterIP)
	}
	if !strings.Contains(run.logs(), `msg="a mirror stops being headless`) {
		t.Error("ssm did not warn that the mirror stops being headless")
	}
	kubectl(t, local, "delete", "service", "-n", mirrors, mirror("flip"))
	kubectl(t, local, "annotate", "--overwrite", "kustomization", "-n", fluxNS, "mirrors", "reconcile.fluxcd.io/requestedAt="+time.Now().Format(time.RFC3339Nano))
	eventually(t, 60*time.Second, "Flux creating the ClusterIP mirror", func() bool {
		s, err := svcs.Get(ctx, mirror("flip"), metav1.GetOptions{})
		return err == nil && s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone
	})
}

// TestFluxNodePortNamespaces: Flux applies a NodePort-mode tree, creating
// the namespaces the mirrors live in, which the local cluster lacked; when
// a remote namespace's last Service goes, its mirror is pruned, and so is
// the namespace ssm created, unless it holds a Service of someone else by
// then, which ssm sees: it is kept, with that Service.
func TestFluxNodePortNamespaces(t *testing.T) {
	bin := fluxBin(t)
	ctx := t.Context()
	const fluxNS = "flux-np"
	ensureNamespace(t, local.Client, fluxNS)
	startFlux(t, bin, fluxNS)
	createNode(t, "fxnp-node-1", "10.70.0.1", corev1.ConditionTrue)
	sel := map[string]string{"mirror.e2e/fluxnp": "true"}
	nodePort := corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{tcp("http", 80)}}
	for _, s := range []service{
		{ns: "fxnp-a", name: "web", labels: sel, spec: nodePort},
		{ns: "fxnp-b", name: "api", labels: sel, spec: nodePort},
		{ns: "fxnp-c", name: "api", labels: sel, spec: nodePort},
	} {
		s.apply(ctx, t, remote.Client)
	}
	bare := bareRepo(t)
	seed := gittest.Git(t, bare, "rev-parse", "main")
	startRun(t, "run-flux-nodeport", "--target-kube-config", remote.KubeConfig, "--mode", "nodeport", "--manual-endpoints=false",
		"--kube-config", local.KubeConfig,
		"--label-selector", "mirror.e2e/fluxnp=true", "--max-removals", "100%",
		"--git-url", bare, "--git-path", "clusters/np", "--debounce", "200ms", "--max-delay", "1s")
	src := newFluxSource(t, fluxNS, "ssm-np")
	fluxKustomization(t, src, "nodeport", "clusters/np")

	head := waitMainMoves(t, bare, seed, "the first commit", func(f map[string]string) bool {
		_, a := f["clusters/np/mirrors/fxnp-a.web.yaml"]
		_, b := f["clusters/np/mirrors/fxnp-b.api.yaml"]
		_, c := f["clusters/np/mirrors/fxnp-c.api.yaml"]
		return a && b && c
	})
	src.publish(bare, head)
	waitApplied(t, fluxNS, "nodeport", head)
	for _, m := range [][2]string{{"fxnp-a", "web"}, {"fxnp-b", "api"}, {"fxnp-c", "api"}} {
		if _, err := local.Client.CoreV1().Services(m[0]).Get(ctx, m[1], metav1.GetOptions{}); err != nil {
			t.Errorf("mirror %s/%s: %v", m[0], m[1], err)
		}
	}
	// Someone deploys a Service of their own into fxnp-c, which ssm
	// created: ssm sees it and marks the namespace never to be pruned.
	service{ns: "fxnp-c", name: "own", spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}}.apply(ctx, t, local.Client)
	head = waitMainMoves(t, bare, head, "fxnp-c kept", func(f map[string]string) bool {
		_, c, _ := strings.Cut(f["clusters/np/namespaces/namespaces.yaml"], "name: fxnp-b")
		return strings.Contains(c, "kustomize.toolkit.fluxcd.io/prune: disabled")
	})
	src.publish(bare, head)
	waitApplied(t, fluxNS, "nodeport", head)

	deleteService(t, remote.Client, "fxnp-b", "api")
	deleteService(t, remote.Client, "fxnp-c", "api")
	head = waitMainMoves(t, bare, head, "the deletions committed", func(f map[string]string) bool {
		_, b := f["clusters/np/mirrors/fxnp-b.api.yaml"]
		_, c := f["clusters/np/mirrors/fxnp-c.api.yaml"]
		ns := f["clusters/np/namespaces/namespaces.yaml"]
		return !b && !c && !strings.Contains(ns, "name: fxnp-b") && !strings.Contains(ns, "name: fxnp-c")
	})
	src.publish(bare, head)
	waitApplied(t, fluxNS, "nodeport", head)
	for _, ns := range []string{"fxnp-b", "fxnp-c"} {
		if _, err := local.Client.CoreV1().Services(ns).Get(ctx, "api", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("mirror of the deleted Service %s/api: %v, want it pruned", ns, err)
		}
	}
	eventually(t, 60*time.Second, "namespace fxnp-b, which ssm created, pruned with its last mirror", func() bool {
		_, err := local.Client.CoreV1().Namespaces().Get(ctx, "fxnp-b", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	ns, err := local.Client.CoreV1().Namespaces().Get(ctx, "fxnp-c", metav1.GetOptions{})
	if err != nil || ns.DeletionTimestamp != nil {
		t.Errorf("namespace fxnp-c, holding someone's Service: %v (deleting: %v), want it kept", err, ns.DeletionTimestamp)
	}
	if _, err := local.Client.CoreV1().Services("fxnp-c").Get(ctx, "own", metav1.GetOptions{}); err != nil {
		t.Errorf("the local Service fxnp-c/own: %v", err)
	}
	if _, err := local.Client.CoreV1().Services("fxnp-a").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("mirror fxnp-a/web: %v", err)
	}
}
