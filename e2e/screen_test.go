package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ssm-dev/ssm/generate"
)

// hostileAddresses point a mirror at the local cluster's sensitive places:
// its nodes' loopback, the cloud metadata service, multicast groups, the
// local network's broadcast, and the local kubernetes Service (10.96.0.1,
// denied with --deny-cidr). denied is the range of the last.
var hostileAddresses = []string{"127.0.0.1", "::1", "169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "::ffff:127.0.0.2",
	"239.1.2.3", "ff05::2", "255.255.255.255", "::ffff:10.1.0.9", "10.96.0.1"}

const denied = "10.96.0.0/12"

// spellings are how a render would write ip, had it kept it.
func spellings(ip string) []string {
	out := []string{ip}
	if rest, ok := strings.CutPrefix(ip, "::ffff:"); ok {
		out = append(out, rest)
	}
	return out
}

// accepted sorts hostileAddresses into those the remote API server takes
// in an Endpoints object and those it refuses itself (a dry run).
func accepted(t *testing.T, ns string) (ok, refused []string) {
	t.Helper()
	for _, ip := range hostileAddresses {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip}}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
		_, err := remote.Client.CoreV1().Endpoints(ns).Create(t.Context(), ep, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			refused = append(refused, ip)
		} else {
			ok = append(ok, ip)
		}
	}
	return ok, refused
}

