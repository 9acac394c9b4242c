package source_test

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ssm-dev/ssm/internal/kubetest"
	"github.com/ssm-dev/ssm/source"
)

// events counts OnEvent calls and lets a test wait for one.
type events struct {
	mu    sync.Mutex
	seen  map[string]int
	ready chan struct{}
}

func (e *events) add(resource, event string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen[resource+"/"+event]++
	select {
	case e.ready <- struct{}{}:
	default:
	}
}

func (e *events) count(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen[key]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatcher(t *testing.T) {
	// The fake clientset cannot serve WatchList streams: informers would never sync.
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	meta := func(name string, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: labels, ResourceVersion: "1",
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}
	}
	sel := map[string]string{"mirror": "true"}
	node := "node-1"
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: meta("a", sel)},
		&corev1.Service{ObjectMeta: meta("b", nil)},
		&corev1.Endpoints{ObjectMeta: meta("a", sel), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", Hostname: "a-0", NodeName: &node,
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "a-0", UID: "u"}}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 80}},
		}}},
	)
	ev := &events{seen: map[string]int{}, ready: make(chan struct{}, 1)}
	w, err := source.NewWatcher(kubetest.Client(client), source.WatchOptions{Selections: []source.Selection{{LabelSelector: "mirror=true"}}, OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	if w.Synced() {
		t.Fatal("synced before running")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	waitFor(t, "sync", w.Synced)

	st := states(w)[0]
	if len(st.Services) != 1 || st.Services[0].Name != "a" || len(st.Endpoints) != 1 {
		t.Fatalf("state = %d services (%v), %d endpoints; want only the selected a", len(st.Services), st.Services, len(st.Endpoints))
	}
	if st.Services[0].ManagedFields != nil {
		t.Error("managedFields were cached")
	}
	if st.Services[0].Labels["mirror"] != "true" || st.Endpoints[0].Labels != nil {
		t.Errorf("cached labels: Service %v, Endpoints %v; want the Service's only", st.Services[0].Labels, st.Endpoints[0].Labels)
	}
	// What rendering never reads is not cached; what it reads is.
	if a := st.Endpoints[0].Subsets[0].Addresses[0]; a.TargetRef != nil || a.NodeName != nil || a.IP != "10.0.0.1" || a.Hostname != "a-0" {
		t.Errorf("cached address = %+v; want its IP and hostname, without targetRef and nodeName", a)
	}
	if ev.count("services/synced") != 1 || ev.count("services/add") != 1 || ev.count("endpoints/add") != 1 {
		t.Errorf("events = %v", ev.seen)
	}

	if _, err := client.CoreV1().Services("ns").Create(ctx, &corev1.Service{ObjectMeta: meta("c", sel)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Services("ns").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delete event", func() bool { return ev.count("services/delete") == 1 })
	if st := states(w)[0]; len(st.Services) != 1 || st.Services[0].Name != "c" {
		t.Errorf("after create c and delete a: %v", st.Services)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
