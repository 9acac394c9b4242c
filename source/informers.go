package source

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/ssm-dev/ssm/internal/kubeapi"
)

// resource is one kind of object a selection reads.
type resource struct {
	name    string // a Client's resource: services, endpoints, endpointslices or nodes
	example runtime.Object
	// transform strips what is cached of its objects; nil: stripTransform.
	transform cache.TransformFunc
}

var (
	servicesResource  = resource{name: ServicesResource, example: &corev1.Service{}}
	endpointsResource = resource{name: EndpointsResource, example: &corev1.Endpoints{}}
	sliceResource     = resource{name: EndpointSlicesResource, example: &discoveryv1.EndpointSlice{}}
	nodesResource     = resource{name: NodesResource, example: &corev1.Node{}}
	nsResource        = resource{name: NamespacesResource, example: &corev1.Namespace{}}
)

// resources lists what a selection reads, with the label selector that
// applies to each (nodes are not label-selected).
func (s Selection) resources() ([]resource, []string, error) {
	sel, api, err := s.parse()
	if err != nil {
		return nil, nil, err
	}
	out, selectors := []resource{servicesResource}, []string{sel.String()}
	switch api {
	case kubeapi.Endpoints:
		out, selectors = append(out, endpointsResource), append(selectors, sel.String())
	case kubeapi.EndpointSlices:
		out, selectors = append(out, sliceResource), append(selectors, sel.String())
	}
	if s.Nodes {
		out, selectors = append(out, nodesResource), append(selectors, "")
	}
	if s.Namespaces {
		out, selectors = append(out, nsResource), append(selectors, "")
	}
	mcs, mcsSelectors := s.mcsResources()
	return append(out, mcs...), append(selectors, mcsSelectors...), nil
}

// listWatch lists with a deadline per request and watches for as long as
// the server keeps the watch open (the reflector asks for a timeout), so
// that watches are not cut and re-opened every request deadline. Lists
// and watches, not WatchList streams: client-go's WatchList retries wait
// out their backoff without heeding cancellation, and report no error.
type listWatch struct {
	cache.ListWatch
}

// IsWatchListSemanticsUnSupported tells client-go's reflector to list and
// watch.
func (listWatch) IsWatchListSemanticsUnSupported() bool { return true }

// namespaceOf is the namespace s reads r in: its own, but for the
// resources that belong to no namespace.
func (r resource) namespaceOf(s Selection) string {
	if r.name == NodesResource || r.name == NamespacesResource {
		return ""
	}
	return s.Namespace
}

func newListWatch(c Client, r resource, namespace, selector string, timeout time.Duration) *listWatch {
	return &listWatch{cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return c.List(ctx, r.name, namespace, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return c.Watch(ctx, r.name, namespace, o)
		},
	}}
}

// generation is one set of informers over every selection of a Watcher.
// A Watcher replaces its generation after an outage, so that every
// resource is listed again at once and the new state is used only when
// all of them have caught up.
type generation struct {
	informers [][]namedInformer // by selection
	cancel    context.CancelFunc
	done      chan struct{} // closed when every informer stopped
	synced    chan struct{} // closed when every cache synced
	started   time.Time
	active    bool // its events are reported; under Watcher.mu
}

type namedInformer struct {
	resource string
	cache.SharedIndexInformer
}

// newGeneration builds informers for every selection; start runs them.
func (w *Watcher) newGeneration() (*generation, error) {
	g := &generation{done: make(chan struct{}), synced: make(chan struct{})}
	// Until a first state is current, events are reported as they come;
	// a later generation's initial list is not news, its sync is.
	w.mu.Lock()
	g.active = w.current == nil
	w.mu.Unlock()
	for _, s := range w.opts.Selections {
		rs, selectors, err := s.resources()
		if err != nil {
			return nil, err
		}
		var infs []namedInformer
		for i, r := range rs {
			inf := cache.NewSharedIndexInformer(newListWatch(w.client, r, r.namespaceOf(s), selectors[i], w.opts.Timeout), r.example, w.opts.Resync, cache.Indexers{})
			if err := w.setUp(g, r, inf); err != nil {
				return nil, err
			}
			infs = append(infs, namedInformer{r.name, inf})
		}
		g.informers = append(g.informers, infs)
	}
	return g, nil
}

