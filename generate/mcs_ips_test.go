package generate_test

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/generate"
)

// An import keeps its ClusterSetIP from render to render, whatever comes
// and goes around it; the IP of an import removed is not given to another
// in the render that removes it (a held removal would keep it), only in
// the renders after that removal is stored.
func TestClusterSetIPsStay(t *testing.T) {
	t.Parallel()
	opts := generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/29"), ServiceExports: true}
	render := func(stored map[string][]byte, clusters ...generate.Cluster) generate.Result {
		t.Helper()
		res, err := generate.ClusterSet(clusters, opts, nil, stored)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := render(nil, cluster("east", "a/web", "a/api"), cluster("west", "a/web"))
	ips := importIPs(t, first.Files)
	if len(ips) != 2 || ips["a/web"] == ips["a/api"] {
		t.Fatalf("first render's ClusterSetIPs: %v", ips)
	}
	// api goes; db comes in the same render: api's IP is not given to it.
	second := render(first.Files, cluster("east", "a/web", "a/db"), cluster("west", "a/web"))
	got := importIPs(t, second.Files)
	if got["a/web"] != ips["a/web"] || got["a/db"] == ips["a/api"] || got["a/db"] == "" {
		t.Fatalf("second render: %v; first: %v: web must keep its IP and db not take api's", got, ips)
	}
	// Restarted, another replica, the other cluster read first: the same.
	again := render(second.Files, cluster("west", "a/web"), cluster("east", "a/db", "a/web"))
	if diff := cmp.Diff(second.Files, again.Files); diff != "" {
		t.Fatalf("a render of the same state over its own output differs:\n%s", diff)
	}
}

func TestClusterSetRangeFull(t *testing.T) {
	t.Parallel()
	// A /30 holds two ClusterSetIPs (.1 and .2); a local Service holds one.
	opts := generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/30"), ServiceExports: true}
	local := &generate.Local{Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "dns"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.240.2"}}}}
	res, err := generate.ClusterSet([]generate.Cluster{cluster("east", "a/one", "a/two")}, opts, local, nil)
	if err != nil {
		t.Fatal(err)
	}
	ips := importIPs(t, res.Files)
	invalid := res.Invalid()
	if len(ips) != 1 || ips["a/one"] != "10.96.240.1" || len(invalid) != 1 {
		t.Fatalf("imports %v, invalid %v: want a/one on 10.96.240.1 and a/two refused", ips, invalid)
	}
	s := invalid[0]
	for _, want := range []string{"a/two", "10.96.240.0/30"} {
		if !strings.Contains(s.Service+" "+s.Message, want) || s.Reason != generate.ReasonRangeFull {
			t.Errorf("%+v: want reason %s naming %s", s, generate.ReasonRangeFull, want)
		}
	}
	if _, ok := res.Files["east/a.two.yaml"]; ok {
		t.Error("the EndpointSlices of an import not rendered are rendered")
	}
}

// A stored ClusterSetIP that another holds is never shared: not with
// another stored import (a hand edit), not with a local Service.
func TestClusterSetIPTaken(t *testing.T) {
	t.Parallel()
	opts := generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/24"), ServiceExports: true}
	first, err := generate.ClusterSet([]generate.Cluster{cluster("east", "a/web", "a/api")}, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ips := importIPs(t, first.Files)
	stored := map[string][]byte{}
	for p, b := range first.Files {
		stored[p] = b
	}
	// Someone gives web api's IP in git: one of them keeps it, the first
	// by name, and the other is refused.
	stored["imports/a.web.yaml"] = []byte(strings.ReplaceAll(string(stored["imports/a.web.yaml"]), ips["a/web"], ips["a/api"]))
	res, err := generate.ClusterSet([]generate.Cluster{cluster("east", "a/web", "a/api")}, opts, nil, stored)
	if err != nil {
		t.Fatal(err)
	}
	if got := importIPs(t, res.Files); got["a/api"] != ips["a/api"] || got["a/web"] != "" {
		t.Errorf("imports %v: want a/api on %s and a/web refused", got, ips["a/api"])
	}
	if inv := res.Invalid(); len(inv) != 1 || inv[0].Reason != generate.ReasonIPTaken || inv[0].Service != "a/web" || !strings.Contains(inv[0].Message, "a/api keeps it") {
		t.Errorf("invalid: %+v", inv)
	}
	// A local Service took web's IP (the range overlaps the allocator's).
	local := &generate.Local{Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "squatter"},
		Spec: corev1.ServiceSpec{ClusterIP: ips["a/web"]}}}}
	res, err = generate.ClusterSet([]generate.Cluster{cluster("east", "a/web")}, opts, local, first.Files)
	if err != nil {
		t.Fatal(err)
	}
	if inv := res.Invalid(); len(inv) != 1 || inv[0].Reason != generate.ReasonIPTaken || !strings.Contains(inv[0].Message, "b/squatter") {
		t.Errorf("invalid: %+v", inv)
	}
	// Its own derived Service holds it: that is no collision.
	local.Services[0].Namespace, local.Services[0].Name = "a", generate.DerivedName("a", "web")
	local.Services[0].Labels = map[string]string{generate.LabelManagedBy: generate.ManagedBy}
	res, err = generate.ClusterSet([]generate.Cluster{cluster("east", "a/web")}, opts, local, first.Files)
	if err != nil || len(res.Invalid()) != 0 || importIPs(t, res.Files)["a/web"] != ips["a/web"] {
		t.Errorf("with its own derived Service: %v, invalid %+v", err, res.Invalid())
	}
}

// A stored table that cannot be read is an error, not an empty table.
func TestClusterSetUnreadableTable(t *testing.T) {
	t.Parallel()
	opts := generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/24"), ServiceExports: true}
	for name, b := range map[string]string{
		"not YAML":     "kind: ServiceImport\nspec: [",
		"not an IP":    "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceImport\nmetadata: {name: web, namespace: a}\nspec: {ips: [ten]}\n",
		"an IPv6 zone": "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceImport\nmetadata: {name: web, namespace: a}\nspec: {ips: [\"fe80::1%eth0\"]}\n",
	} {
		_, err := generate.ClusterSet([]generate.Cluster{cluster("east", "a/web")}, opts, nil, map[string][]byte{"imports/a.web.yaml": []byte(b)})
		if err == nil || !strings.Contains(err.Error(), "imports/a.web.yaml") {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}

// A range changed: the imports outside it move, with a warning.
func TestClusterSetIPMoved(t *testing.T) {
	t.Parallel()
	opts := generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/24"), ServiceExports: true}
	first, err := generate.ClusterSet([]generate.Cluster{cluster("east", "a/web")}, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.ClusterSetIPRanges = prefixes("10.96.241.0/24")
	res, err := generate.ClusterSet([]generate.Cluster{cluster("east", "a/web")}, opts, nil, first.Files)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr(importIPs(t, res.Files)["a/web"])
	if !opts.ClusterSetIPRanges[0].Contains(ip) || len(res.Warnings) != 1 || res.Warnings[0].Reason != generate.ReasonIPMoved {
		t.Errorf("moved to %s, warnings %+v", ip, res.Warnings)
	}
}

// Another implementation's ServiceImport holds its ClusterSetIPs: none
// is given to an import of ssm's.
func TestClusterSetForeignImportIPs(t *testing.T) {
	t.Parallel()
	opts := generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.240.0/30"), ServiceExports: true}
	local := &generate.Local{ServiceImports: []*mcsv1a1.ServiceImport{{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "theirs"},
		Spec: mcsv1a1.ServiceImportSpec{IPs: []string{"10.96.240.1"}}}}}
	res, err := generate.ClusterSet([]generate.Cluster{cluster("east", "a/one", "a/two")}, opts, local, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ips := importIPs(t, res.Files); len(ips) != 1 || slices.Contains(slices.Collect(maps.Values(ips)), "10.96.240.1") {
		t.Errorf("imports %v: want one, not on 10.96.240.1", ips)
	}
}
