package source_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/ssm-dev/ssm/source"
)

func TestReachability(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	var changes []bool
	r := &source.Reachability{OnChange: func(up bool, err error) {
		if up != (err == nil) {
			t.Errorf("up=%v with err=%v", up, err)
		}
		changes = append(changes, up)
	}}
	client := &http.Client{Transport: r.Wrap(http.DefaultTransport)}
	get := func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	get(t.Context()) // any answer, even an error status, means reachable
	get(t.Context())
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	get(cancelled) // our own cancellation says nothing about the remote
	if !r.Up() {
		t.Fatal("down after answers and a cancelled request")
	}
	srv.Close()
	get(t.Context())
	get(t.Context())
	if r.Up() {
		t.Fatal("up with the server gone")
	}
	if want := []bool{true, false}; !slices.Equal(changes, want) {
		t.Errorf("transitions %v, want %v", changes, want)
	}
}

// TestReachabilityDownAtStart: a remote that never answered is reported
// down on its first failure, and each failure is counted with its
// resource.
func TestReachabilityDownAtStart(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close()
	var changes []bool
	var failed []string
	r := &source.Reachability{
		OnChange:  func(up bool, _ error) { changes = append(changes, up) },
		OnFailure: func(resource string, _ error) { failed = append(failed, resource) },
	}
	client := &http.Client{Transport: r.Wrap(http.DefaultTransport)}
	for _, p := range []string{"/api/v1/services?watch=true", "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices/b", "/version"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+p, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			t.Fatal("a closed server answered")
		}
	}
	if want := []bool{false}; !slices.Equal(changes, want) {
		t.Errorf("transitions %v, want %v", changes, want)
	}
	if want := []string{"services", "endpointslices", ""}; !slices.Equal(failed, want) {
		t.Errorf("failures %q, want %q", failed, want)
	}
}
