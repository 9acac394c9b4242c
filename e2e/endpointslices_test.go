package e2e

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ssm-dev/ssm/generate"
)

// mirroringManager is the endpointslice.kubernetes.io/managed-by value of the
// EndpointSlices kube-controller-manager's mirroring controller writes.
const mirroringManager = "endpointslicemirroring-controller.k8s.io"

// TestEndpointSlicesKubeProxy applies each --endpoints-api mode's rendering
// of the same remote Services to the local cluster, whose
// kube-controller-manager runs the EndpointSlice mirroring controller, and
// checks what kube-proxy would read for each mirror: the EndpointSlices
// labelled with its name, whoever wrote them.
//
//   - endpoints: only the Endpoints are applied, of at most 1,000 addresses
//     as Kubernetes' endpoints controller writes them (annotated
//     endpoints.kubernetes.io/over-capacity: truncated); the mirroring
//     controller turns them into EndpointSlices: of a Service with 1,500,
//     kube-proxy sees 1,000.
//   - endpointslices: ssm's own EndpointSlices, split at 1,000 addresses,
//     every address; nothing mirrored (there are no Endpoints).
//   - both: ssm's EndpointSlices and Endpoints labelled skip-mirror, so the
//     controller adds no second copy of any address. Without that label it
//     does (checked last, so the test fails if the label stops working).
func TestEndpointSlicesKubeProxy(t *testing.T) {
	requireControllers(t)
	const remoteNS, prefix, big = "eps-shop", "eps", 1500
	sel := map[string]string{"mirror.e2e/eps": "true"}
	small := []string{"10.70.0.1", "10.70.0.2", "10.70.0.3"}
	var many []string
	for i := range big {
		many = append(many, fmt.Sprintf("10.71.%d.%d", i/250, i%250+1))
	}
	remoteSlices(t, remoteNS, "web", sel, small, "10.70.0.9")
	remoteSlices(t, remoteNS, "fleet", sel, many)

	// What kube-proxy must see when nothing is lost: every remote address,
	// once, on the mirror's port, ready but the one that is not.
	want := func(ips []string, notReady ...string) map[string]bool {
		m := map[string]bool{}
		for _, ip := range ips {
			m[ip+":8080/TCP"] = true
		}
		for _, ip := range notReady {
			m[ip+":8080/TCP"] = false
		}
		return m
	}
	webWant, fleetWant := want(small, "10.70.0.9"), want(many)
	web, fleet := generate.MirrorName(prefix, remoteNS, "web"), generate.MirrorName(prefix, remoteNS, "fleet")

	modes := []string{"endpoints", "endpointslices", "both"}
	for _, mode := range modes {
		ns := "eps-" + mode
		ensureNamespace(t, local.Client, ns)
		dir := filepath.Join(t.TempDir(), mode)
		r := ssm(t, nil, "render", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/eps=true",
			"--svc-prefix", prefix, "--mirror-ns", ns, "--remote-endpoints-api", "endpointslices", "--endpoints-api", mode, "-o", dir)
		if r.code != 0 {
			t.Fatalf("render --endpoints-api %s: exit %d\n%s", mode, r.code, r.stderr)
		}
		kubectl(t, local, "apply", "--server-side", "--field-manager=e2e-gitops", "-k", dir)
	}

	// endpoints: ssm's Endpoints hold 1,000 addresses, and say so; the
	// mirroring controller writes every slice of them.
	ep, err := local.Client.CoreV1().Endpoints("eps-endpoints").Get(t.Context(), fleet, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ss := range ep.Subsets {
		n += len(ss.Addresses) + len(ss.NotReadyAddresses)
	}
	if n != 1000 || ep.Annotations[corev1.EndpointsOverCapacity] != "truncated" {
		t.Errorf("applied Endpoints of %d remote addresses: %d addresses, annotations %v; want 1000 and over-capacity: truncated", big, n, ep.Annotations)
	}
	took := eventually(t, 60*time.Second, "the mirrored EndpointSlices", func() bool {
		v := kubeProxyView(t, "eps-endpoints", fleet)
		return len(v.endpoints) == 1000 && len(kubeProxyView(t, "eps-endpoints", web).endpoints) == len(webWant)
	})
	t.Logf("endpoints mode: mirrored by kube-controller-manager %s after the last of the three applies", took.Round(time.Millisecond))
	v := kubeProxyView(t, "eps-endpoints", web)
	v.requireOnly(t, mirroringManager)
	v.requireEndpoints(t, webWant)
	v = kubeProxyView(t, "eps-endpoints", fleet)
	v.requireOnly(t, mirroringManager)
	if lost := len(fleetWant) - len(v.endpoints); lost != big-1000 || v.duplicates != 0 {
		t.Errorf("endpoints mode, %d remote addresses: kube-proxy sees %d (%d duplicates), want 1000", big, len(v.endpoints), v.duplicates)
	}

	// endpointslices and both: ssm's slices only, every address. The
	// endpoints namespace was mirrored above, so the controller has seen
	// the Endpoints of both mode long enough to have mirrored them.
	for _, mode := range []string{"endpointslices", "both"} {
		ns := "eps-" + mode
		for name, w := range map[string]map[string]bool{web: webWant, fleet: fleetWant} {
			v := kubeProxyView(t, ns, name)
			v.requireOnly(t, generate.SliceManagedBy)
			v.requireEndpoints(t, w)
		}
	}
	for _, ns := range []string{"eps-endpointslices", "eps-both"} {
		if n := len(kubeProxyView(t, ns, fleet).slices); n != 2 {
			t.Errorf("%s: %d EndpointSlices for %d addresses, want ssm's 2 (1,000 + 500)", ns, n, big)
		}
	}

	// both without skip-mirror: the controller mirrors the Endpoints too,
	// and kube-proxy reads every address twice.
	kubectl(t, local, "label", "endpoints", "-n", "eps-both", web, generate.LabelSkipMirror+"-")
	eventually(t, 60*time.Second, "mirrored copies once skip-mirror is gone", func() bool {
		return kubeProxyView(t, "eps-both", web).duplicates == len(webWant)
	})
}

// remoteSlices creates a remote Service and its EndpointSlices (at most 1,000
// endpoints each, as the EndpointSlice controller writes them), labelled
// sel as ssm selects them.
func remoteSlices(t *testing.T, ns, name string, sel map[string]string, ready []string, notReady ...string) {
	t.Helper()
	ctx := t.Context()
	service{ns: ns, name: name, labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}}.apply(ctx, t, remote.Client)
	var eps []discoveryv1.Endpoint
	for i, ip := range append(slices.Clone(ready), notReady...) {
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(i < len(ready))}})
	}
	labels := maps.Clone(sel)
	labels[discoveryv1.LabelServiceName] = name
	port, portName := int32(8080), "http"
	n := 0
	for chunk := range slices.Chunk(eps, 1000) {
		n++
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, n), Namespace: ns, Labels: labels},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   chunk,
			Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: ptr(corev1.ProtocolTCP)}},
		}
		if _, err := remote.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create EndpointSlice %s/%s: %v", ns, slice.Name, err)
		}
	}
}

