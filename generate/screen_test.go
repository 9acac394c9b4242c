package generate_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
)

// The reasons are spelled out: they are what logs, metrics and docs show.
const (
	reasonAddressDropped  = "AddressDropped"
	reasonInvalidHostname = "InvalidHostname"
	reasonInvalidPort     = "InvalidPort"
	reasonInvalidProtocol = "InvalidProtocol"
	reasonOverSliceLimit  = "OverEndpointSliceLimit"
)

// refusedAddresses are, by why, addresses a remote may list that ssm never
// renders; rendered is the form a render would write them in.
var refusedAddresses = []struct{ ip, why string }{
	{"127.0.0.1", "Loopback"}, {"127.1.2.3", "Loopback"}, {"::1", "Loopback"},
	{"0.0.0.0", "Unspecified"}, {"0.1.2.3", "Unspecified"}, {"::", "Unspecified"},
	{"169.254.169.254", "LinkLocal"}, {"169.254.0.1", "LinkLocal"}, {"fe80::1", "LinkLocal"}, {"febf::1", "LinkLocal"},
	{"224.0.0.1", "Multicast"}, {"239.1.2.3", "Multicast"}, {"ff02::1", "Multicast"}, {"ff05::2", "Multicast"},
	{"255.255.255.255", "Broadcast"},
	{"::ffff:127.0.0.2", "IPv4Mapped"}, {"::ffff:10.1.0.9", "IPv4Mapped"},
	{"not-an-ip", "Invalid"}, {"fe80::1%eth0", "Invalid"},
}

// rendered is how a render would spell ip, had it kept it.
func rendered(ip string) []string {
	out := []string{ip}
	if a, err := netip.ParseAddr(ip); err == nil {
		out = append(out, a.Unmap().String(), a.WithZone("").String())
	}
	return out
}

func endpointsOf(ns, name string, ready, notReady []corev1.EndpointAddress, ports ...corev1.EndpointPort) *corev1.Endpoints {
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Subsets: []corev1.EndpointSubset{{Addresses: ready, NotReadyAddresses: notReady, Ports: ports}}}
}

func slicesOf(ns, name string, ips []string, ports ...discoveryv1.EndpointPort) []*discoveryv1.EndpointSlice {
	var v4, v6 []discoveryv1.Endpoint
	for _, ip := range ips {
		e := discoveryv1.Endpoint{Addresses: []string{ip}}
		if strings.Contains(ip, ":") {
			v6 = append(v6, e)
		} else {
			v4 = append(v4, e)
		}
	}
	var out []*discoveryv1.EndpointSlice
	for i, fam := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
		out = append(out, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", name, i),
			Labels: map[string]string{discoveryv1.LabelServiceName: name}}, AddressType: fam, Endpoints: [][]discoveryv1.Endpoint{v4, v6}[i], Ports: ports})
	}
	return out
}

func httpEndpointPort(p int32) corev1.EndpointPort { return corev1.EndpointPort{Name: "http", Port: p} }

func httpSlicePort(p int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr("http"), Port: ptr(p), Protocol: ptr(corev1.ProtocolTCP)}
}

// TestAddressPolicy: every refused address is left out of the Endpoints
// and EndpointSlices rendered, whether the remote lists it in Endpoints or
// EndpointSlices, with an AddressDropped warning naming why; the
// addresses beside it are rendered.
func TestAddressPolicy(t *testing.T) {
	t.Parallel()
	for _, input := range []string{"endpoints", "endpointslices"} {
		for _, tc := range refusedAddresses {
			t.Run(input+"/"+tc.ip, func(t *testing.T) {
				t.Parallel()
				st := generate.State{Services: []*corev1.Service{svc("n", "s", port("http", 80))}}
				good := []string{"10.1.0.1", "fd00::1"}
				if input == "endpoints" {
					var addrs []corev1.EndpointAddress
					for _, ip := range append(slices.Clone(good), tc.ip) {
						addrs = append(addrs, corev1.EndpointAddress{IP: ip})
					}
					st.Endpoints = []*corev1.Endpoints{endpointsOf("n", "s", addrs, nil, httpEndpointPort(8080))}
				} else {
					st.EndpointSlices = slicesOf("n", "s", append(slices.Clone(good), tc.ip), httpSlicePort(8080))
				}
				res, err := generate.Manifests(st, generate.Options{ServicePrefix: "p", MirrorNamespace: "m", EndpointsAPI: kubeapi.Both})
				if err != nil {
					t.Fatal(err)
				}
				file := string(res.Files["p-n-73736d-s.yaml"])
				for _, r := range rendered(tc.ip) {
					if strings.Contains(file, " "+r+"\n") || strings.Contains(file, " '"+r+"'\n") {
						t.Errorf("%s (%s) rendered as %s:\n%s", tc.ip, tc.why, r, file)
					}
				}
				for _, ip := range good {
					if !strings.Contains(file, ip+"\n") {
						t.Errorf("%s, beside %s, not rendered", ip, tc.ip)
					}
				}
				requireWarning(t, res.Warnings, "n/s", reasonAddressDropped, "1 endpoint addresses left out ("+"1 "+tc.why+")")
			})
		}
	}
}

// requireWarning fails unless warnings hold one of reason for service
// whose message holds text.
func requireWarning(t *testing.T, warnings []generate.Skipped, service, reason, text string) {
	t.Helper()
	for _, w := range warnings {
		if w.Service == service && w.Reason == reason && strings.Contains(w.Message, text) {
			return
		}
	}
	t.Errorf("no %s warning for %q saying %q among %+v", reason, service, text, warnings)
}

// TestAddressPolicyAllGone: a Service whose every address is refused is
// rendered without endpoints, as one whose pods are all gone would be.
func TestAddressPolicyAllGone(t *testing.T) {
	t.Parallel()
	st := generate.State{Services: []*corev1.Service{svc("n", "s", port("http", 80))},
		Endpoints: []*corev1.Endpoints{endpointsOf("n", "s", []corev1.EndpointAddress{{IP: "127.0.0.1"}}, []corev1.EndpointAddress{{IP: "169.254.169.254"}}, httpEndpointPort(8080))}}
	res, err := generate.Manifests(st, generate.Options{ServicePrefix: "p", MirrorNamespace: "m", EndpointsAPI: kubeapi.Both})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Mirrors) != 1 || len(res.Skipped) != 0 {
		t.Fatalf("mirrors %+v, skipped %+v: want the Service mirrored", res.Mirrors, res.Skipped)
	}
	d := docs(t, res.Files["p-n-73736d-s.yaml"])
	var ep corev1.Endpoints
	if err := yaml.UnmarshalStrict(d[1], &ep); err != nil || len(ep.Subsets) != 0 || len(d) != 2 {
		t.Errorf("want a Service and Endpoints without subsets and no EndpointSlice, got %d documents (%v):\n%s", len(d), err, res.Files["p-n-73736d-s.yaml"])
	}
	requireWarning(t, res.Warnings, "n/s", reasonAddressDropped, "2 endpoint addresses left out (1 LinkLocal, 1 Loopback)")
}

// TestInvalidHostname: an endpoint hostname that is not a DNS-1123 label
// is left out with a warning; its address is rendered.
func TestInvalidHostname(t *testing.T) {
	t.Parallel()
	st := generate.State{Services: []*corev1.Service{svc("n", "s", port("http", 80))},
		Endpoints: []*corev1.Endpoints{endpointsOf("n", "s",
			[]corev1.EndpointAddress{{IP: "10.0.0.1", Hostname: "ok-0"}, {IP: "10.0.0.2", Hostname: "a.b"}, {IP: "10.0.0.3", Hostname: "x\x1b[31m"}},
			nil, httpEndpointPort(8080))}}
	res, err := generate.Manifests(st, generate.Options{ServicePrefix: "p", MirrorNamespace: "m", EndpointsAPI: kubeapi.Both})
	if err != nil {
		t.Fatal(err)
	}
	file := string(res.Files["p-n-73736d-s.yaml"])
	for _, want := range []string{"hostname: ok-0", "- ip: 10.0.0.2\n", "- ip: 10.0.0.3\n"} {
		if !strings.Contains(file, want) {
			t.Errorf("rendered file lacks %q:\n%s", want, file)
		}
	}
	if strings.Contains(file, "a.b") || strings.Contains(file, "x\\e") {
		t.Errorf("an invalid hostname is rendered:\n%s", file)
	}
	requireWarning(t, res.Warnings, "n/s", reasonInvalidHostname, `2 endpoint hostnames left out, e.g. "a.b", "x\x1b[31m"`)
}

