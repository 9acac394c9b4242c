package source_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// The Multi-Cluster Services API objects are custom resources, in their
// own group, with no protobuf form: the client asks for JSON.
func TestClientRequestsMCS(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.Path+"?"+r.URL.RawQuery+" "+r.Header.Get("Accept"))
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer srv.Close()
	c, err := source.NewClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(t.Context(), source.ServiceExportsResource, "", metav1.ListOptions{Limit: 500}); err == nil {
		t.Error("List serviceexports: no error from a server that answers none")
	}
	if _, err := c.Watch(t.Context(), source.ServiceImportsResource, "shop", metav1.ListOptions{ResourceVersion: "3"}); err == nil {
		t.Error("Watch serviceimports: no error from a server that answers none")
	}
	want := []string{
		"/apis/multicluster.x-k8s.io/v1alpha1/serviceexports?limit=500 application/json, */*",
		"/apis/multicluster.x-k8s.io/v1alpha1/namespaces/shop/serviceimports?resourceVersion=3&watch=true application/json, */*",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// The client decodes what kube-apiserver answers for custom resources:
// JSON lists of the mcs-api types.
func TestClientDecodesServiceExports(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"multicluster.x-k8s.io/v1alpha1","kind":"ServiceExportList","metadata":{"resourceVersion":"9"},
"items":[{"apiVersion":"multicluster.x-k8s.io/v1alpha1","kind":"ServiceExport","metadata":{"name":"web","namespace":"shop","creationTimestamp":"2026-01-02T03:04:05Z"}}]}`))
	}))
	defer srv.Close()
	c, err := source.NewClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.List(t.Context(), source.ServiceExportsResource, "", metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := obj.(*mcsv1a1.ServiceExportList)
	if !ok || len(l.Items) != 1 || l.Items[0].Name != "web" || l.Items[0].CreationTimestamp.Year() != 2026 || l.ResourceVersion != "9" {
		t.Fatalf("decoded %T %+v", obj, obj)
	}
}

const mcsSnapshot = `
apiVersion: v1
kind: List
items:
- apiVersion: multicluster.x-k8s.io/v1alpha1
  kind: ServiceExport
  metadata: {name: web, namespace: shop, creationTimestamp: "2026-01-02T03:04:05Z", labels: {k: v}, annotations: {a: b}}
  status: {conditions: [{type: Valid, status: "True", reason: Valid, message: ok, lastTransitionTime: "2026-01-02T03:04:05Z"}]}
- apiVersion: multicluster.x-k8s.io/v1alpha1
  kind: ServiceExport
  metadata: {name: db, namespace: data}
- apiVersion: multicluster.x-k8s.io/v1alpha1
  kind: ServiceImport
  metadata: {name: web, namespace: shop, labels: {app.kubernetes.io/managed-by: cilium}}
  spec: {type: ClusterSetIP, ips: [10.96.240.1], ports: [{port: 80}]}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-cluster1, namespace: shop, labels: {multicluster.kubernetes.io/service-name: web,
    multicluster.kubernetes.io/source-cluster: cluster1, endpointslice.kubernetes.io/managed-by: lighthouse-agent.submariner.io, other: x}}
  addressType: IPv4
  endpoints: [{addresses: [10.1.0.1]}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: plain, namespace: shop, labels: {kubernetes.io/service-name: web}}
  addressType: IPv4
  endpoints: [{addresses: [10.1.0.2]}]
