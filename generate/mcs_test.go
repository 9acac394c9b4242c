package generate_test

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
)

// The derived Service is named as mcs-api's reference controller and
// Cilium name it (Cilium's test fixture: default/full), so that a local
// implementation's derived Service is one ssm sees and never takes.
func TestDerivedName(t *testing.T) {
	if got := generate.DerivedName("default", "full"); got != "derived-9jo8ljlgl7" {
		t.Errorf("DerivedName(default, full) = %s, want derived-9jo8ljlgl7", got)
	}
}

func TestClusterSetDeterministic(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"mcs", "mcs-stored"} {
		c := readCase(t, filepath.Join(goldenRoot, name))
		clusters, local, stored := loadClusterSet(t, c)
		want, err := generate.ClusterSet(clusters, c.MCS, local, stored)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(9, uint64(len(name))))
		for i := range 30 {
			in := make([]generate.Cluster, len(clusters))
			for j, cl := range clusters {
				exports := append([]*mcsv1a1.ServiceExport(nil), cl.Mirror.ServiceExports...)
				shuffle(r, exports)
				cl.Mirror = shuffled(cl.Mirror, r)
				cl.Mirror.ServiceExports = exports
				in[j] = cl
			}
			shuffle(r, in)
			l := shuffled(generate.State{Local: local}, r).Local
			l.ServiceImports, l.EndpointSlices = local.ServiceImports, local.EndpointSlices
			got, err := generate.ClusterSet(in, c.MCS, l, stored)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, bytesEqual); diff != "" {
				t.Fatalf("%s: shuffle %d rendered differently (-first +shuffled):\n%s", name, i, diff)
			}
		}
	}
}

// TestClusterSetDoesNotMutateInput renders twice from the same objects:
// they belong to informer caches.
func TestClusterSetDoesNotMutateInput(t *testing.T) {
	t.Parallel()
	c := readCase(t, filepath.Join(goldenRoot, "mcs-stored"))
	clusters, local, stored := loadClusterSet(t, c)
	before := dump(t, clusters, local)
	first, err := generate.ClusterSet(clusters, c.MCS, local, stored)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, dump(t, clusters, local)); diff != "" {
		t.Fatalf("ClusterSet changed its input:\n%s", diff)
	}
	again, err := generate.ClusterSet(clusters, c.MCS, local, stored)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Fatalf("a second render differs:\n%s", diff)
	}
}

func dump(t *testing.T, clusters []generate.Cluster, local *generate.Local) string {
	t.Helper()
	b, err := yaml.Marshal(struct {
		C []generate.Cluster
		L *generate.Local
	}{clusters, local})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exported is a Service ns/name of cluster, exported at since, with ready
// endpoints ips on port http (8080 in the pods).
func exported(ns, name string, since int, ips ...string) (*corev1.Service, *mcsv1a1.ServiceExport, *discoveryv1.EndpointSlice) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1", IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
	exp := &mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		CreationTimestamp: metav1.Unix(int64(since), 0)}}
	port, pname, tcp := int32(8080), "http", corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-x",
		Labels: map[string]string{discoveryv1.LabelServiceName: name}}, AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: &pname, Port: &port, Protocol: &tcp}}}
	for _, ip := range ips {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}})
	}
	return svc, exp, slice
}

// cluster is a cluster exporting the Services named, each with one
// endpoint.
func cluster(name string, services ...string) generate.Cluster {
	c := generate.Cluster{Name: name}
	for _, s := range services {
		ns, n, _ := strings.Cut(s, "/")
		h := fnv.New32a()
		h.Write([]byte(s))
		svc, exp, slice := exported(ns, n, 1, fmt.Sprintf("10.9.%d.%d", len(name), h.Sum32()%250+1))
		c.Mirror.Services = append(c.Mirror.Services, svc)
		c.Mirror.ServiceExports = append(c.Mirror.ServiceExports, exp)
		c.Mirror.EndpointSlices = append(c.Mirror.EndpointSlices, slice)
	}
	return c
}

