package migrate

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

func TestLocal(t *testing.T) {
	t.Parallel()
	withLocal := config.Config{Clusters: []config.Cluster{{Name: "east"}, {Local: true, Conn: source.Connection{KubeConfig: "local.kubeconfig", Context: "admin"}}}}
	if got := Local(withLocal, "flag.kubeconfig", "ctx", time.Second); got != withLocal.Clusters[1].Conn {
		t.Errorf("with the local cluster in the configuration: %+v", got)
	}
	want := source.Connection{KubeConfig: "flag.kubeconfig", Context: "ctx", Timeout: time.Second}
	if got := Local(config.Config{Clusters: []config.Cluster{{Name: "east"}}}, "flag.kubeconfig", "ctx", time.Second); got != want {
		t.Errorf("without: %+v, want %+v", got, want)
	}
}

// apiServer answers the lists migrate makes of the local cluster from
// objs, selected by namespace and label as an API server selects them, v1
// Endpoints with the deprecation warning a 1.33+ server sends. It records
// every request; it has no write to answer.
type apiServer struct {
	objs     []runtime.Object
	mu       sync.Mutex
	requests []string
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	s.mu.Unlock()
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil || r.Method != http.MethodGet {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var list any
	items := func(ns, kind string) []runtime.Object {
		var out []runtime.Object
		for _, o := range s.objs {
			m := o.(metav1.Object)
			if m.GetNamespace() == ns && sel.Matches(labels.Set(m.GetLabels())) && strings.HasSuffix(strings.ToLower(kindOf(o)), kind) {
				out = append(out, o)
			}
		}
		return out
	}
	parts := strings.Split(r.URL.Path, "/") // /api/v1/namespaces/NS/RESOURCE, /apis/discovery.k8s.io/v1/namespaces/NS/RESOURCE
	ns, resource := parts[len(parts)-2], parts[len(parts)-1]
	switch resource {
	case "services":
		l := &corev1.ServiceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceList"}}
		for _, o := range items(ns, "service") {
			l.Items = append(l.Items, *o.(*corev1.Service))
		}
		list = l
	case "endpoints":
		w.Header().Set("Warning", `299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"`)
		l := &corev1.EndpointsList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "EndpointsList"}}
		for _, o := range items(ns, "endpoints") {
			l.Items = append(l.Items, *o.(*corev1.Endpoints))
		}
		list = l
	case "endpointslices":
		l := &discoveryv1.EndpointSliceList{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSliceList"}}
		for _, o := range items(ns, "endpointslice") {
			l.Items = append(l.Items, *o.(*discoveryv1.EndpointSlice))
		}
		list = l
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

func kindOf(o runtime.Object) string {
	switch o.(type) {
	case *corev1.Service:
		return "Service"
	case *corev1.Endpoints:
		return "Endpoints"
	case *discoveryv1.EndpointSlice:
		return "EndpointSlice"
	}
	return ""
}

func kubeconfig(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "`+server+`"}}]
users: [{name: admin, user: {token: local-token}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFromConfigLive: from a configuration of two endpoints-mode remotes
// and a NodePort one, migrate lists the local cluster over HTTP, only
// GETs in the mirror namespace, and its script deletes, when run by sh
// with kubectl, exactly the leftovers; the API server's deprecation
// warning for v1 Endpoints, read here to be deleted, is not logged.
func TestFromConfigLive(t *testing.T) {
	const ns = "semaphore"
	api := &apiServer{objs: []runtime.Object{
		&corev1.Service{ObjectMeta: meta(ns, "east-shop-73736d-web", mirrorOf("east"))},
		&corev1.Endpoints{ObjectMeta: meta(ns, "east-shop-73736d-web", mirrorOf("east"))},
		&corev1.Service{ObjectMeta: meta(ns, "north-shop-73736d-db", mirrorOf("north"))},
		&corev1.Service{ObjectMeta: meta(ns, "gl-shop-73736d-gone", global)},
		&discoveryv1.EndpointSlice{ObjectMeta: meta(ns, "gl-gone-abcde", sliceOf("gl-shop-73736d-gone", "west"))},
		&corev1.Service{ObjectMeta: meta("elsewhere", "east-shop-73736d-old", mirrorOf("east"))},
	}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	klog.SetSlogLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { klog.ClearLogger() })

	cfg := config.Config{Global: generate.GlobalOptions{MirrorNamespace: ns}, Clusters: []config.Cluster{
		{Name: "east", Options: generate.Options{ServicePrefix: "east"}},
		{Name: "ports", Options: generate.Options{Mode: generate.ModeNodePort, ServicePrefix: "ignored"}},
		{Name: "west", Options: generate.Options{ServicePrefix: "west"}},
	}}
	rendered := fileset.Files{"east/east-shop-73736d-web.yaml": []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: east-shop-73736d-web\n---\n" +
		"apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: east-shop-73736d-web\n")}
	opts, err := FromConfig(t.Context(), cfg, rendered, source.Connection{KubeConfig: kubeconfig(t, srv.URL), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"east", "west"}, opts.Prefixes); diff != "" || opts.Namespace != ns || opts.Timeout != 5*time.Second {
		t.Errorf("options: namespace %q, timeout %v, prefixes (-want +got):\n%s", opts.Namespace, opts.Timeout, diff)
	}
	left, err := SemaphoreServiceMirror(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range api.requests {
		if !strings.HasPrefix(r, "GET ") || !strings.Contains(r, "/namespaces/"+ns+"/") {
			t.Errorf("request %s: want only lists of namespace %s", r, ns)
		}
	}
	if strings.Contains(logs.String(), "deprecated") {
		t.Errorf("the deprecation warning of v1 Endpoints is logged:\n%s", logs.String())
	}
	var script bytes.Buffer
	if err := Script(&script, "kubeconfig local", left); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"delete --ignore-not-found --namespace semaphore services north-shop-73736d-db",
		"delete --ignore-not-found --namespace semaphore services gl-shop-73736d-gone",
		"delete --ignore-not-found --namespace semaphore endpointslices gl-gone-abcde",
	}
	if diff := cmp.Diff(want, runScript(t, script.Bytes())); diff != "" {
		t.Errorf("kubectl run by the script (-want +got):\n%s\nscript:\n%s", diff, script.String())
	}
}

// runScript runs a cleanup script with sh, a kubectl on PATH recording
// its arguments, and returns them, one line per call.
func runScript(t *testing.T, script []byte) []string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte("#!/bin/sh\necho \"$*\" >> '"+calls+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), sh, "-s")
	cmd.Stdin = bytes.NewReader(script)
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v\n%s", err, out)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(strings.Split(string(b), "\n"), func(s string) bool { return s == "" })
}

// TestFromConfigErrors: no mirror namespace anywhere, or a local cluster
// that cannot be reached by what was given, is an error before any list.
func TestFromConfigErrors(t *testing.T) {
	t.Parallel()
	remotes := []config.Cluster{{Name: "east", Options: generate.Options{ServicePrefix: "east"}}}
	_, err := FromConfig(t.Context(), config.Config{Clusters: remotes}, nil, source.Connection{})
	if err == nil || err.Error() != "no mirror namespace: semaphore-service-mirror wrote into global.mirrorNamespace" {
		t.Errorf("no namespace: err = %v", err)
	}
	// A remote's own namespace (plain flags' one remote) is the namespace.
	remotes[0].Options.MirrorNamespace = "mirrors"
	_, err = FromConfig(t.Context(), config.Config{Clusters: remotes}, nil, source.Connection{KubeConfig: "/nonexistent/kubeconfig"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/kubeconfig") {
		t.Errorf("missing kubeconfig: err = %v", err)
	}
	_, err = FromConfig(t.Context(), config.Config{Clusters: remotes}, nil, source.Connection{KubeConfig: "k", APIURL: "https://127.0.0.1:6443"})
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("kubeconfig and API URL: err = %v", err)
	}
}
