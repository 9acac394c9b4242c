package source_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/internal/kubetest"
	"github.com/ssm-dev/ssm/source"
)

// cluster fills a with n Services in each of the namespaces a and b,
// every other one labelled mirror=true, each with its Endpoints and
// EndpointSlice, and two nodes and the two namespaces.
func cluster(a *apiServer, n int) {
	sel := map[string]string{"mirror": "true"}
	for _, ns := range []string{"a", "b"} {
		for i := range n {
			name := fmt.Sprintf("s%04d", i)
			var l map[string]string
			if i%2 == 0 {
				l = sel
			}
			meta := metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l, Annotations: map[string]string{"note": "big"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}
			a.objs["services"] = append(a.objs["services"], &corev1.Service{ObjectMeta: meta})
			a.objs["endpoints"] = append(a.objs["endpoints"], &corev1.Endpoints{ObjectMeta: meta})
			sliceMeta := *meta.DeepCopy()
			sliceMeta.Name += "-x"
			a.objs["endpointslices"] = append(a.objs["endpointslices"], &discoveryv1.EndpointSlice{ObjectMeta: sliceMeta, AddressType: discoveryv1.AddressTypeIPv4})
		}
		a.objs["namespaces"] = append(a.objs["namespaces"], &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}})
	}
	for _, n := range []string{"n1", "n2"} {
		a.objs["nodes"] = append(a.objs["nodes"], &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"zone": "z"}},
			Status: corev1.NodeStatus{Images: []corev1.ContainerImage{{Names: []string{"big"}}}}})
	}
}

