package source_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/ssm-dev/ssm/source"
)

// apiServer speaks as much of the Kubernetes API as source's REST client
// uses, in JSON: lists of the five resources, cluster-wide or of one
// namespace, label-selected, in pages of ?limit= items with a continue
// token. A test can make a resource fail with an API status, or hang.
type apiServer struct {
	*httptest.Server
	objs map[string][]metav1.Object // by resource
	rv   map[string]string          // list resource versions, by resource

	mu       sync.Mutex
	requests []string // path?query of each request
	fail     map[string]*apierrors.StatusError
	stallAt  map[string]string // resource → the continue token whose page never comes
}

func newAPIServer(t *testing.T) *apiServer {
	t.Helper()
	a := &apiServer{objs: map[string][]metav1.Object{}, rv: map[string]string{}, fail: map[string]*apierrors.StatusError{}, stallAt: map[string]string{}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

// client returns source's REST client of the server.
func (a *apiServer) client(t *testing.T) source.Client {
	t.Helper()
	c, err := source.NewClient(&rest.Config{Host: a.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (a *apiServer) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.requests...)
}

// route reads /api/v1[/namespaces/NS]/RESOURCE or
// /apis/discovery.k8s.io/v1[/namespaces/NS]/endpointslices.
func route(path string) (resource, ns string, ok bool) {
	rest, core := strings.CutPrefix(path, "/api/v1/")
	if !core {
		if rest, ok = strings.CutPrefix(path, "/apis/discovery.k8s.io/v1/"); !ok {
			return "", "", false
		}
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1:
		return parts[0], "", true
	case len(parts) == 3 && parts[0] == "namespaces":
		return parts[2], parts[1], true
	}
	return "", "", false
}

func (a *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, r.URL.Path+"?"+r.URL.RawQuery)
	resource, ns, ok := route(r.URL.Path)
	fail, stall := a.fail[resource], a.stallAt[resource]
	a.mu.Unlock()
	q := r.URL.Query()
	switch {
	case !ok || q.Get("watch") == "true":
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: r.URL.Path}, ""))
		return
	case fail != nil:
		writeStatus(w, fail)
		return
	case stall != "" && q.Get("continue") == stall:
		<-r.Context().Done()
		return
	}
	sel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	var items []metav1.Object
	for _, o := range a.objs[resource] {
		if (ns == "" || o.GetNamespace() == ns) && sel.Matches(labels.Set(o.GetLabels())) {
			items = append(items, o)
		}
	}
	start, _ := strconv.Atoi(q.Get("continue"))
	end := len(items)
	if limit, _ := strconv.Atoi(q.Get("limit")); limit > 0 && start+limit < end {
		end = start + limit
	}
	meta := metav1.ListMeta{ResourceVersion: a.rv[resource]}
	if end < len(items) {
		meta.Continue = strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list(resource, meta, items[start:end]))
}

// list makes the typed list of resource holding items.
func list(resource string, meta metav1.ListMeta, items []metav1.Object) any {
	v1 := metav1.TypeMeta{APIVersion: "v1"}
	switch resource {
	case "services":
		l := &corev1.ServiceList{TypeMeta: v1, ListMeta: meta}
		for _, o := range items {
			l.Items = append(l.Items, *o.(*corev1.Service))
		}
		l.Kind = "ServiceList"
		return l
	case "endpoints":
		l := &corev1.EndpointsList{TypeMeta: v1, ListMeta: meta}
		for _, o := range items {
			l.Items = append(l.Items, *o.(*corev1.Endpoints))
		}
		l.Kind = "EndpointsList"
		return l
	case "nodes":
		l := &corev1.NodeList{TypeMeta: v1, ListMeta: meta}
		for _, o := range items {
			l.Items = append(l.Items, *o.(*corev1.Node))
		}
		l.Kind = "NodeList"
		return l
	case "namespaces":
		l := &corev1.NamespaceList{TypeMeta: v1, ListMeta: meta}
		for _, o := range items {
			l.Items = append(l.Items, *o.(*corev1.Namespace))
		}
		l.Kind = "NamespaceList"
		return l
	default:
		l := &discoveryv1.EndpointSliceList{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSliceList"}, ListMeta: meta}
		for _, o := range items {
			l.Items = append(l.Items, *o.(*discoveryv1.EndpointSlice))
		}
		return l
	}
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.APIVersion, st.Kind = "v1", "Status"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}

func apierrorsInternal() *apierrors.StatusError {
	return apierrors.NewInternalError(errors.New("etcd is gone"))
}