// proxyView is what kube-proxy reads for one Service: every EndpointSlice
// labelled kubernetes.io/service-name=<name>, merged.
type proxyView struct {
	slices     []discoveryv1.EndpointSlice
	endpoints  map[string]bool // "ip:port/protocol" → ready
	duplicates int             // endpoints present in more than one slice
}

func kubeProxyView(t *testing.T, ns, name string) proxyView {
	t.Helper()
	list, err := local.Client.DiscoveryV1().EndpointSlices(ns).List(t.Context(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	v := proxyView{slices: list.Items, endpoints: map[string]bool{}}
	for _, s := range list.Items {
		for _, p := range s.Ports {
			for _, e := range s.Endpoints {
				for _, a := range e.Addresses {
					key := fmt.Sprintf("%s:%d/%s", a, *p.Port, *p.Protocol)
					if _, ok := v.endpoints[key]; ok {
						v.duplicates++
					}
					v.endpoints[key] = e.Conditions.Ready == nil || *e.Conditions.Ready
				}
			}
		}
	}
	return v
}

// requireOnly fails unless every slice is written by manager.
func (v proxyView) requireOnly(t *testing.T, manager string) {
	t.Helper()
	if len(v.slices) == 0 {
		t.Fatalf("no EndpointSlices, want %s's", manager)
	}
	for _, s := range v.slices {
		if got := s.Labels[discoveryv1.LabelManagedBy]; got != manager {
			t.Errorf("EndpointSlice %s/%s is managed by %q, want only %q's", s.Namespace, s.Name, got, manager)
		}
	}
}

// requireEndpoints fails unless kube-proxy sees exactly want, once each.
func (v proxyView) requireEndpoints(t *testing.T, want map[string]bool) {
	t.Helper()
	if v.duplicates != 0 {
		t.Errorf("%d endpoints in more than one EndpointSlice", v.duplicates)
	}
	if !maps.Equal(v.endpoints, want) {
		var diff []string
		for k, w := range want {
			if g, ok := v.endpoints[k]; !ok || g != w {
				diff = append(diff, fmt.Sprintf("%s: ready %v, want %v (present %v)", k, g, w, ok))
			}
		}
		for k := range v.endpoints {
			if _, ok := want[k]; !ok {
				diff = append(diff, k+": not a remote endpoint")
			}
		}
		slices.Sort(diff)
		if len(diff) > 10 {
			diff = append(diff[:10], fmt.Sprintf("… %d more", len(diff)-10))
		}
		t.Errorf("kube-proxy sees %d endpoints, want %d:\n%s", len(v.endpoints), len(want), strings.Join(diff, "\n"))
	}
}

// TestDefaultRenderNoDeprecationWarning: what ssm renders by default applies
// to a real API server (1.33 and later) without the warning that v1
// Endpoints draw on every write, which `--endpoints-api endpoints` still
// draws: why the default follows Kubernetes (docs/render.md).
func TestDefaultRenderNoDeprecationWarning(t *testing.T) {
	requireEnv(t)
	ns := "eps-default"
	kubectl(t, local, "create", "namespace", ns)
	for _, tc := range []struct {
		api  []string
		warn bool
	}{{nil, false}, {[]string{"--endpoints-api", "endpoints"}, true}} {
		dir := filepath.Join(t.TempDir(), "mirrors")
		args := append([]string{"render", "--from-file", filepath.Join(examplesDir, "snapshot", "remote.yaml"), "--label-selector", "mirror=true",
			"--svc-prefix", "dep", "--mirror-ns", ns, "--read-local=false", "-o", dir}, tc.api...)
		if r := ssm(t, nil, args...); r.code != 0 {
			t.Fatalf("render %v: exit %d\n%s", tc.api, r.code, r.stderr)
		}
		r := run(t, nil, "kubectl", "--kubeconfig", local.KubeConfig, "apply", "--server-side", "--field-manager=e2e-gitops", "--force-conflicts", "-k", dir)
		if r.code != 0 {
			t.Fatalf("kubectl apply %v: exit %d\n%s", tc.api, r.code, r.stderr)
		}
		if warned := strings.Contains(r.stderr, "Warning: v1 Endpoints is deprecated"); warned != tc.warn {
			t.Errorf("render %v applied: deprecation warning %v, want %v; kubectl said:\n%s", tc.api, warned, tc.warn, r.stderr)
		}
	}
}