// TestInvalidPorts: a Service whose ports the API server would refuse in
// the mirror is skipped with its reason, and counts as invalid (exit 3);
// the other Services are rendered.
func TestInvalidPorts(t *testing.T) {
	t.Parallel()
	tcp, bad := corev1.ProtocolTCP, corev1.Protocol("ICMP")
	tests := []struct {
		name   string
		ports  []corev1.ServicePort
		ep     []corev1.EndpointPort // the Service's Endpoints' ports; nil: none
		reason string
	}{
		{"port 70000", []corev1.ServicePort{port("http", 70000)}, nil, reasonInvalidPort},
		{"port -5", []corev1.ServicePort{port("http", -5)}, nil, reasonInvalidPort},
		{"port 0", []corev1.ServicePort{port("http", 0)}, nil, reasonInvalidPort},
		{"protocol ICMP", []corev1.ServicePort{{Name: "p", Port: 7, Protocol: bad}}, nil, reasonInvalidProtocol},
		{"protocol lower case", []corev1.ServicePort{{Name: "p", Port: 7, Protocol: "tcp"}}, nil, reasonInvalidProtocol},
		{"appProtocol with control characters", []corev1.ServicePort{{Name: "p", Port: 80, AppProtocol: ptr("h\x1b[2J\nlevel=INFO")}}, nil, reasonInvalidProtocol},
		{"appProtocol empty", []corev1.ServicePort{{Name: "p", Port: 80, AppProtocol: ptr("")}}, nil, reasonInvalidProtocol},
		{"appProtocol with two slashes", []corev1.ServicePort{{Name: "p", Port: 80, AppProtocol: ptr("a/b/c")}}, nil, reasonInvalidProtocol},
		{"port name with capitals", []corev1.ServicePort{port("HTTP", 80)}, nil, reasonInvalidPort},
		{"port name with a control character", []corev1.ServicePort{port("h\x1b", 80)}, nil, reasonInvalidPort},
		{"port name too long", []corev1.ServicePort{port(strings.Repeat("a", 64), 80)}, nil, reasonInvalidPort},
		{"two ports, one unnamed", []corev1.ServicePort{port("", 80), port("b", 81)}, nil, reasonInvalidPort},
		{"a name twice", []corev1.ServicePort{port("a", 80), port("a", 81)}, nil, reasonInvalidPort},
		{"a port twice", []corev1.ServicePort{port("a", 80), {Name: "b", Port: 80, Protocol: tcp}}, nil, reasonInvalidPort},
		{"endpoint port 70000", []corev1.ServicePort{port("http", 80)}, []corev1.EndpointPort{httpEndpointPort(70000)}, reasonInvalidPort},
		{"endpoint port -1", []corev1.ServicePort{port("http", 80)}, []corev1.EndpointPort{httpEndpointPort(-1)}, reasonInvalidPort},
		{"endpoint protocol ICMP", []corev1.ServicePort{port("http", 80)}, []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: bad}}, reasonInvalidProtocol},
		{"endpoint appProtocol", []corev1.ServicePort{port("http", 80)}, []corev1.EndpointPort{{Name: "http", Port: 8080, AppProtocol: ptr("a b")}}, reasonInvalidProtocol},
		{"endpoint port name twice", []corev1.ServicePort{port("http", 80)}, []corev1.EndpointPort{httpEndpointPort(8080), httpEndpointPort(8081)}, reasonInvalidPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bad := svc("n", "bad", tt.ports...)
			st := generate.State{Services: []*corev1.Service{bad, svc("n", "ok", port("http", 80))}}
			if tt.ep != nil {
				st.Endpoints = []*corev1.Endpoints{endpointsOf("n", "bad", []corev1.EndpointAddress{{IP: "10.0.0.1"}}, nil, tt.ep...)}
			}
			for _, api := range generate.EndpointsAPIs {
				res, err := generate.Manifests(st, generate.Options{ServicePrefix: "p", MirrorNamespace: "m", EndpointsAPI: api})
				if err != nil {
					t.Fatalf("%s: %v", api, err)
				}
				if _, ok := res.Files["p-n-73736d-bad.yaml"]; ok || len(res.Mirrors) != 1 {
					t.Errorf("%s: the Service was rendered: mirrors %+v", api, res.Mirrors)
				}
				inv := res.Invalid()
				if len(inv) != 1 || inv[0].Service != "n/bad" || inv[0].Reason != tt.reason {
					t.Errorf("%s: invalid %+v, want n/bad for %s", api, inv, tt.reason)
				}
				for _, s := range res.Skipped {
					if strings.ContainsAny(s.Message, "\x1b\n") {
						t.Errorf("%s: a control character in the message %q", api, s.Message)
					}
				}
			}
		})
	}
}

