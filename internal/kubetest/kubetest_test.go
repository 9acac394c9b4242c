package kubetest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/ssm-dev/ssm/internal/kubetest"
	"github.com/ssm-dev/ssm/source"
)

var resources = []string{source.ServicesResource, source.EndpointsResource, source.EndpointSlicesResource, source.NodesResource, source.NamespacesResource}

// objects holds one object of each resource in namespace a, and one of each
// namespaced resource in namespace b.
func objects() []runtime.Object {
	var out []runtime.Object
	for _, ns := range []string{"a", "b"} {
		m := metav1.ObjectMeta{Namespace: ns, Name: "x-" + ns, Labels: map[string]string{"ns": ns}}
		out = append(out, &corev1.Service{ObjectMeta: m}, &corev1.Endpoints{ObjectMeta: m},
			&discoveryv1.EndpointSlice{ObjectMeta: m, AddressType: discoveryv1.AddressTypeIPv4})
	}
	return append(out, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}})
}

// itemNames returns the ns/name of a list's items.
func itemNames(t *testing.T, list runtime.Object) []string {
	t.Helper()
	items := reflect.ValueOf(list).Elem().FieldByName("Items")
	var out []string
	for i := range items.Len() {
		m := items.Index(i).Addr().Interface().(metav1.Object)
		out = append(out, m.GetNamespace()+"/"+m.GetName())
	}
	return out
}

// TestFakeClientset: each resource lists as source.Client promises, as
// its list type, of one namespace or all, label-selected, and watches.
func TestFakeClientset(t *testing.T) {
	t.Parallel()
	c := kubetest.Client(fake.NewClientset(objects()...))
	for _, tt := range []struct {
		resource, ns string
		sel          string
		want         []string
		list         runtime.Object
	}{
		{resource: source.ServicesResource, want: []string{"a/x-a", "b/x-b"}, list: &corev1.ServiceList{}},
		{resource: source.ServicesResource, ns: "b", want: []string{"b/x-b"}, list: &corev1.ServiceList{}},
		{resource: source.EndpointsResource, sel: "ns=a", want: []string{"a/x-a"}, list: &corev1.EndpointsList{}},
		{resource: source.EndpointSlicesResource, ns: "a", want: []string{"a/x-a"}, list: &discoveryv1.EndpointSliceList{}},
		{resource: source.NodesResource, ns: "a", want: []string{"/n"}, list: &corev1.NodeList{}},
		{resource: source.NamespacesResource, want: []string{"/a"}, list: &corev1.NamespaceList{}},
	} {
		got, err := c.List(t.Context(), tt.resource, tt.ns, metav1.ListOptions{LabelSelector: tt.sel})
		if err != nil {
			t.Fatalf("List %s in %q: %v", tt.resource, tt.ns, err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(tt.list) {
			t.Errorf("List %s = %T, want %T", tt.resource, got, tt.list)
		}
		if names := itemNames(t, got); strings.Join(names, " ") != strings.Join(tt.want, " ") {
			t.Errorf("List %s in %q, %q = %v, want %v", tt.resource, tt.ns, tt.sel, names, tt.want)
		}
	}

	cs := fake.NewClientset()
	c = kubetest.Client(cs)
	for _, r := range resources {
		w, err := c.Watch(t.Context(), r, "a", metav1.ListOptions{})
		if err != nil {
			t.Fatalf("Watch %s: %v", r, err)
		}
		obj := map[string]runtime.Object{}
		for _, o := range objects() {
			m := o.(metav1.Object)
			if m.GetNamespace() == "a" || m.GetNamespace() == "" {
				obj[resourceOf(o)] = o
			}
		}
		if err := cs.Tracker().Add(obj[r]); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-w.ResultChan():
			if ev.Type != watch.Added || reflect.TypeOf(ev.Object) != reflect.TypeOf(obj[r]) {
				t.Errorf("Watch %s: event %s of %T, want an addition of %T", r, ev.Type, ev.Object, obj[r])
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Watch %s: no event", r)
		}
		w.Stop()
	}
}

func resourceOf(o runtime.Object) string {
	switch o.(type) {
	case *corev1.Service:
		return source.ServicesResource
	case *corev1.Endpoints:
		return source.EndpointsResource
	case *discoveryv1.EndpointSlice:
		return source.EndpointSlicesResource
	case *corev1.Node:
		return source.NodesResource
	}
	return source.NamespacesResource
}

func TestUnknownResource(t *testing.T) {
	t.Parallel()
	c := kubetest.Client(fake.NewClientset())
	if _, err := c.List(t.Context(), "pods", "", metav1.ListOptions{}); err == nil || err.Error() != `kubetest: no such resource "pods"` {
		t.Errorf("List pods: error = %v", err)
	}
	if _, err := c.Watch(t.Context(), "pods", "", metav1.ListOptions{}); err == nil || err.Error() != `kubetest: no such resource "pods"` {
		t.Errorf("Watch pods: error = %v", err)
	}
}

// TestRealClientsetAsSource: a real clientset through kubetest asks an API
// server what source's own client asks, for every resource, namespace and
// option, and decodes the same lists: so an end-to-end test that reads a
// cluster through a clientset reads it as ssm does.
func TestRealClientsetAsSource(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		kind := map[string]string{"services": "ServiceList", "endpoints": "EndpointsList", "endpointslices": "EndpointSliceList", "nodes": "NodeList", "namespaces": "NamespaceList"}
		parts := strings.Split(r.URL.Path, "/")
		res := parts[len(parts)-1]
		api := "v1"
		if res == "endpointslices" {
			api = "discovery.k8s.io/v1"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": api, "kind": kind[res], "metadata": map[string]string{"resourceVersion": "42"},
			"items": []any{map[string]any{"metadata": map[string]string{"name": "x", "namespace": "a"}}}})
	}))
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	viaKubetest := kubetest.Client(cs)
	viaSource, err := source.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := paths
		paths = nil
		return out
	}
	opts := metav1.ListOptions{LabelSelector: "mirror=true", Limit: 500, Continue: "c"}
	for _, r := range resources {
		for _, ns := range []string{"", "a"} {
			want := ns
			if r == source.NodesResource || r == source.NamespacesResource {
				want = "" // kubetest ignores the namespace of what belongs to none; source's callers pass none
			}
			a, err := viaKubetest.List(t.Context(), r, ns, opts)
			if err != nil {
				t.Fatalf("kubetest List %s in %q: %v", r, ns, err)
			}
			b, err := viaSource.List(t.Context(), r, want, opts)
			if err != nil {
				t.Fatalf("source List %s in %q: %v", r, want, err)
			}
			if reflect.TypeOf(a) != reflect.TypeOf(b) || a.(metav1.ListInterface).GetResourceVersion() != "42" || len(itemNames(t, a)) != 1 {
				t.Errorf("List %s: kubetest gave %T, source %T", r, a, b)
			}
			if got := take(); len(got) != 2 || got[0] != got[1] {
				t.Errorf("List %s in %q: requests %q, want the same twice", r, ns, got)
			}
		}
	}
}