// TestListPages: List reads every page of each resource the selection
// names, label-selected by the server, in one namespace or all, and keeps
// what rendering reads.
func TestListPages(t *testing.T) {
	t.Parallel()
	a := newAPIServer(t)
	cluster(a, 600) // 300 selected Services per namespace: two pages of 500 across both
	st, err := source.List(t.Context(), a.client(t), source.Selection{LabelSelector: "mirror=true", Nodes: true, Namespaces: true}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Services) != 600 || len(st.Endpoints) != 600 || len(st.EndpointSlices) != 0 || len(st.Nodes) != 2 || len(st.Namespaces) != 2 {
		t.Fatalf("List = %d services, %d endpoints, %d slices, %d nodes, %d namespaces; want 600, 600, 0, 2, 2",
			len(st.Services), len(st.Endpoints), len(st.EndpointSlices), len(st.Nodes), len(st.Namespaces))
	}
	s := st.Services[0]
	if s.ManagedFields != nil || s.Annotations != nil || s.Labels["mirror"] != "true" {
		t.Errorf("a listed Service keeps %+v; want its labels only", s.ObjectMeta)
	}
	if n := st.Nodes[0]; n.Labels != nil || n.Status.Images != nil {
		t.Errorf("a listed node keeps %+v, %+v", n.Labels, n.Status.Images)
	}
	if ns := st.Namespaces[0]; ns.Labels["team"] != "a" || ns.Status.Phase != "" {
		t.Errorf("a listed namespace = %+v, want its labels and no status", ns)
	}
	want := []string{
		"/api/v1/services?labelSelector=mirror%3Dtrue&limit=500",
		"/api/v1/services?continue=500&labelSelector=mirror%3Dtrue&limit=500",
		"/api/v1/endpoints?labelSelector=mirror%3Dtrue&limit=500",
		"/api/v1/endpoints?continue=500&labelSelector=mirror%3Dtrue&limit=500",
		"/api/v1/nodes?limit=500",
		"/api/v1/namespaces?limit=500",
	}
	if diff := cmp.Diff(want, a.seen()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestListSelections: the endpoints API and the namespace choose what is
// asked for.
func TestListSelections(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		sel      source.Selection
		want     []string // kind ns/name of the first of each kind
		requests []string
	}{
		{name: "endpoint slices of one namespace", sel: source.Selection{LabelSelector: "mirror=true", EndpointsAPI: kubeapi.EndpointSlices, Namespace: "b", Nodes: true},
			want: []string{"EndpointSlice b/s0000-x", "EndpointSlice b/s0002-x", "Service b/s0000", "Service b/s0002"},
			requests: []string{
				"/api/v1/namespaces/b/services?labelSelector=mirror%3Dtrue&limit=500",
				"/apis/discovery.k8s.io/v1/namespaces/b/endpointslices?labelSelector=mirror%3Dtrue&limit=500",
				"/api/v1/nodes?limit=500",
			}},
		{name: "no endpoints", sel: source.Selection{EndpointsAPI: kubeapi.NoEndpoints, Namespace: "a"},
			want:     []string{"Service a/s0000", "Service a/s0001", "Service a/s0002"},
			requests: []string{"/api/v1/namespaces/a/services?limit=500"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPIServer(t)
			cluster(a, 3)
			st, err := source.List(t.Context(), a.client(t), tt.sel, 0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, names(st)); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.requests, a.seen()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestListErrors: a list the server refuses, a page that never comes, or
// a selection that cannot be read fails List, naming the resource.
func TestListErrors(t *testing.T) {
	t.Parallel()
	gr := func(r string) schema.GroupResource { return schema.GroupResource{Resource: r} }
	for _, tt := range []struct {
		name  string
		sel   source.Selection
		setUp func(*apiServer)
		want  string
		is    func(error) bool
	}{
		{name: "forbidden endpoints", setUp: func(a *apiServer) {
			a.fail["endpoints"] = apierrors.NewForbidden(gr("endpoints"), "", errors.New("RBAC"))
		},
			want: "list endpoints: endpoints is forbidden: RBAC", is: apierrors.IsForbidden},
		{name: "broken slices", sel: source.Selection{EndpointsAPI: kubeapi.EndpointSlices},
			setUp: func(a *apiServer) { a.fail["endpointslices"] = apierrors.NewInternalError(errors.New("etcd is gone")) },
			want:  "list endpointslices: Internal error occurred: etcd is gone", is: apierrors.IsInternalError},
		{name: "forbidden nodes", sel: source.Selection{Nodes: true}, setUp: func(a *apiServer) { a.fail["nodes"] = apierrors.NewForbidden(gr("nodes"), "", errors.New("RBAC")) },
			want: "list nodes: nodes is forbidden", is: apierrors.IsForbidden},
		{name: "forbidden namespaces", sel: source.Selection{Namespaces: true}, setUp: func(a *apiServer) {
			a.fail["namespaces"] = apierrors.NewForbidden(gr("namespaces"), "", errors.New("RBAC"))
		},
			want: "list namespaces: namespaces is forbidden", is: apierrors.IsForbidden},
		{name: "second page never comes", setUp: func(a *apiServer) { cluster(a, 1200); a.stallAt["services"] = "500" },
			want: "list services: ", is: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{name: "bad selector", sel: source.Selection{LabelSelector: "a in (b"}, want: `label selector "a in (b"`},
		{name: "bad namespace", sel: source.Selection{Namespace: "No_Such"}, want: `namespace "No_Such": a lowercase RFC 1123 label`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAPIServer(t)
			if tt.setUp != nil {
				tt.setUp(a)
			}
			start := time.Now()
			_, err := source.List(t.Context(), a.client(t), tt.sel, 500*time.Millisecond)
			if err == nil || !strings.Contains(err.Error(), tt.want) || tt.is != nil && !tt.is(err) {
				t.Errorf("List error = %v, want %q", err, tt.want)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("List took %s with a timeout of 500ms a page", took)
			}
			if tt.is == nil && len(a.seen()) > 0 {
				t.Errorf("an invalid selection made requests: %v", a.seen())
			}
		})
	}
}

// TestListThroughFakeClientset: List takes any Client: here client-go's
// fake clientset through kubetest, which ignores pages.
func TestListThroughFakeClientset(t *testing.T) {
	t.Parallel()
	c := newFlakyCluster(svc("a"), svc("b"), eps("a", "10.0.0.1"), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "c"}})
	st, err := source.List(t.Context(), kubetest.Client(c), source.Selection{LabelSelector: "mirror=true"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(st), []string{"Endpoints ns/a", "Service ns/a", "Service ns/b"}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	c.down.Store(true)
	if _, err := source.List(t.Context(), kubetest.Client(c), source.Selection{}, 0); !errors.Is(err, refused) || !strings.HasPrefix(err.Error(), "list services: ") {
		t.Errorf("List of a cluster that is down: error = %v", err)
	}
}
