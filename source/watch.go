package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// WatchOptions configures a Watcher.
type WatchOptions struct {
	Selection Selection
	// Resync re-delivers every cached object this often, so the consumer
	// re-renders from the cache; 0 disables it.
	Resync time.Duration
	// OnEvent is called for every add, update, delete and resync, with the
	// resource ("services", "endpoints", "endpointslices") and event type.
	// It must not block: it only schedules work.
	OnEvent func(resource, event string)
	// OnWatchError is called when a list or watch fails; the cache keeps its
	// last state and client-go retries with backoff. It must not block.
	OnWatchError func(resource string, err error)
	Logger       *slog.Logger
}

// Watcher keeps label-selected Services and their endpoint objects of one
// remote cluster in informer caches. While the remote is unreachable the
// caches keep the last state they saw, so an outage never looks like
// deletions.
type Watcher struct {
	factory  informers.SharedInformerFactory
	services cache.SharedIndexInformer
	eps      cache.SharedIndexInformer // nil with NoEndpoints
	nodes    cache.SharedIndexInformer // nil unless Selection.Nodes
	api      EndpointsAPI
	opts     WatchOptions

	nodeFactory informers.SharedInformerFactory

	mu     sync.Mutex
	synced bool
}

// NewWatcher prepares informers on client; Run starts them.
func NewWatcher(client kubernetes.Interface, opts WatchOptions) (*Watcher, error) {
	sel, api, err := opts.Selection.parse()
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, opts.Resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
	w := &Watcher{factory: factory, api: api, opts: opts}
	w.services = factory.Core().V1().Services().Informer()
	switch api {
	case Endpoints:
		w.eps = factory.Core().V1().Endpoints().Informer()
	case EndpointSlices:
		w.eps = factory.Discovery().V1().EndpointSlices().Informer()
	}
	if opts.Selection.Nodes {
		// Nodes are not label-selected: a factory of their own, without the tweak.
		w.nodeFactory = informers.NewSharedInformerFactory(client, opts.Resync)
		w.nodes = w.nodeFactory.Core().V1().Nodes().Informer()
	}
	for name, inf := range w.informers() {
		if err := w.setUp(name, inf); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// informers returns the informers in use by resource name.
func (w *Watcher) informers() map[string]cache.SharedIndexInformer {
	m := map[string]cache.SharedIndexInformer{"services": w.services}
	if w.eps != nil {
		m[string(w.api)] = w.eps
	}
	if w.nodes != nil {
		m["nodes"] = w.nodes
	}
	return m
}

func (w *Watcher) setUp(resource string, inf cache.SharedIndexInformer) error {
	if err := inf.SetTransform(stripTransform); err != nil {
		return fmt.Errorf("%s informer: %w", resource, err)
	}
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if w.opts.OnWatchError != nil {
			w.opts.OnWatchError(resource, err)
		}
	}); err != nil {
		return fmt.Errorf("%s informer: %w", resource, err)
	}
	notify := func(event string) {
		if w.opts.OnEvent != nil {
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

// stripTransform drops managedFields and last-applied annotations before
// objects enter the cache: ssm never reads them and they dominate memory.
func stripTransform(obj any) (any, error) {
	if m, err := metaOf(obj); err == nil {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			if _, ok := a[lastApplied]; ok {
				delete(a, lastApplied)
				m.SetAnnotations(a)
			}
		}
	}
	return obj, nil
}

func metaOf(obj any) (metav1.Object, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}

// Run starts the informers and blocks until ctx is done. It returns an error
// only when the caches could not sync before ctx ended.
func (w *Watcher) Run(ctx context.Context) error {
	w.factory.Start(ctx.Done())
	defer w.factory.Shutdown()
	if w.nodeFactory != nil {
		w.nodeFactory.Start(ctx.Done())
		defer w.nodeFactory.Shutdown()
	}
	var synced []cache.InformerSynced
	for _, inf := range w.informers() {
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("caches did not sync: %w", context.Cause(ctx))
	}
	w.mu.Lock()
	w.synced = true
	w.mu.Unlock()
	var counts []any
	for name, inf := range w.informers() {
		counts = append(counts, name, len(inf.GetStore().ListKeys()))
	}
	w.opts.Logger.Info("caches synced", counts...)
	if w.opts.OnEvent != nil {
		w.opts.OnEvent("services", "synced")
	}
	<-ctx.Done()
	return nil
}

// Synced reports whether every cache has synced once: before that, State
// would be partial and must not be rendered.
func (w *Watcher) Synced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.synced
}

// State returns the cached objects. They are shared with the cache and must
// not be modified.
func (w *Watcher) State() State {
	var st State
	for _, o := range w.services.GetStore().List() {
		st.Services = append(st.Services, o.(*corev1.Service))
	}
	if w.eps != nil {
		for _, o := range w.eps.GetStore().List() {
			switch e := o.(type) {
			case *corev1.Endpoints:
				st.Endpoints = append(st.Endpoints, e)
			case *discoveryv1.EndpointSlice:
				st.EndpointSlices = append(st.EndpointSlices, e)
			}
		}
	}
	if w.nodes != nil {
		for _, o := range w.nodes.GetStore().List() {
			st.Nodes = append(st.Nodes, o.(*corev1.Node))
		}
	}
	return st
}
