package generate_test

import (
	"maps"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
)

var deny = []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("fd00:96::/32")}

// TestDenyCIDRs: addresses in Options.DenyCIDRs are left out of
// Endpoints, EndpointSlices, NodePort mode's node endpoints and a remote
// cluster's part of global Services, each counted as Denied; addresses
// just outside are rendered.
func TestDenyCIDRs(t *testing.T) {
	t.Parallel()
	denied, kept := []string{"10.96.0.1", "10.111.255.254", "fd00:96::1"}, []string{"10.95.255.255", "10.112.0.0", "fd00:97::1"}
	all := append(append([]string{}, denied...), kept...)
	check := func(t *testing.T, what, file string, warnings []generate.Skipped, service string) {
		t.Helper()
		for _, ip := range denied {
			if strings.Contains(file, " "+ip+"\n") {
				t.Errorf("%s: denied %s rendered:\n%s", what, ip, file)
			}
		}
		for _, ip := range kept {
			if !strings.Contains(file, " "+ip+"\n") {
				t.Errorf("%s: %s, outside the denied ranges, not rendered:\n%s", what, ip, file)
			}
		}
		var got map[string]int
		for _, w := range warnings {
			if w.Reason == generate.ReasonAddressDropped && w.Service == service {
				got = w.Dropped
			}
		}
		if want := map[string]int{generate.AddressDenied: 3}; !maps.Equal(got, want) {
			t.Errorf("%s: dropped %v, want %v (warnings %+v)", what, got, want, warnings)
		}
	}
	opts := generate.Options{ServicePrefix: "p", MirrorNamespace: "m", EndpointsAPI: kubeapi.Both, DenyCIDRs: deny}
	t.Run("endpoints", func(t *testing.T) {
		var addrs []corev1.EndpointAddress
		for _, ip := range all {
			addrs = append(addrs, corev1.EndpointAddress{IP: ip})
		}
		st := generate.State{Services: []*corev1.Service{svc("n", "s", port("http", 80))},
			Endpoints: []*corev1.Endpoints{endpointsOf("n", "s", addrs[:3], addrs[3:], httpEndpointPort(8080))}}
		res, err := generate.Manifests(st, opts)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "endpoints", string(res.Files["p-n-73736d-s.yaml"]), res.Warnings, "n/s")
	})
	t.Run("endpointslices", func(t *testing.T) {
		st := generate.State{Services: []*corev1.Service{svc("n", "s", port("http", 80))}, EndpointSlices: slicesOf("n", "s", all, httpSlicePort(8080))}
		res, err := generate.Manifests(st, opts)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "endpointslices", string(res.Files["p-n-73736d-s.yaml"]), res.Warnings, "n/s")
	})
	t.Run("nodeport", func(t *testing.T) {
		s := svc("ns", "web", corev1.ServicePort{Name: "http", Port: 80, NodePort: 30080})
		s.Spec.Type = corev1.ServiceTypeNodePort
		st := generate.State{Services: []*corev1.Service{s}, Nodes: []*corev1.Node{node("a", all[:2]...), node("b", all[2:]...)}}
		res, err := generate.Manifests(st, generate.Options{Mode: generate.ModeNodePort, EndpointsAPI: kubeapi.Both, DenyCIDRs: deny})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "nodeport", strings.ReplaceAll(string(res.Files["mirrors/ns.web.yaml"]), "- ip: ", "- "), res.Warnings, "")
	})
	t.Run("global", func(t *testing.T) {
		res, err := generate.Tree([]generate.Cluster{{Name: "east", Options: generate.Options{ServicePrefix: "e", MirrorNamespace: "m", DenyCIDRs: deny},
			Global: generate.State{Services: []*corev1.Service{svc("app", "api", port("http", 80))}, EndpointSlices: slicesOf("app", "api", all, httpSlicePort(8080))}}},
			generate.GlobalOptions{MirrorNamespace: "m"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "global", string(res.Files["global/east/gl-app-73736d-api.yaml"]), res.Warnings, "app/api")
	})
}

// TestDroppedCounts: an AddressDropped warning counts distinct addresses
// by why, once each however often the remote lists them.
func TestDroppedCounts(t *testing.T) {
	t.Parallel()
	ready := []corev1.EndpointAddress{{IP: "127.0.0.1"}, {IP: "127.0.0.1"}, {IP: "::1"}, {IP: "10.96.0.1"}, {IP: "224.0.0.1"}, {IP: "10.0.0.1"}}
	notReady := []corev1.EndpointAddress{{IP: "127.0.0.1"}, {IP: "::ffff:1.2.3.4"}}
	st := generate.State{Services: []*corev1.Service{svc("n", "s", port("http", 80), port("grpc", 90))},
		Endpoints: []*corev1.Endpoints{{ObjectMeta: endpointsOf("n", "s", nil, nil).ObjectMeta, Subsets: []corev1.EndpointSubset{
			{Addresses: ready, NotReadyAddresses: notReady, Ports: []corev1.EndpointPort{httpEndpointPort(8080)}},
			{Addresses: ready, Ports: []corev1.EndpointPort{{Name: "grpc", Port: 9090}}},
		}}}}
	res, err := generate.Manifests(st, generate.Options{ServicePrefix: "p", MirrorNamespace: "m", DenyCIDRs: deny})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{generate.AddressLoopback: 2, generate.AddressDenied: 1, generate.AddressMulticast: 1, generate.AddressIPv4Mapped: 1}
	if len(res.Warnings) != 1 || !maps.Equal(res.Warnings[0].Dropped, want) {
		t.Fatalf("warnings %+v, want one counting %v", res.Warnings, want)
	}
	if msg := res.Warnings[0].Message; !strings.HasPrefix(msg, `5 endpoint addresses left out (1 Denied, 1 IPv4Mapped, 2 Loopback, 1 Multicast), e.g. "10.96.0.1", "127.0.0.1", "224.0.0.1"`) {
		t.Errorf("message %q", msg)
	}
}
