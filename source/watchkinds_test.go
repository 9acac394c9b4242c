package source_test

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/internal/kubetest"
	"github.com/ssm-dev/ssm/source"
)

// TestWatcherWithWatchListDefault: with client-go's WatchListClient feature
// as it comes (on), the watcher still lists and watches, so that it syncs
// against a server, or a fake, that streams no WatchList.
func TestWatcherWithWatchListDefault(t *testing.T) {
	if !clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		t.Skip("WatchListClient is off in this client-go: nothing to show")
	}
	w, err := source.NewWatcher(kubetest.Client(fake.NewClientset(svc("a"), eps("a", "10.0.0.1"))),
		source.WatchOptions{Selections: []source.Selection{{LabelSelector: "mirror=true"}}})
	if err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w)
	waitFor(t, "sync", w.Synced)
	if got := names(states(w)[0]); !slices.Equal(got, []string{"Endpoints ns/a", "Service ns/a"}) {
		t.Errorf("state = %v", got)
	}
}

// syncLog is a log the watcher writes and the test reads.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWatcherSelections: each selection is read into a State of its own:
// EndpointSlices, nodes and namespaces too, one namespace or all; updates
// and resyncs are told apart; the revisions are per resource.
func TestWatcherSelections(t *testing.T) {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	sel := map[string]string{"mirror": "true"}
	meta := func(ns, name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: sel, ResourceVersion: "1"}
	}
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: meta("ns", "a")},
		&corev1.Service{ObjectMeta: meta("other", "b")},
		&discoveryv1.EndpointSlice{ObjectMeta: meta("ns", "a-1"), AddressType: discoveryv1.AddressTypeIPv4},
		&corev1.Endpoints{ObjectMeta: meta("other", "b")},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "1", Labels: map[string]string{"zone": "z"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", ResourceVersion: "1"}},
	)
	var logs syncLog
	ev := &events{seen: map[string]int{}, ready: make(chan struct{}, 1)}
	w, err := source.NewWatcher(kubetest.Client(client), source.WatchOptions{
		Selections: []source.Selection{
			{LabelSelector: "mirror=true", EndpointsAPI: kubeapi.EndpointSlices, Namespace: "ns", Nodes: true, Namespaces: true},
			{LabelSelector: "mirror=true"},
		},
		Resync:  time.Second, // client-go's least
		Timeout: time.Minute,
		OnEvent: ev.add,
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w)
	waitFor(t, "sync", w.Synced)
	st, rv := w.Snapshot()
	if len(st) != 2 {
		t.Fatalf("Snapshot = %d states, want one per selection", len(st))
	}
	if diff := cmp.Diff([]string{"EndpointSlice ns/a-1", "Service ns/a"}, names(st[0])); diff != "" {
		t.Errorf("first selection (-want +got):\n%s", diff)
	}
	if len(st[0].Nodes) != 1 || st[0].Nodes[0].Labels != nil || len(st[0].Namespaces) != 1 || st[0].Namespaces[0].Name != "ns" {
		t.Errorf("first selection: nodes %v, namespaces %v; want n1 without labels and ns", st[0].Nodes, st[0].Namespaces)
	}
	if diff := cmp.Diff([]string{"Endpoints other/b", "Service ns/a", "Service other/b"}, names(st[1])); diff != "" {
		t.Errorf("second selection (-want +got):\n%s", diff)
	}
	if keys := slices.Sorted(func(yield func(string) bool) {
		for k := range rv {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(keys, []string{"endpoints", "endpointslices", "namespaces", "nodes", "services"}) {
		t.Errorf("revisions of %v, want every resource read", keys)
	}
	if l := logs.String(); !strings.Contains(l, "services[0]=1") || !strings.Contains(l, "services[1]=2") || !strings.Contains(l, "nodes[0]=1") {
		t.Errorf("the sync log does not count each selection's caches:\n%s", l)
	}

	waitFor(t, "resyncs", func() bool { return ev.count("services/resync") > 0 })
	n := ev.count("services/update")
	updated := &corev1.Service{ObjectMeta: meta("ns", "a")}
	updated.ResourceVersion, updated.Spec.Ports = "2", []corev1.ServicePort{{Port: 80}}
	if _, err := client.CoreV1().Services("ns").Update(t.Context(), updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an update", func() bool { return ev.count("services/update") > n })
}

// TestWatcherReportsWatchErrors: a list that fails is reported with its
// resource; once the cluster is known down it is probed (each probe within
// the timeout) until it answers.
func TestWatcherReportsWatchErrors(t *testing.T) {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	c := newFlakyCluster(svc("a"), eps("a", "10.0.0.1"))
	c.down.Store(true)
	var mu sync.Mutex
	failed := map[string]error{}
	w, err := source.NewWatcher(kubetest.Client(c), source.WatchOptions{
		Selections: []source.Selection{{LabelSelector: "mirror=true"}},
		Timeout:    time.Second,
		ProbeEvery: 20 * time.Millisecond,
		OnWatchError: func(resource string, err error) {
			mu.Lock()
			defer mu.Unlock()
			failed[resource] = err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w)
	waitFor(t, "watch errors", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(failed) == 2
	})
	mu.Lock()
	for r, err := range failed {
		if !errors.Is(err, refused) {
			t.Errorf("%s: error %v, want the cluster's", r, err)
		}
	}
	mu.Unlock()
	if w.Synced() {
		t.Fatal("synced while the cluster is down")
	}
	// Reachability saw it too: the informers stop and a probe asks.
	w.Reachable(false)
	c.down.Store(false)
	waitFor(t, "sync once the cluster is back", w.Synced)
}

func TestNewWatcherErrors(t *testing.T) {
	t.Parallel()
	client := kubetest.Client(fake.NewClientset())
	if _, err := source.NewWatcher(client, source.WatchOptions{}); err == nil || err.Error() != "watch: no selection" {
		t.Errorf("NewWatcher without a selection: error = %v", err)
	}
	_, err := source.NewWatcher(client, source.WatchOptions{Selections: []source.Selection{{}, {EndpointsAPI: "pods"}}})
	if err == nil || !strings.Contains(err.Error(), `remote endpoints API "pods"`) {
		t.Errorf("NewWatcher with a bad second selection: error = %v", err)
	}
	w, err := source.NewWatcher(client, source.WatchOptions{Selections: []source.Selection{{}, {}}})
	if err != nil {
		t.Fatal(err)
	}
	if st, rv := w.Snapshot(); len(st) != 2 || rv != nil || w.Synced() {
		t.Errorf("Snapshot before Run = %v, %v; want two empty states and no revisions", st, rv)
	}
}

// TestCurrentRevisions: the newest resource version of each resource the
// selections read, asked of the server with a list of one.
func TestCurrentRevisions(t *testing.T) {
	t.Parallel()
	a := newAPIServer(t)
	a.rv = map[string]string{"services": "100", "endpoints": "200", "endpointslices": "300", "nodes": "400"}
	w, err := source.NewWatcher(a.client(t), source.WatchOptions{Selections: []source.Selection{
		{LabelSelector: "mirror=true", Namespace: "ns"},
		{EndpointsAPI: kubeapi.EndpointSlices, Nodes: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rv, err := w.CurrentRevisions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := rv.String(); got != "endpoints=200 endpointslices=300 nodes=400 services=100" {
		t.Errorf("CurrentRevisions = %s", got)
	}
	want := []string{
		"/api/v1/namespaces/ns/services?limit=1",
		"/api/v1/namespaces/ns/endpoints?limit=1",
		"/apis/discovery.k8s.io/v1/endpointslices?limit=1",
		"/api/v1/nodes?limit=1",
	}
	if diff := cmp.Diff(want, a.seen()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	a.fail["endpointslices"] = apierrorsInternal()
	if _, err := w.CurrentRevisions(t.Context()); err == nil || !strings.Contains(err.Error(), "etcd is gone") {
		t.Errorf("CurrentRevisions with a failing list: error = %v", err)
	}
}

func TestParseRevisions(t *testing.T) {
	t.Parallel()
	r := source.Revisions{"services": "12", "endpoints": "7"}
	got, err := source.ParseRevisions(r.String())
	if err != nil || !cmp.Equal(got, r) {
		t.Errorf("ParseRevisions(%q) = %v, %v; want %v", r.String(), got, err, r)
	}
	if got, err := source.ParseRevisions(""); err != nil || len(got) != 0 {
		t.Errorf("ParseRevisions of nothing = %v, %v", got, err)
	}
	for _, bad := range []string{"services", "=1", "services=", "a=1 b"} {
		if _, err := source.ParseRevisions(bad); err == nil || !strings.Contains(err.Error(), "want resource=version") {
			t.Errorf("ParseRevisions(%q): error = %v", bad, err)
		}
	}
}