// TestInvalidNodePorts: in NodePort mode, a remote Service with a port or
// node port the API server would refuse, and a local hand-written Service
// with a numeric targetPort out of range, are skipped with their reason.
func TestInvalidNodePorts(t *testing.T) {
	t.Parallel()
	np := func(name string, p corev1.ServicePort) *corev1.Service {
		s := svc("ns", name, p)
		s.Spec.Type = corev1.ServiceTypeNodePort
		return s
	}
	manual := svc("ns", "manual", corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromInt32(70000)})
	manual.Labels = map[string]string{generate.LabelBarrelman: generate.BarrelmanManual}
	st := generate.State{
		Services: []*corev1.Service{
			np("node-port-big", corev1.ServicePort{Name: "http", Port: 80, NodePort: 70000}),
			np("node-port-negative", corev1.ServicePort{Name: "http", Port: 80, NodePort: -1}),
			np("port-big", corev1.ServicePort{Name: "http", Port: 70000, NodePort: 30000}),
			np("icmp", corev1.ServicePort{Name: "http", Port: 80, NodePort: 30001, Protocol: "ICMP"}),
			np("ok", corev1.ServicePort{Name: "http", Port: 80, NodePort: 30002}),
		},
		Local: &generate.Local{Services: []*corev1.Service{manual}},
		Nodes: []*corev1.Node{node("a", "10.0.0.1")},
	}
	res, err := generate.Manifests(st, generate.Options{Mode: generate.ModeNodePort, ManualEndpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ns/icmp": reasonInvalidProtocol, "ns/manual": reasonInvalidPort, "ns/node-port-big": reasonInvalidPort,
		"ns/node-port-negative": reasonInvalidPort, "ns/port-big": reasonInvalidPort}
	got := map[string]string{}
	for _, s := range res.Invalid() {
		got[s.Service] = s.Reason
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("invalid %v, want %v", got, want)
	}
	if len(res.Mirrors) != 1 || res.Mirrors[0].Service != "ns/ok" {
		t.Errorf("mirrors %+v, want ns/ok alone", res.Mirrors)
	}
}

func node(name string, ips ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return n
}

// TestNodeAddressPolicy: in NodePort mode, refused node InternalIPs are
// left out of every mirror's endpoints, with one warning for the nodes.
func TestNodeAddressPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range refusedAddresses {
		t.Run(tc.ip, func(t *testing.T) {
			t.Parallel()
			s := svc("ns", "web", corev1.ServicePort{Name: "http", Port: 80, NodePort: 30080})
			s.Spec.Type = corev1.ServiceTypeNodePort
			st := generate.State{Services: []*corev1.Service{s}, Nodes: []*corev1.Node{node("good", "10.0.0.1"), node("bad", tc.ip)}}
			res, err := generate.Manifests(st, generate.Options{Mode: generate.ModeNodePort, EndpointsAPI: kubeapi.Both})
			if err != nil {
				t.Fatal(err)
			}
			file := string(res.Files["mirrors/ns.web.yaml"])
			for _, r := range rendered(tc.ip) {
				if strings.Contains(file, " "+r+"\n") || strings.Contains(file, " '"+r+"'\n") {
					t.Errorf("node address %s (%s) rendered as %s:\n%s", tc.ip, tc.why, r, file)
				}
			}
			if !strings.Contains(file, "10.0.0.1\n") {
				t.Errorf("the good node is not rendered:\n%s", file)
			}
			requireWarning(t, res.Warnings, "", reasonAddressDropped, "1 remote node addresses left out (1 "+tc.why+")")
		})
	}
}

