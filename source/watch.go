package source

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WatchOptions configures a Watcher.
type WatchOptions struct {
	// Selections are what is read of the cluster, each into a State of its
	// own (States returns them in this order). At least one.
	Selections []Selection
	// Resync re-delivers every cached object this often, so the consumer
	// re-renders from the cache; 0 disables it.
	Resync time.Duration
	// Timeout bounds each list request (watches last as long as the server
	// keeps them); 0 means none.
	Timeout time.Duration
	// OnEvent is called for every add, update, delete and resync, with the
	// resource ("services", "endpoints", "endpointslices", "nodes") and the
	// event, and with "synced" once the caches hold a complete state (at
	// start, and again after an outage). It must not block: it only
	// schedules work.
	OnEvent func(resource, event string)
	// OnWatchError is called when a list or watch fails; the cache keeps its
	// last state and the watcher retries. It must not block.
	OnWatchError func(resource string, err error)
	// ProbeEvery is how often an unreachable cluster is asked whether it is
	// back; 1s when zero.
	ProbeEvery time.Duration
	Logger     *slog.Logger
}

// Watcher keeps the selected objects of one cluster in informer caches.
// While the cluster is unreachable, State keeps returning the last state
// it showed, so an outage never looks like deletions. When the cluster
// answers again, every resource is listed anew at once, and the new state
// replaces the old only when all of them have caught up, so a render never
// mixes a fresh list of one resource with a stale one of another.
type Watcher struct {
	client Client
	opts   WatchOptions
	reach  chan bool // reachability reports, latest wins

	mu      sync.Mutex
	current *generation // whose caches State reads; nil before the first sync
	frozen  *frozenState
	synced  bool
}

// frozenState is what the caches held when the cluster stopped answering.
type frozenState struct {
	states    []State
	revisions Revisions
}

// NewWatcher prepares informers on client; Run starts them.
func NewWatcher(client Client, opts WatchOptions) (*Watcher, error) {
	if len(opts.Selections) == 0 {
		return nil, errors.New("watch: no selection")
	}
	for _, s := range opts.Selections {
		if err := s.Validate(); err != nil {
			return nil, err
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ProbeEvery <= 0 {
		opts.ProbeEvery = time.Second
	}
	return &Watcher{client: client, opts: opts, reach: make(chan bool, 1)}, nil
}

// Reachable tells the watcher whether the cluster's API answered the last
// request (see Reachability). It must not block, and does not.
func (w *Watcher) Reachable(up bool) {
	for {
		select {
		case w.reach <- up:
			return
		default:
		}
		select { // drop a report not read yet: only the latest counts
		case <-w.reach:
		default:
		}
	}
}

// Run starts the informers and keeps them current until ctx is done; it
// returns nil then, after every informer stopped (every goroutine it
// starts is waited for). While the cluster does
// not answer it is probed every ProbeEvery; when it answers again, a new
// generation of informers lists everything and takes over once synced.
func (w *Watcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pending, err := w.startGeneration(ctx, &wg)
	if err != nil {
		return err
	}
	down := false
	probe := time.NewTicker(w.opts.ProbeEvery)
	defer probe.Stop()
	probing := make(chan struct{}, 1)
	for {
		var synced <-chan struct{}
		if pending != nil {
			synced = pending.synced
		}
		select {
		case <-ctx.Done():
			return nil
		case <-synced:
			w.promote(pending)
			pending = nil
		case up := <-w.reach:
			switch {
			case !up && !down:
				down = true
				w.freeze()
				if pending != nil { // listing failed midway: start over once back
					pending.stop()
					pending = nil
				}
			case up && down:
				down = false
				if pending == nil {
					if pending, err = w.startGeneration(ctx, &wg); err != nil {
						return err
					}
				}
			}
		case <-probe.C:
			if down && len(probing) == 0 {
				probing <- struct{}{}
				wg.Go(func() { w.probe(ctx); <-probing })
			}
		}
	}
}

// startGeneration builds and starts a new generation of informers; it
// becomes current when its caches have synced (Run promotes it).
func (w *Watcher) startGeneration(ctx context.Context, wg *sync.WaitGroup) (*generation, error) {
	g, err := w.newGeneration()
	if err != nil {
		return nil, err
	}
	w.opts.Logger.Info("listing", "resources", resourceNames(g))
	g.start(ctx, wg)
	return g, nil
}

// promote makes g, whose caches have synced, the one State reads, and
// stops the generation it replaces.
func (w *Watcher) promote(g *generation) {
	w.mu.Lock()
	old, again := w.current, w.synced
	w.current, w.frozen, w.synced, g.active = g, nil, true, true
	if old != nil {
		old.active = false
	}
	w.mu.Unlock()
	old.stop()
	msg := "caches synced"
	if again {
		msg = "caches synced again; the state is current"
	}
	w.opts.Logger.Info(msg, append([]any{"took", time.Since(g.started).Round(time.Millisecond)}, g.counts()...)...)
	if w.opts.OnEvent != nil {
		w.opts.OnEvent("services", "synced")
	}
}

// freeze keeps what the current caches hold as the state, until a new
// generation has synced: nothing the old informers list when the cluster
// comes back is seen piecemeal.
func (w *Watcher) freeze() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.current == nil || w.frozen != nil {
		return
	}
	rv := w.current.revisions()
	w.frozen = &frozenState{states: w.current.states(), revisions: rv}
	w.current.active = false
	w.current.stop()
}

// probe asks the cluster whether it answers again, with one small list.
func (w *Watcher) probe(ctx context.Context) {
	if w.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.opts.Timeout)
		defer cancel()
	}
	// Where the first selection reads Services: a Role may allow no more.
	_, err := w.client.List(ctx, ServicesResource, w.opts.Selections[0].Namespace, metav1.ListOptions{Limit: 1})
	if err == nil {
		w.Reachable(true)
	}
}

func resourceNames(g *generation) []string {
	var out []string
	for _, infs := range g.informers {
		for _, inf := range infs {
			out = append(out, inf.resource)
		}
	}
	return out
}

// Synced reports whether every cache has synced once: before that, State
// would be partial and must not be rendered.
func (w *Watcher) Synced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.synced
}

// Snapshot returns the cached objects of each selection, in the order of
// WatchOptions.Selections, and, per resource, the resource version that
// state is at least as new as. The objects are shared with the cache and
// must not be modified.
func (w *Watcher) Snapshot() ([]State, Revisions) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.frozen != nil:
		return w.frozen.states, w.frozen.revisions
	case w.current != nil:
		rv := w.current.revisions() // first: the state read after is at least as new
		return w.current.states(), rv
	}
	return make([]State, len(w.opts.Selections)), nil
}

// CurrentRevisions asks the cluster for the newest resource version of
// every resource the watcher reads, with a list of one object each.
func (w *Watcher) CurrentRevisions(ctx context.Context) (Revisions, error) {
	out := Revisions{}
	for _, s := range w.opts.Selections {
		rs, _, err := s.resources()
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if _, done := out[r.name]; done {
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, max(w.opts.Timeout, 5*time.Second))
			obj, err := w.client.List(lctx, r.name, r.namespaceOf(s), metav1.ListOptions{Limit: 1})
			cancel()
			if err != nil {
				return nil, err
			}
			if l, ok := obj.(metav1.ListInterface); ok {
				out[r.name] = l.GetResourceVersion()
			}
		}
	}
	return out, nil
}

// stripTransform strips objects (see strip) before they enter an
// informer's cache, where what rendering never reads would dominate
// memory.
func stripTransform(obj any) (any, error) { return strip(obj), nil }
