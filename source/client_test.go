package source_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/ssm-dev/ssm/source"
)

// The client asks for protobuf, in the resource's API group, with the
// list options as query parameters; it knows only the resources ssm reads.
// (The end-to-end tests list and watch through it against kube-apiserver.)
func TestClientRequests(t *testing.T) {
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
	for _, r := range []string{source.ServicesResource, source.EndpointsResource, source.EndpointSlicesResource, source.NodesResource, source.NamespacesResource} {
		if _, err := c.List(t.Context(), r, "", metav1.ListOptions{LabelSelector: "mirror=true", Limit: 500}); err == nil {
			t.Errorf("List %s: no error from a server that answers none", r)
		}
	}
	timeout := int64(300)
	if _, err := c.Watch(t.Context(), source.ServicesResource, "", metav1.ListOptions{ResourceVersion: "7", TimeoutSeconds: &timeout}); err == nil {
		t.Error("Watch services: no error from a server that answers none")
	}
	// One namespace: the path a Role of it allows.
	if _, err := c.List(t.Context(), source.ServicesResource, "mirrors", metav1.ListOptions{}); err == nil {
		t.Error("List services of mirrors: no error from a server that answers none")
	}
	if _, err := c.Watch(t.Context(), source.EndpointSlicesResource, "mirrors", metav1.ListOptions{}); err == nil {
		t.Error("Watch endpointslices of mirrors: no error from a server that answers none")
	}
	want := []string{
		"/api/v1/services?labelSelector=mirror%3Dtrue&limit=500 application/vnd.kubernetes.protobuf,application/json",
		"/api/v1/endpoints?labelSelector=mirror%3Dtrue&limit=500 application/vnd.kubernetes.protobuf,application/json",
		"/apis/discovery.k8s.io/v1/endpointslices?labelSelector=mirror%3Dtrue&limit=500 application/vnd.kubernetes.protobuf,application/json",
		"/api/v1/nodes?labelSelector=mirror%3Dtrue&limit=500 application/vnd.kubernetes.protobuf,application/json",
		"/api/v1/namespaces?labelSelector=mirror%3Dtrue&limit=500 application/vnd.kubernetes.protobuf,application/json",
		"/api/v1/services?resourceVersion=7&timeout=5m0s&timeoutSeconds=300&watch=true application/vnd.kubernetes.protobuf,application/json",
		"/api/v1/namespaces/mirrors/services? application/vnd.kubernetes.protobuf,application/json",
		"/apis/discovery.k8s.io/v1/namespaces/mirrors/endpointslices?watch=true application/vnd.kubernetes.protobuf,application/json",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := c.List(t.Context(), "pods", "", metav1.ListOptions{}); err == nil || !strings.Contains(err.Error(), `no such resource "pods"`) {
		t.Errorf("List pods: %v", err)
	}
	if _, err := c.Watch(t.Context(), "pods", "", metav1.ListOptions{}); err == nil {
		t.Error("Watch pods: no error")
	}
}