// TestGlobalAddressPolicy: a global Service's EndpointSlices leave out the
// refused addresses of every cluster, each with its warning, and a
// cluster's Service with an invalid port is left out of it.
func TestGlobalAddressPolicy(t *testing.T) {
	t.Parallel()
	cluster := func(name string, ips []string, ports ...corev1.ServicePort) generate.Cluster {
		return generate.Cluster{Name: name, Options: generate.Options{ServicePrefix: name, MirrorNamespace: "m"},
			Global: generate.State{Services: []*corev1.Service{svc("app", "api", ports...)}, EndpointSlices: slicesOf("app", "api", ips, httpSlicePort(8080))}}
	}
	res, err := generate.Tree([]generate.Cluster{
		cluster("a", []string{"10.1.0.1", "127.0.0.1", "::ffff:169.254.169.254"}, port("http", 80)),
		cluster("b", []string{"10.2.0.1", "fe80::1"}, port("http", 80)),
		cluster("c", []string{"10.3.0.1"}, port("http", 70000)),
	}, generate.GlobalOptions{MirrorNamespace: "m"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for p, b := range res.Files {
		if strings.HasPrefix(p, "global/") {
			all.Write(b)
		}
	}
	for _, ip := range []string{"127.0.0.1", "169.254.169.254", "fe80::1", "10.3.0.1"} {
		if strings.Contains(all.String(), ip) {
			t.Errorf("a global Service renders %s:\n%s", ip, all.String())
		}
	}
	for _, ip := range []string{"10.1.0.1", "10.2.0.1"} {
		if !strings.Contains(all.String(), ip) {
			t.Errorf("a global Service lacks %s:\n%s", ip, all.String())
		}
	}
	var got []string
	for _, w := range res.Warnings {
		got = append(got, w.Cluster+" "+w.Service+" "+w.Reason+" "+w.Mirror)
	}
	for _, s := range res.Invalid() {
		got = append(got, s.Cluster+" "+s.Service+" "+s.Reason+" "+s.Mirror)
	}
	want := []string{"a app/api AddressDropped gl-app-73736d-api", "b app/api AddressDropped gl-app-73736d-api", "c app/api InvalidPort gl-app-73736d-api"}
	if !slices.Equal(got, want) {
		t.Errorf("warnings and invalid:\n%q\nwant\n%q", got, want)
	}
}

// TestEndpointsCap: an Endpoints object holds at most 1,000 addresses,
// ready ones first, spread over its subsets in proportion, and says so
// with endpoints.kubernetes.io/over-capacity: truncated, as Kubernetes'
// endpoints controller writes it; EndpointSlices hold every address.
func TestEndpointsCap(t *testing.T) {
	t.Parallel()
	ips := func(prefix string, n int) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for i := range n {
			out = append(out, corev1.EndpointAddress{IP: fmt.Sprintf("%s.%d.%d", prefix, i/250, i%250+1)})
		}
		return out
	}
	two := corev1.ServicePort{Name: "grpc", Port: 90}
	tests := []struct {
		name            string
		subsets         []corev1.EndpointSubset
		ready, notRdy   []int // per subset, in the order rendered (by port set)
		annotated, warn bool
	}{
		{name: "1,000 exactly", subsets: []corev1.EndpointSubset{{Addresses: ips("10.1", 600), NotReadyAddresses: ips("10.2", 400), Ports: []corev1.EndpointPort{httpEndpointPort(8080)}}},
			ready: []int{600}, notRdy: []int{400}},
		{name: "not-ready addresses go first", subsets: []corev1.EndpointSubset{{Addresses: ips("10.1", 900), NotReadyAddresses: ips("10.2", 300), Ports: []corev1.EndpointPort{httpEndpointPort(8080)}}},
			ready: []int{900}, notRdy: []int{100}, annotated: true, warn: true},
		{name: "ready over 1,000: no not-ready one", subsets: []corev1.EndpointSubset{{Addresses: ips("10.1", 1200), NotReadyAddresses: ips("10.2", 5), Ports: []corev1.EndpointPort{httpEndpointPort(8080)}}},
			ready: []int{1000}, notRdy: []int{0}, annotated: true, warn: true},
		{name: "in proportion over subsets", subsets: []corev1.EndpointSubset{
			{Addresses: ips("10.1", 1500), Ports: []corev1.EndpointPort{{Name: "grpc", Port: 9090}}},
			{Addresses: ips("10.2", 500), NotReadyAddresses: ips("10.3", 20), Ports: []corev1.EndpointPort{httpEndpointPort(8080)}}},
			ready: []int{750, 250}, notRdy: []int{0, 0}, annotated: true, warn: true},
		{name: "not-ready only subset emptied and left out", subsets: []corev1.EndpointSubset{
			{Addresses: ips("10.1", 1001), Ports: []corev1.EndpointPort{{Name: "grpc", Port: 9090}}},
			{NotReadyAddresses: ips("10.3", 20), Ports: []corev1.EndpointPort{httpEndpointPort(8080)}}},
			ready: []int{1000}, notRdy: []int{0}, annotated: true, warn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := generate.State{Services: []*corev1.Service{svc("n", "s", port("http", 80), two)},
				Endpoints: []*corev1.Endpoints{{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "s"}, Subsets: tt.subsets}}}
			total := 0
			for _, ss := range tt.subsets {
				total += len(ss.Addresses) + len(ss.NotReadyAddresses)
			}
			for _, api := range []kubeapi.EndpointsAPI{kubeapi.Endpoints, kubeapi.Both} {
				res, err := generate.Manifests(st, generate.Options{ServicePrefix: "p", MirrorNamespace: "m", EndpointsAPI: api})
				if err != nil {
					t.Fatal(err)
				}
				d := docs(t, res.Files["p-n-73736d-s.yaml"])
				var ep corev1.Endpoints
				if err := yaml.UnmarshalStrict(d[1], &ep); err != nil {
					t.Fatal(err)
				}
				var ready, notReady []int
				for _, ss := range ep.Subsets {
					ready, notReady = append(ready, len(ss.Addresses)), append(notReady, len(ss.NotReadyAddresses))
					if len(ss.Addresses)+len(ss.NotReadyAddresses) == 0 {
						t.Errorf("%s: a subset without addresses, which the API server refuses", api)
					}
				}
				if !slices.Equal(ready, tt.ready) || !slices.Equal(notReady, tt.notRdy) {
					t.Errorf("%s: subsets hold %v ready and %v not ready, want %v and %v", api, ready, notReady, tt.ready, tt.notRdy)
				}
				if got := ep.Annotations[corev1.EndpointsOverCapacity]; (got == "truncated") != tt.annotated || (got != "" && got != "truncated") {
					t.Errorf("%s: over-capacity annotation %q, want it set: %v", api, got, tt.annotated)
				}
				warned := slices.ContainsFunc(res.Warnings, func(w generate.Skipped) bool { return w.Reason == reasonOverSliceLimit })
				if want := tt.warn && api == kubeapi.Endpoints; warned != want {
					t.Errorf("%s: warned %v (%+v), want %v", api, warned, res.Warnings, want)
				}
				if warned && !strings.Contains(res.Warnings[0].Message, fmt.Sprintf("%d addresses, %d left out: the Endpoints object holds 1000,", total, total-1000)) {
					t.Errorf("%s: warning %q", api, res.Warnings[0].Message)
				}
				slices := 0
				for _, doc := range d[2:] {
					var s discoveryv1.EndpointSlice
					if err := yaml.UnmarshalStrict(doc, &s); err != nil {
						t.Fatal(err)
					}
					slices += len(s.Endpoints)
				}
				if api == kubeapi.Both && slices != total {
					t.Errorf("%s: EndpointSlices hold %d endpoints, want all %d", api, slices, total)
				}
			}
		})
	}
}
