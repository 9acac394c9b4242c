package generate_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
)

func svc(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Ports: ports}}
}

func port(name string, p int32) corev1.ServicePort { return corev1.ServicePort{Name: name, Port: p} }

var opts = generate.Options{ServicePrefix: "p", MirrorNamespace: "m"}

// docs splits a rendered file into its documents' kinds and bodies.
func docs(t *testing.T, b []byte) [][]byte {
	t.Helper()
	return bytes.Split(b, []byte("---\n"))
}

func TestMirrorNameLimit(t *testing.T) {
	t.Parallel()
	// "p-n-73736d-" is 11 characters: a 52-character name makes 63.
	fits, over := strings.Repeat("a", 52), strings.Repeat("a", 53)
	res, err := generate.Manifests(generate.State{Services: []*corev1.Service{svc("n", fits), svc("n", over)}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Mirrors) != 1 || len(res.Mirrors[0].Name) != 63 {
		t.Errorf("mirrors = %+v, want the one 63-character name", res.Mirrors)
	}
	inv := res.Invalid()
	if len(inv) != 1 || inv[0].Service != "n/"+over || inv[0].Mirror != "p-n-73736d-"+over || !strings.Contains(inv[0].Message, "64 characters") {
		t.Errorf("invalid = %+v, want n/%s named with its 64-character mirror name", inv, over)
	}
	if _, ok := res.Files["p-n-73736d-"+over+".yaml"]; ok {
		t.Error("the invalid mirror was written")
	}
}

func TestNameCollision(t *testing.T) {
	t.Parallel()
	// x/s-73736d-y and x-73736d-s/y both become p-x-73736d-s-73736d-y.
	st := generate.State{Services: []*corev1.Service{svc("x", "s-73736d-y"), svc("x-73736d-s", "y"), svc("x", "ok")}}
	res, err := generate.Manifests(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, s := range res.Invalid() {
		reasons = append(reasons, s.Service+":"+s.Reason)
	}
	want := []string{"x-73736d-s/y:NameCollision", "x/s-73736d-y:NameCollision"}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	if len(res.Mirrors) != 1 || res.Mirrors[0].Service != "x/ok" {
		t.Errorf("mirrors = %+v, want only x/ok", res.Mirrors)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts generate.Options
		want string
	}{
		{name: "prefix with a capital", opts: generate.Options{ServicePrefix: "East", MirrorNamespace: "m"}, want: `service prefix "East"`},
		{name: "prefix starting with a digit", opts: generate.Options{ServicePrefix: "1east", MirrorNamespace: "m"}, want: `service prefix "1east"`},
		{name: "empty mirror namespace", opts: generate.Options{ServicePrefix: "east"}, want: `mirror namespace ""`},
		{name: "mirror namespace with a dot", opts: generate.Options{ServicePrefix: "east", MirrorNamespace: "a.b"}, want: `mirror namespace "a.b"`},
		{name: "unknown endpoints API", opts: generate.Options{ServicePrefix: "east", MirrorNamespace: "m", EndpointsAPI: "slices"}, want: `endpoints API "slices"`},
		{name: "valid", opts: generate.Options{ServicePrefix: "east", MirrorNamespace: "m", EndpointsAPI: kubeapi.Both}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := generate.Manifests(generate.State{}, tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSliceSplit(t *testing.T) {
	t.Parallel()
	var addrs []corev1.EndpointAddress
	for i := range 2500 {
		addrs = append(addrs, corev1.EndpointAddress{IP: fmt.Sprintf("10.%d.%d.1", i/250, i%250)})
	}
	st := generate.State{
		Services:  []*corev1.Service{svc("n", "big", port("http", 80))},
		Endpoints: []*corev1.Endpoints{{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "big"}, Subsets: []corev1.EndpointSubset{{Addresses: addrs, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}},
	}
	o := opts
	o.EndpointsAPI = kubeapi.EndpointSlices
	res, err := generate.Manifests(st, o)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs(t, res.Files["p-n-73736d-big.yaml"])[1:] {
		var s discoveryv1.EndpointSlice
		if err := yaml.UnmarshalStrict(d, &s); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%d", s.Name, len(s.Endpoints)))
	}
	want := []string{"p-n-73736d-big-ipv4:1000", "p-n-73736d-big-ipv4-2:1000", "p-n-73736d-big-ipv4-3:500"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slices (-want +got):\n%s", diff)
	}
	if res.Objects["EndpointSlice"] != 3 || res.Objects["Service"] != 1 || res.Objects["Endpoints"] != 0 {
		t.Errorf("object counts = %v", res.Objects)
	}
}

func TestEndpointPorts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		svc     *corev1.Service
		subsets []corev1.EndpointSubset
		want    []corev1.EndpointSubset
	}{{
		name: "ports matched by name, unknown ports dropped, default protocol filled",
		svc:  svc("n", "s", port("http", 80)),
		subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", NodeName: ptr("node"), TargetRef: &corev1.ObjectReference{Name: "pod"}}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "debug", Port: 6060}},
		}, {
			Addresses: []corev1.EndpointAddress{{IP: "10.0.0.2"}},
			Ports:     []corev1.EndpointPort{{Name: "debug", Port: 6060}},
		}},
		want: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		}},
	}, {
		name: "subsets with equal ports merge, duplicates keep the ready one",
		svc:  svc("n", "s", port("http", 80)),
		subsets: []corev1.EndpointSubset{
			{NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.0.0.2"}, {IP: "10.0.0.3", Hostname: "c"}}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}},
			{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.2"}, {IP: "10.0.0.10"}}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}},
		},
		want: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.0.0.2"}, {IP: "10.0.0.10"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.0.0.3", Hostname: "c"}},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		}},
	}, {
		name:    "a portless headless Service keeps its addresses",
		svc:     &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "s"}, Spec: corev1.ServiceSpec{ClusterIP: "None"}},
		subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", Hostname: "s-0"}}}},
		want:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", Hostname: "s-0"}}}},
	}, {
		name:    "invalid addresses are dropped, and with them an empty subset",
		svc:     svc("n", "s", port("", 80)),
		subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "not-an-ip"}}, Ports: []corev1.EndpointPort{{Port: 8080}}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := generate.State{Services: []*corev1.Service{tt.svc},
				Endpoints: []*corev1.Endpoints{{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "s"}, Subsets: tt.subsets}}}
			res, err := generate.Manifests(st, opts)
			if err != nil {
				t.Fatal(err)
			}
			d := docs(t, res.Files["p-n-73736d-s.yaml"])
			if len(d) != 2 {
				t.Fatalf("want a Service and Endpoints, got %d documents", len(d))
			}
			var ep corev1.Endpoints
			if err := yaml.UnmarshalStrict(d[1], &ep); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ep.Subsets); diff != "" {
				t.Errorf("subsets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMirrorService(t *testing.T) {
	t.Parallel()
	remote := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "s", UID: "u", ResourceVersion: "9", Labels: map[string]string{"app": "s"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.0.0.7", ClusterIPs: []string{"10.0.0.7"},
			Selector: map[string]string{"app": "s"}, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, LoadBalancerIP: "1.2.3.4",
			Ports: []corev1.ServicePort{{Name: "b", Port: 2, NodePort: 30002, Protocol: corev1.ProtocolUDP}, {Name: "a", Port: 1, NodePort: 30001}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}},
	}
	res, err := generate.Manifests(generate.State{Services: []*corev1.Service{remote}}, generate.Options{ServicePrefix: "p", MirrorNamespace: "m", Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: v1
kind: Service
metadata:
  annotations:
    kustomize.toolkit.fluxcd.io/force: enabled
    ssm.dev/remote-cluster: c
    ssm.dev/remote-name: s
    ssm.dev/remote-namespace: "n"
  labels:
    app.kubernetes.io/managed-by: ssm
    mirror-svc-prefix-sync: p
    mirrored-svc: "true"
  name: p-n-73736d-s
  namespace: m
spec:
  ports:
  - name: a
    port: 1
    protocol: TCP
    targetPort: 1
  - name: b
    port: 2
    protocol: UDP
    targetPort: 2
  type: ClusterIP
`
	got := string(docs(t, res.Files["p-n-73736d-s.yaml"])[0])
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mirror of a LoadBalancer Service (-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }
