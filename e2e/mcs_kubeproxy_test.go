package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
)

// TestMCSKubeProxy: a ClusterSetIP import of one Service exported by three
// clusters, 2,000 endpoints in all (1,200 of them in one cluster), is
// applied to the local cluster, whose kube-controller-manager runs; what
// kube-proxy reads for the derived Service, the EndpointSlices labelled
// with its name, holds every endpoint once, in slices of at most 1,000,
// each cluster's labelled with it, and no local controller wrote or added
// any. The third cluster is a snapshot (what kubectl get -o yaml prints):
// a third API server would cost the suite another kube-apiserver and etcd
// for what the same parser reads either way.
func TestMCSKubeProxy(t *testing.T) {
	requireControllers(t)
	installMCSCRDs(t, remote, remote2, local)
	grantMCSReaders(t)
	const ns = "mcskp-fleet"
	ensureNamespace(t, local.Client, ns)
	sizes := map[string]int{"east": 1200, "west": 500, "south": 300}
	octet := map[string]int{"east": 71, "west": 72, "south": 73}
	byCluster := map[string][]endpoint{}
	want := map[string]bool{}
	for c, n := range sizes {
		for i := range n {
			ip := fmt.Sprintf("10.%d.%d.%d", octet[c], i/250, i%250+1)
			byCluster[c] = append(byCluster[c], endpoint{ip: ip, ready: i%100 != 0})
			want[ip+":8080/TCP"] = i%100 != 0
		}
	}
	spec := corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}
	mcsService(t, remote, ns, "fleet", spec, byCluster["east"]...)
	mcsService(t, remote2, ns, "fleet", spec, byCluster["west"]...)
	exportService(t, remote, ns, "fleet")
	exportService(t, remote2, ns, "fleet")
	south := snapshotOf(t, ns, "fleet", spec, byCluster["south"])

	dir := filepath.Join(t.TempDir(), "mcs")
	args := append([]string{"render", "--config", mcsConfigFile(t, "mcskp", map[string]string{"south": south}), "-o", dir}, mcsRanges(2)...)
	if r := ssm(t, nil, args...); r.code != 0 {
		t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
	}
	kubectl(t, local, "apply", "--server-side", "--field-manager=e2e-gitops", "-k", dir)

	name := generate.DerivedName(ns, "fleet")
	svc := derived(t, ns, "fleet")
	if svc.Spec.ClusterIP != serviceImportOf(t, ns, "fleet").Spec.IPs[0] || !strings.HasPrefix(svc.Spec.ClusterIP, "10.96.0.") {
		t.Fatalf("derived Service %s: clusterIP %s, ServiceImport %v", name, svc.Spec.ClusterIP, serviceImportOf(t, ns, "fleet").Spec.IPs)
	}
	// Give the local controllers time to act, were they to: the mirroring
	// controller acts on Endpoints, which no one wrote.
	time.Sleep(2 * time.Second)
	v := kubeProxyView(t, ns, name)
	v.requireOnly(t, generate.SliceManagedBy)
	v.requireEndpoints(t, want)
	perCluster := map[string][]int{}
	for _, s := range v.slices {
		c := s.Labels[mcsv1a1.LabelSourceCluster]
		if s.Labels[mcsv1a1.LabelServiceName] != "fleet" || len(s.Endpoints) > generate.MaxEndpointsPerSlice {
			t.Errorf("EndpointSlice %s: labels %v, %d endpoints", s.Name, s.Labels, len(s.Endpoints))
		}
		perCluster[c] = append(perCluster[c], len(s.Endpoints))
	}
	for c := range perCluster {
		slices.Sort(perCluster[c])
	}
	if w := map[string][]int{"east": {200, 1000}, "west": {500}, "south": {300}}; fmt.Sprint(perCluster) != fmt.Sprint(w) {
		t.Errorf("endpoints per slice, by cluster: %v, want %v", perCluster, w)
	}
	t.Logf("kube-proxy reads %d endpoints of %s in %d EndpointSlices: %v", len(v.endpoints), name, len(v.slices), perCluster)
}

// snapshotOf writes a snapshot of a cluster exporting the Service ns/name
// with the endpoints eps, as kubectl get -o yaml prints it.
func snapshotOf(t *testing.T, ns, name string, spec corev1.ServiceSpec, eps []endpoint) string {
	t.Helper()
	port, pname, tcp := int32(8080), "http", corev1.ProtocolTCP
	items := []any{
		&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{mcsLabel: testOf(ns)}}, Spec: spec},
		&mcsv1a1.ServiceExport{TypeMeta: metav1.TypeMeta{APIVersion: mcsv1a1.GroupVersion.String(), Kind: "ServiceExport"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.Now()}},
	}
	var endpoints []discoveryv1.Endpoint
	for _, e := range eps {
		endpoints = append(endpoints, discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(e.ready)}})
	}
	items = append(items, &discoveryv1.EndpointSlice{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: name,
			mcsLabel: testOf(ns)}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: endpoints,
		Ports: []discoveryv1.EndpointPort{{Name: &pname, Port: &port, Protocol: &tcp}}})
	b, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "south.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
