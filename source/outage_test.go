package source_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ssm-dev/ssm/internal/kubetest"
	"github.com/ssm-dev/ssm/source"
)

// flakyCluster is a fake cluster that can stop answering: its watches end
// and every request fails until it is back. Endpoints lists can be slowed,
// so that after an outage services are listed before endpoints.
type flakyCluster struct {
	*fake.Clientset
	down         atomic.Bool
	slowEndpoint atomic.Int64 // nanoseconds each endpoints list takes
	mu           sync.Mutex
	watches      []watch.Interface
}

var refused = errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")

func newFlakyCluster(objs ...runtime.Object) *flakyCluster {
	c := &flakyCluster{Clientset: fake.NewClientset(objs...)}
	c.PrependReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if c.down.Load() {
			return true, nil, refused
		}
		if a.GetResource().Resource == "endpoints" {
			time.Sleep(time.Duration(c.slowEndpoint.Load()))
		}
		return false, nil, nil
	})
	c.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if c.down.Load() {
			return true, nil, refused
		}
		var opts metav1.ListOptions
		if w, ok := a.(k8stesting.WatchActionImpl); ok {
			opts = w.ListOptions
		}
		w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace(), opts)
		c.mu.Lock()
		c.watches = append(c.watches, w)
		c.mu.Unlock()
		return true, w, err
	})
	return c
}

func (c *flakyCluster) stop() {
	c.down.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.watches {
		w.Stop()
	}
	c.watches = nil
}

func svc(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{"mirror": "true"}}}
}

func eps(name, ip string) *corev1.Endpoints {
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{"mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip}}}}}
}

// view is what a state says of the test's two facts: whether Service a
// exists, and b's endpoint.
func view(st source.State) (hasA bool, bIP string) {
	for _, s := range st.Services {
		hasA = hasA || s.Name == "a"
	}
	for _, e := range st.Endpoints {
		if e.Name == "b" && len(e.Subsets) > 0 && len(e.Subsets[0].Addresses) > 0 {
			bIP = e.Subsets[0].Addresses[0].IP
		}
	}
	return hasA, bIP
}

func runWatcher(t *testing.T, w *source.Watcher) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	stop = func() time.Duration {
		if stopped {
			return 0
		}
		stopped = true
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
		return time.Since(start)
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestWatcherOutage: while the cluster is down the state it last showed is
// kept, changes made meanwhile included; once it answers again (a probe
// finds out) every resource is listed anew and the new state replaces the
// old in one step, never services new and endpoints old.
func TestWatcherOutage(t *testing.T) {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	c := newFlakyCluster(svc("a"), svc("b"), eps("a", "10.0.0.1"), eps("b", "10.0.0.2"))
	var syncs atomic.Int32
	w, err := source.NewWatcher(kubetest.Client(c), source.WatchOptions{Selections: []source.Selection{{LabelSelector: "mirror=true"}}, ProbeEvery: 50 * time.Millisecond,
		OnEvent: func(_, event string) {
			if event == "synced" {
				syncs.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w)
	waitFor(t, "sync", w.Synced)
	_, before := w.Snapshot()
	c.stop()
	w.Reachable(false)
	// Meanwhile on the cluster: a is deleted and b moves.
	if err := c.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("services"), "ns", "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Tracker().Update(corev1.SchemeGroupVersion.WithResource("endpoints"), eps("b", "10.0.0.9"), "ns"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if hasA, bIP := view(states(w)[0]); !hasA || bIP != "10.0.0.2" {
		t.Fatalf("during the outage: a %v, b %s; want the last state shown", hasA, bIP)
	}
	if _, got := w.Snapshot(); got.String() != before.String() {
		t.Errorf("revisions moved during the outage: %v, was %v", got, before)
	}
	c.slowEndpoint.Store(int64(2 * time.Second)) // longer than the old informers' first backoffs
	back := time.Now()
	c.down.Store(false)
	// Poll while the new generation lists: only the old or the new state.
	for syncs.Load() < 2 {
		switch hasA, bIP := view(states(w)[0]); {
		case hasA && bIP == "10.0.0.2", !hasA && bIP == "10.0.0.9":
		default:
			t.Fatalf("a split state: a %v, b %s", hasA, bIP)
		}
		if time.Since(back) > 10*time.Second {
			t.Fatal("not synced again 10s after the cluster came back")
		}
		time.Sleep(time.Millisecond)
	}
	if hasA, bIP := view(states(w)[0]); hasA || bIP != "10.0.0.9" {
		t.Errorf("after the outage: a %v, b %s; want a gone and b moved", hasA, bIP)
	}
	t.Logf("synced again %s after the cluster came back", time.Since(back).Round(time.Millisecond))
	if _, rv := w.Snapshot(); len(before.Older(rv)) == 0 || len(rv.Older(before)) > 0 {
		t.Errorf("revisions %v after the outage, %v before: want newer, never older", rv, before)
	}
}

// TestWatcherDownAtStart: a cluster down at start syncs as soon as a
// probe finds it back, not after client-go's backoff; shutting down while
// it is down is prompt.
func TestWatcherDownAtStart(t *testing.T) {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	c := newFlakyCluster(svc("a"), eps("a", "10.0.0.1"))
	c.down.Store(true)
	w, err := source.NewWatcher(kubetest.Client(c), source.WatchOptions{Selections: []source.Selection{{LabelSelector: "mirror=true"}}, ProbeEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWatcher(t, w)
	w.Reachable(false)
	time.Sleep(3 * time.Second) // client-go's backoff is past its first steps
	back := time.Now()
	c.down.Store(false)
	waitFor(t, "sync", w.Synced)
	if d := time.Since(back); d > 2*time.Second {
		t.Errorf("synced %s after the cluster came back, want within a few probes", d)
	}
	c.down.Store(true)
	w.Reachable(false)
	if d := stop(); d > 2*time.Second {
		t.Errorf("Run took %s to stop with the cluster down", d)
	}
}

func states(w *source.Watcher) []source.State {
	st, _ := w.Snapshot()
	return st
}
