package source

import (
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/tools/cache"
)

// TestStripTombstone: an informer hands its transform the last state of
// an object whose deletion it missed wrapped in a tombstone; that object
// is stripped too, and what is no object at all is left alone.
func TestStripTombstone(t *testing.T) {
	t.Parallel()
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		Annotations: map[string]string{lastApplied: "{}", "tfw.io/barrelman": "ignore"}}}
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: s}
	if got, err := stripTransform(tomb); err != nil || got != tomb {
		t.Fatalf("stripTransform(tombstone) = %v, %v; want the tombstone", got, err)
	}
	if s.ManagedFields != nil || len(s.Annotations) != 1 {
		t.Errorf("the tombstone's Service keeps %+v", s.ObjectMeta)
	}
	if got, err := stripTransform("not an object"); err != nil || got != "not an object" {
		t.Errorf("stripTransform of a string = %v, %v", got, err)
	}
}

// TestReachableKeepsTheLatest: reports never block, and one not read yet
// is replaced by the next.
func TestReachableKeepsTheLatest(t *testing.T) {
	t.Parallel()
	w, err := NewWatcher(nil, WatchOptions{Selections: []Selection{{}}})
	if err != nil {
		t.Fatal(err)
	}
	w.Reachable(false)
	w.Reachable(true)
	w.Reachable(false)
	if up := <-w.reach; up {
		t.Error("read an older report")
	}
	select {
	case up := <-w.reach:
		t.Errorf("a second report is queued: %v", up)
	default:
	}
}

type idleCloser struct{ closed bool }

func (c *idleCloser) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, http.ErrNotSupported
}
func (c *idleCloser) CloseIdleConnections() { c.closed = true }

// TestReachabilityUnwraps: client-go reaches the transport Reachability
// wraps, to close its idle connections.
func TestReachabilityUnwraps(t *testing.T) {
	t.Parallel()
	inner := &idleCloser{}
	utilnet.CloseIdleConnectionsFor((&Reachability{}).Wrap(inner))
	if !inner.closed {
		t.Error("the wrapped transport's idle connections were not closed")
	}
}