// importIPs reads the ClusterSetIPs of every ServiceImport of a render.
func importIPs(t *testing.T, files map[string][]byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p, b := range files {
		if !strings.HasPrefix(p, generate.ImportsDir+"/") || strings.HasSuffix(p, generate.KustomizationFile) {
			continue
		}
		first, _, _ := strings.Cut(string(b), "\n---\n")
		var si mcsv1a1.ServiceImport
		if err := yaml.Unmarshal([]byte(first), &si); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[si.Namespace+"/"+si.Name] = strings.Join(si.Spec.IPs, ",")
	}
	return out
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// A cluster not read yet keeps its stored EndpointSlices, and the imports
// only it exports keep their files, ClusterSetIPs included.
func TestClusterSetUnread(t *testing.T) {
	t.Parallel()
	opts := generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/24"), ServiceExports: true}
	first, err := generate.ClusterSet([]generate.Cluster{cluster("east", "a/web", "a/east-only"), cluster("west", "a/web")}, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	east := generate.Cluster{Name: "east", Unread: true}
	res, err := generate.ClusterSet([]generate.Cluster{east, cluster("west", "a/web", "a/new")}, opts, nil, first.Files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"east/a.web.yaml", "east/a.east-only.yaml", "imports/a.east-only.yaml"} {
		if string(res.Files[p]) != string(first.Files[p]) {
			t.Errorf("%s: not kept as stored", p)
		}
	}
	ips, before := importIPs(t, res.Files), importIPs(t, first.Files)
	if ips["a/web"] != before["a/web"] || ips["a/new"] == before["a/east-only"] || ips["a/new"] == "" {
		t.Errorf("ClusterSetIPs %v, before %v", ips, before)
	}
	// Nothing read at all (the local cluster is down): everything stays.
	all, err := generate.ClusterSet([]generate.Cluster{east, {Name: "west", Unread: true}}, opts, nil, res.Files)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res.Files, all.Files); diff != "" {
		t.Errorf("with no cluster read (-stored +rendered):\n%s", diff)
	}
}

// One import of three clusters, 2,400 endpoints: each cluster's slices
// hold at most 1,000 endpoints, every endpoint once.
func TestClusterSetSliceSplit(t *testing.T) {
	t.Parallel()
	var clusters []generate.Cluster
	for c, n := range map[string]int{"a": 1200, "b": 1000, "c": 200} {
		var ips []string
		for i := range n {
			ips = append(ips, fmt.Sprintf("10.%d.%d.%d", len(clusters)+1, i/250, i%250+1))
		}
		svc, exp, slice := exported("shop", "big", 1, ips...)
		cl := generate.Cluster{Name: c}
		cl.Mirror.Services, cl.Mirror.ServiceExports, cl.Mirror.EndpointSlices = []*corev1.Service{svc}, []*mcsv1a1.ServiceExport{exp}, []*discoveryv1.EndpointSlice{slice}
		clusters = append(clusters, cl)
	}
	res, err := generate.ClusterSet(clusters, generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/24"), ServiceExports: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{"a": {1000, 200}, "b": {1000}, "c": {200}}
	for c, sizes := range want {
		var got []int
		for doc := range strings.SplitSeq(string(res.Files[c+"/shop.big.yaml"]), "\n---\n") {
			var s discoveryv1.EndpointSlice
			if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
				t.Fatal(err)
			}
			if s.Labels[discoveryv1.LabelServiceName] != generate.DerivedName("shop", "big") || s.Labels[generate.LabelMCSSourceCluster] != c {
				t.Errorf("%s: labels %v", s.Name, s.Labels)
			}
			got = append(got, len(s.Endpoints))
		}
		if !cmp.Equal(got, sizes) {
			t.Errorf("cluster %s: slices of %v endpoints, want %v", c, got, sizes)
		}
	}
	if n := res.ClusterObjects["a"]["EndpointSlice"]; n != 2 {
		t.Errorf("cluster a: %d EndpointSlices counted, want 2", n)
	}
}

func TestMCSOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts generate.MCSOptions
		want string
	}{
		{opts: generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/24", "10.96.241.0/24")}, want: "at most one range of each IP family"},
		{opts: generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.1/24")}, want: "not a network address (10.96.240.0/24 is)"},
		{opts: generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/32")}, want: "holds no address"},
		{opts: generate.MCSOptions{TrafficDistribution: "PreferSameNode"}, want: "remote endpoints are never on a local node"},
		{opts: generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/31", "fd00::/127"), TrafficDistribution: "PreferClose"}},
	} {
		err := tc.opts.Validate()
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
	for name, want := range map[string]string{"East": "a DNS label", "imports": "holds the ServiceImports", "namespaces": "namespaces ssm creates", "east": ""} {
		err := generate.ClusterSetName(name)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("ClusterSetName(%q) = %v, want %q", name, err, want)
		}
	}
}

// The address policy applies to what a clusterset imports as to mirrors:
// a remote's loopback and denied addresses are left out, with a warning,
// and a Service with a port no API server accepts is refused.
func TestClusterSetScreensAddresses(t *testing.T) {
	t.Parallel()
	svc, exp, slice := exported("a", "web", 1, "10.9.0.1", "127.0.0.1", "169.254.169.254", "10.96.0.1")
	bad, badExp, _ := exported("a", "bad", 1)
	bad.Spec.Ports[0].Port = 70000
	c := generate.Cluster{Name: "east", Options: generate.Options{DenyCIDRs: prefixes("10.96.0.0/16")}}
	c.Mirror.Services, c.Mirror.ServiceExports = []*corev1.Service{svc, bad}, []*mcsv1a1.ServiceExport{exp, badExp}
	c.Mirror.EndpointSlices = []*discoveryv1.EndpointSlice{slice}
	res, err := generate.ClusterSet([]generate.Cluster{c}, generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/24"), ServiceExports: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := string(res.Files["east/a.web.yaml"])
	for _, ip := range []string{"127.0.0.1", "169.254.169.254", "10.96.0.1"} {
		if strings.Contains(got, ip) {
			t.Errorf("%s imported:\n%s", ip, got)
		}
	}
	if !strings.Contains(got, "10.9.0.1") {
		t.Errorf("10.9.0.1 not imported:\n%s", got)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Reason != generate.ReasonAddressDropped || res.Warnings[0].Dropped[generate.AddressDenied] != 1 {
		t.Errorf("warnings %+v, want one AddressDropped counting the denied address", res.Warnings)
	}
	if inv := res.Invalid(); len(inv) != 1 || inv[0].Service != "a/bad" || inv[0].Reason != generate.ReasonInvalidPort {
		t.Errorf("invalid %+v, want a/bad refused for its port", inv)
	}
}