// TestHostileRemote: a remote whose Endpoints and EndpointSlices hold
// addresses that point at the local cluster's sensitive places (those its
// API server accepts, with and without --deny-cidr; the rest from a
// snapshot, as an older or compromised API server would serve them) and a
// Service with a port no API server accepts: ssm renders, `kubectl apply
// --server-side` of the result to the local cluster succeeds (the local
// API server refuses loopback and link-local endpoints: one would fail the
// apply of every mirror), and the applied Endpoints and EndpointSlices
// hold none of those addresses. In NodePort mode, nodes with such
// InternalIPs likewise.
func TestHostileRemote(t *testing.T) {
	requireEnv(t)
	const remoteNS = "scr-shop"
	sel := map[string]string{"mirror.e2e/screen": "true"}
	ensureNamespace(t, remote.Client, remoteNS)
	live, refused := accepted(t, remoteNS)
	t.Logf("the remote API server accepts %q in Endpoints and refuses %q", live, refused)
	for _, must := range []string{"239.1.2.3", "255.255.255.255", "10.96.0.1"} {
		if !slices.Contains(live, must) {
			t.Fatalf("the remote API server refuses %s: the test has nothing hostile to read live", must)
		}
	}
	good := []string{"10.80.0.1", "fd00:80::1"}
	service{ns: remoteNS, name: "web", labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
		subsets: []corev1.EndpointSubset{{Addresses: addrs(append(slices.Clone(good), live...)), Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}.
		apply(t.Context(), t, remote.Client)
	remoteSlices(t, remoteNS, "api", sel, append([]string{good[0]}, ipv4(live)...))
	hostileSlice(t, remoteNS, "api", sel, append([]string{good[1]}, ipv6(live)...))

	// Live: web's addresses are in Endpoints, api's in EndpointSlices;
	// each is rendered, both ways, into a namespace of its own. Without
	// --deny-cidr, 10.96.0.1 is rendered: the deny range is what drops it.
	t.Run("live", func(t *testing.T) {
		for _, tc := range []struct {
			api, mirror string
			deny        bool
		}{{"endpoints", "web", false}, {"endpoints", "web", true}, {"endpointslices", "api", false}, {"endpointslices", "api", true}} {
			ns := fmt.Sprintf("scr-%s-%s", tc.mirror, map[bool]string{false: "default", true: "deny"}[tc.deny])
			ensureNamespace(t, local.Client, ns)
			dir := filepath.Join(t.TempDir(), ns)
			args := []string{"render", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/screen=true", "--svc-prefix", "scr",
				"--mirror-ns", ns, "--remote-endpoints-api", tc.api, "--endpoints-api", "both", "-o", dir}
			if tc.deny {
				args = append(args, "--deny-cidr", denied)
			}
			r := ssm(t, nil, args...)
			if r.code != 0 {
				t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "service="+remoteNS+"/"+tc.mirror+" reason=AddressDropped") {
				t.Errorf("%s: no AddressDropped warning logged:\n%s", ns, r.stderr)
			}
			kubectl(t, local, "apply", "--server-side", "--field-manager=e2e-gitops", "-k", dir)
			want, refusedHere := slices.Clone(good), slices.Clone(live)
			if !tc.deny {
				want, refusedHere = append(want, "10.96.0.1"), slices.DeleteFunc(refusedHere, func(ip string) bool { return ip == "10.96.0.1" })
			}
			assertLocalAddresses(t, ns, generate.MirrorName("scr", remoteNS, tc.mirror), want, refusedHere)
		}
	})

	t.Run("snapshot", func(t *testing.T) {
		// What the API server refuses in Endpoints, as a snapshot (or an
		// older API server) serves it, and a port none accepts.
		var b strings.Builder
		b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
		fmt.Fprintf(&b, "- {apiVersion: v1, kind: Service, metadata: {name: web, namespace: %s, labels: {m: s}}, spec: {ports: [{name: http, port: 80}]}}\n", remoteNS)
		fmt.Fprintf(&b, "- {apiVersion: v1, kind: Endpoints, metadata: {name: web, namespace: %s, labels: {m: s}}, subsets: [{ports: [{name: http, port: 8080}], addresses: [", remoteNS)
		for _, ip := range append(slices.Clone(good), hostileAddresses...) {
			fmt.Fprintf(&b, "{ip: %q}, ", ip)
		}
		b.WriteString("]}]}\n")
		fmt.Fprintf(&b, "- {apiVersion: v1, kind: Service, metadata: {name: port, namespace: %s, labels: {m: s}}, spec: {ports: [{name: http, port: 70000}]}}\n", remoteNS)
		snap := filepath.Join(t.TempDir(), "hostile.yaml")
		if err := os.WriteFile(snap, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		ns := "scr-snapshot"
		ensureNamespace(t, local.Client, ns)
		dir := filepath.Join(t.TempDir(), ns)
		r := ssm(t, nil, "render", "--from-file", snap, "--label-selector", "m=s", "--svc-prefix", "scr", "--mirror-ns", ns,
			"--endpoints-api", "both", "--skip-invalid", "-o", dir)
		if r.code != 0 {
			t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "service=scr-shop/port") || !strings.Contains(r.stderr, "reason=InvalidPort") {
			t.Errorf("the Service of port 70000 is not logged as skipped:\n%s", r.stderr)
		}
		kubectl(t, local, "apply", "--server-side", "--field-manager=e2e-gitops", "-k", dir)
		assertLocalAddresses(t, ns, generate.MirrorName("scr", remoteNS, "web"), good, notDenied())
	})

	t.Run("nodeport", func(t *testing.T) {
		createNode(t, "scr-node-good", "10.81.0.1", corev1.ConditionTrue)
		for i, ip := range hostileAddresses {
			createNode(t, fmt.Sprintf("scr-node-%d", i), ip, corev1.ConditionTrue)
		}
		service{ns: "scr-np", name: "edge", labels: map[string]string{"mirror.e2e/screen-np": "true"}, spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{tcp("http", 80)}}}.apply(t.Context(), t, remote.Client)
		t.Cleanup(func() {
			_ = remote.Client.CoreV1().Services("scr-np").Delete(context.Background(), "edge", metav1.DeleteOptions{})
		})
		dir := filepath.Join(t.TempDir(), "np")
		r := ssm(t, nil, "render", "--mode", "nodeport", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/screen-np=true",
			"--manual-endpoints=false", "--kube-config", local.KubeConfig, "--endpoints-api", "both", "-o", dir)
		if r.code != 0 {
			t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "remote node addresses left out") {
			t.Errorf("no warning about the nodes logged:\n%s", r.stderr)
		}
		kubectl(t, local, "apply", "--server-side", "--field-manager=e2e-gitops", "-k", filepath.Join(dir, "namespaces"))
		kubectl(t, local, "apply", "--server-side", "--field-manager=e2e-gitops", "-k", filepath.Join(dir, "mirrors"))
		assertLocalAddresses(t, "scr-np", "edge", []string{"10.81.0.1"}, notDenied())
	})
}

// notDenied are the hostile addresses refused without --deny-cidr, which
// the live part covers.
func notDenied() []string {
	return slices.DeleteFunc(slices.Clone(hostileAddresses), func(ip string) bool { return ip == "10.96.0.1" })
}

// assertLocalAddresses fails unless the local Endpoints and EndpointSlices
// of Service ns/name hold every address of want and none of refused.
func assertLocalAddresses(t *testing.T, ns, name string, want, refused []string) {
	t.Helper()
	var have []string
	ep, err := local.Client.CoreV1().Endpoints(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("local Endpoints %s/%s: %v", ns, name, err)
	}
	for _, ss := range ep.Subsets {
		for _, a := range append(ss.Addresses, ss.NotReadyAddresses...) {
			have = append(have, "Endpoints "+a.IP)
		}
	}
	list, err := local.Client.DiscoveryV1().EndpointSlices(ns).List(t.Context(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				have = append(have, "EndpointSlice "+a)
			}
		}
	}
	for _, kind := range []string{"Endpoints", "EndpointSlice"} {
		for _, ip := range want {
			if !slices.Contains(have, kind+" "+ip) {
				t.Errorf("%s/%s: the local %s lack %s: %q", ns, name, kind, ip, have)
			}
		}
		for _, ip := range refused {
			for _, s := range spellings(ip) {
				if slices.Contains(have, kind+" "+s) {
					t.Errorf("%s/%s: the local %s hold %s (%s)", ns, name, kind, s, ip)
				}
			}
		}
	}
	t.Logf("%s/%s holds %q", ns, name, have)
}

func addrs(ips []string) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, len(ips))
	for i, ip := range ips {
		out[i] = addr(ip)
	}
	return out
}

func ipv4(ips []string) []string {
	return slices.DeleteFunc(slices.Clone(ips), func(ip string) bool { return strings.Contains(ip, ":") })
}

func ipv6(ips []string) []string {
	return slices.DeleteFunc(slices.Clone(ips), func(ip string) bool { return !strings.Contains(ip, ":") })
}

// hostileSlice adds an IPv6 EndpointSlice of ips to the remote Service
// ns/name, keeping those the API server accepts in one.
func hostileSlice(t *testing.T, ns, name string, sel map[string]string, ips []string) {
	t.Helper()
	labels := map[string]string{discoveryv1.LabelServiceName: name}
	for k, v := range sel {
		labels[k] = v
	}
	port, portName := int32(8080), "http"
	for i, ip := range ips {
		s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-v6-%d", name, i), Namespace: ns, Labels: labels},
			AddressType: discoveryv1.AddressTypeIPv6, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{ip}}},
			Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: ptr(corev1.ProtocolTCP)}}}
		if _, err := remote.Client.DiscoveryV1().EndpointSlices(ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
			t.Logf("the remote API server refuses %s in an EndpointSlice: %v", ip, err)
		}
	}
}