// start runs g's informers until ctx ends or g is stopped; wg owns them.
func (g *generation) start(ctx context.Context, wg *sync.WaitGroup) {
	ctx, g.cancel = context.WithCancel(ctx)
	g.started = time.Now()
	var all sync.WaitGroup
	var synced []cache.InformerSynced
	for _, infs := range g.informers {
		for _, inf := range infs {
			all.Go(func() { inf.RunWithContext(ctx) })
			synced = append(synced, inf.HasSynced)
		}
	}
	wg.Go(func() {
		if cache.WaitForCacheSync(ctx.Done(), synced...) {
			close(g.synced)
		}
	})
	wg.Go(func() {
		all.Wait()
		close(g.done)
	})
}

func (g *generation) stop() {
	if g != nil && g.cancel != nil {
		g.cancel()
	}
}

// states reads every selection's cache.
func (g *generation) states() []State {
	out := make([]State, len(g.informers))
	for i, infs := range g.informers {
		for _, inf := range infs {
			for _, o := range inf.GetStore().List() {
				out[i].addCached(o)
			}
		}
	}
	return out
}

func (st *State) addCached(o any) {
	switch x := o.(type) {
	case *corev1.Service:
		st.Services = append(st.Services, x)
	case *corev1.Endpoints:
		st.Endpoints = append(st.Endpoints, x)
	case *discoveryv1.EndpointSlice:
		st.EndpointSlices = append(st.EndpointSlices, x)
	case *corev1.Node:
		st.Nodes = append(st.Nodes, x)
	case *corev1.Namespace:
		st.Namespaces = append(st.Namespaces, x)
	default:
		st.addMCS(x)
	}
}

// revisions returns, per resource, the oldest resource version that any
// of g's caches of it holds: what g's state is at least as new as. It is
// the version the cache applied (client-go's AtomicFIFO), not the newest
// the reflector received, which may still wait in its queue; read it
// before the state, so that the state is never older than it says.
func (g *generation) revisions() Revisions {
	out := Revisions{}
	for _, infs := range g.informers {
		for _, inf := range infs {
			rv := inf.GetIndexer().LastStoreSyncResourceVersion()
			if cur, ok := out[inf.resource]; !ok || olderRevision(rv, cur) {
				out[inf.resource] = rv
			}
		}
	}
	return out
}

// counts lists how many objects each cache holds, for logs.
func (g *generation) counts() []any {
	var out []any
	for i, infs := range g.informers {
		for _, inf := range infs {
			name := inf.resource
			if len(g.informers) > 1 {
				name = fmt.Sprintf("%s[%d]", name, i)
			}
			out = append(out, name, len(inf.GetStore().ListKeys()))
		}
	}
	return out
}

func (w *Watcher) setUp(g *generation, r resource, inf cache.SharedIndexInformer) error {
	resource, transform := r.name, r.transform
	if transform == nil {
		transform = stripTransform
	}
	if err := inf.SetTransform(transform); err != nil {
		return fmt.Errorf("%s informer: %w", resource, err)
	}
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if w.opts.OnWatchError != nil && !errors.Is(err, context.Canceled) {
			w.opts.OnWatchError(resource, err)
		}
	}); err != nil {
		return fmt.Errorf("%s informer: %w", resource, err)
	}
	notify := func(event string) {
		w.mu.Lock()
		active := g.active
		w.mu.Unlock()
		if active && w.opts.OnEvent != nil {
			w.opts.OnEvent(resource, event)
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { notify("add") },
		UpdateFunc: func(old, cur any) {
			if o, c := old.(metav1.Object), cur.(metav1.Object); o.GetResourceVersion() == c.GetResourceVersion() {
				notify("resync")
				return
			}
			notify("update")
		},
		DeleteFunc: func(any) { notify("delete") },
	})
	if err != nil {
		return fmt.Errorf("%s informer: %w", resource, err)
	}
	return nil
}