`

func TestParseMCS(t *testing.T) {
	tests := []struct {
		name string
		sel  source.Selection
		want []string
	}{
		{name: "nothing asked", sel: source.Selection{EndpointsAPI: kubeapi.NoEndpoints}},
		{name: "exports, despite a label selector", sel: source.Selection{LabelSelector: "mirror=true", EndpointsAPI: kubeapi.NoEndpoints, ServiceExports: true},
			want: []string{"ServiceExport data/db", "ServiceExport shop/web"}},
		{name: "exports of one namespace", sel: source.Selection{EndpointsAPI: kubeapi.NoEndpoints, ServiceExports: true, Namespace: "shop"},
			want: []string{"ServiceExport shop/web"}},
		{name: "imports: ServiceImports and the slices of MCS implementations", sel: source.Selection{EndpointsAPI: kubeapi.NoEndpoints, Imports: true},
			want: []string{"EndpointSlice shop/web-cluster1", "ServiceImport shop/web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := source.Parse(strings.NewReader(mcsSnapshot), tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, mcsNames(st)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	st, err := source.Parse(strings.NewReader(mcsSnapshot), source.Selection{EndpointsAPI: kubeapi.NoEndpoints, ServiceExports: true, Imports: true})
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, st)
}

// checkStripped fails unless st keeps of the MCS objects only what
// rendering reads.
func checkStripped(t *testing.T, st source.State) {
	t.Helper()
	for _, e := range st.ServiceExports {
		if e.Labels != nil || e.Annotations != nil || len(e.Status.Conditions) > 0 {
			t.Errorf("ServiceExport %s/%s keeps %+v", e.Namespace, e.Name, e)
		}
		if e.Name == "web" && e.CreationTimestamp.Year() != 2026 {
			t.Errorf("ServiceExport %s/%s lost its creation time (the oldest export wins a conflict)", e.Namespace, e.Name)
		}
	}
	for _, i := range st.ServiceImports {
		if len(i.Spec.Ports) > 0 || !cmp.Equal(i.Spec.IPs, []string{"10.96.240.1"}) || i.Labels["app.kubernetes.io/managed-by"] != "cilium" {
			t.Errorf("ServiceImport %s/%s: %+v, want its labels and IPs only", i.Namespace, i.Name, i)
		}
	}
	for _, s := range st.EndpointSlices {
		want := map[string]string{"multicluster.kubernetes.io/service-name": "web", "multicluster.kubernetes.io/source-cluster": "cluster1",
			discoveryv1.LabelManagedBy: "lighthouse-agent.submariner.io"}
		if len(s.Endpoints) > 0 || !cmp.Equal(s.Labels, want) {
			t.Errorf("EndpointSlice %s/%s keeps %d endpoints and labels %v, want none and %v", s.Namespace, s.Name, len(s.Endpoints), s.Labels, want)
		}
	}
}

func mcsNames(st source.State) []string {
	var out []string
	for _, e := range st.ServiceExports {
		out = append(out, "ServiceExport "+e.Namespace+"/"+e.Name)
	}
	for _, i := range st.ServiceImports {
		out = append(out, "ServiceImport "+i.Namespace+"/"+i.Name)
	}
	for _, s := range st.EndpointSlices {
		out = append(out, "EndpointSlice "+s.Namespace+"/"+s.Name)
	}
	slices.Sort(out)
	return out
}

// listClient answers List from lists by resource, recording the label
// selector of each request.
type listClient struct {
	lists     map[string]runtime.Object
	selectors map[string]string
}

func (c *listClient) List(_ context.Context, resource, _ string, o metav1.ListOptions) (runtime.Object, error) {
	c.selectors[resource] = o.LabelSelector
	return c.lists[resource].DeepCopyObject(), nil
}

func (c *listClient) Watch(context.Context, string, string, metav1.ListOptions) (watch.Interface, error) {
	return watch.NewEmptyWatch(), nil
}

// List reads the MCS objects as a snapshot does: exports unselected by
// labels, and only the slices of MCS implementations, asked for by label.
func TestListMCS(t *testing.T) {
	slice := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-cluster1", Namespace: "shop", Labels: map[string]string{
		"multicluster.kubernetes.io/service-name": "web", "multicluster.kubernetes.io/source-cluster": "cluster1",
		discoveryv1.LabelManagedBy: "lighthouse-agent.submariner.io", "other": "x"}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.1"}}}}
	c := &listClient{selectors: map[string]string{}, lists: map[string]runtime.Object{
		source.ServicesResource: &corev1.ServiceList{},
		source.ServiceExportsResource: &mcsv1a1.ServiceExportList{Items: []mcsv1a1.ServiceExport{
			{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", CreationTimestamp: metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Labels: map[string]string{"x": "y"}}}}},
		source.ServiceImportsResource: &mcsv1a1.ServiceImportList{Items: []mcsv1a1.ServiceImport{
			{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app.kubernetes.io/managed-by": "cilium"}},
				Spec: mcsv1a1.ServiceImportSpec{IPs: []string{"10.96.240.1"}, Ports: []mcsv1a1.ServicePort{{Port: 80}}}}}},
		source.EndpointSlicesResource: &discoveryv1.EndpointSliceList{Items: []discoveryv1.EndpointSlice{slice}},
	}}
	got, err := source.List(t.Context(), c, source.Selection{LabelSelector: "mirror=true", EndpointsAPI: kubeapi.NoEndpoints, ServiceExports: true, Imports: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"EndpointSlice shop/web-cluster1", "ServiceExport shop/web", "ServiceImport shop/web"}, mcsNames(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	checkStripped(t, got)
	want := map[string]string{source.ServicesResource: "mirror=true", source.ServiceExportsResource: "", source.ServiceImportsResource: "",
		source.EndpointSlicesResource: "multicluster.kubernetes.io/service-name"}
	if diff := cmp.Diff(want, c.selectors); diff != "" {
		t.Errorf("label selectors asked for (-want +got):\n%s", diff)
	}
}
