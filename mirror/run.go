package mirror

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/redact"
	"github.com/ssm-dev/ssm/source"
)

// Run watches every cluster of cfg and, after every batch of changes,
// renders what the caches hold and writes it to sink, as RunOnce does:
// what `ssm run` does. A cluster that is down keeps the state it last
// showed; one not read since the start keeps its stored files while the
// others render (Tree); a Flat config renders once every cache has
// synced. A failed write is retried with backoff. Run returns nil when ctx
// ends, after its informers stopped; an error only when it cannot start.
func Run(ctx context.Context, cfg config.Config, sink Sink, opts Options) error {
	opts = opts.withDefaults()
	if err := opts.Timing.Validate(); err != nil {
		return err
	}
	k := newKicker()
	opts.Approvals.onApprove(k.kick)
	clusters, err := watchAll(ctx, cfg, opts, k)
	if err != nil {
		return err
	}
	p := &pipeline{cfg: cfg, clusters: clusters, sink: sink, opts: opts}
	describe := cfg.Remotes()
	if cfg.Layout == config.Flat {
		describe = cfg.Clusters[0].Conn.Describe()
	}
	if cfg.Shard.Count > 1 {
		describe = strings.Join(shardNames(cfg, true), ", ")
		opts.Logger.Info("sharded: this replica renders its share of the remotes and keeps the others' files as stored",
			"shard", cfg.Shard.Index, "shards", cfg.Shard.Count, "renders", shardNames(cfg, true), "keeps", shardNames(cfg, false))
	}
	opts.Logger.Info("watching", "clusters", describe)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, c := range clusters {
		if c.w == nil { // another shard's
			continue
		}
		wg.Go(func() {
			if err := c.w.Run(ctx); err != nil && ctx.Err() == nil {
				opts.Logger.Error("watch stopped", "cluster", c.cfg.Name, "err", err)
			}
		})
	}
	loop(ctx, k, opts.Timing, opts.Logger, p.sync)
	opts.Logger.Info("shutting down")
	return nil
}

// watched is one cluster as Run watches it: one Watcher over every
// selection read of it, in the order of its Reads; nil for another
// shard's cluster, which this replica never reads.
type watched struct {
	cfg     config.Cluster
	w       *source.Watcher
	client  source.Client
	checked bool // warnNoMatch has looked at its first state
}

func (w *watched) state() (clusterState, source.Revisions) {
	states, revs := w.w.Snapshot()
	st := clusterState{}
	for i, rd := range w.cfg.Reads {
		st[rd.Role] = states[i]
	}
	return st, revs
}

// watchAll builds the client and the watcher of every cluster, reporting
// to one kicker and the observer.
func watchAll(ctx context.Context, cfg config.Config, opts Options, k kicker) ([]*watched, error) {
	var out []*watched
	for _, c := range cfg.Clusters {
		if c.FromFile != "" {
			return nil, fmt.Errorf("cluster %s: fromFile is for ssm render: run watches the cluster", c.Name)
		}
		w := &watched{cfg: c}
		if !cfg.Owns(c) { // another shard's: never read
			out = append(out, w)
			continue
		}
		// The watcher exists before Run starts it, and so before any request.
		client, err := opts.watchClient(ctx, c, func(up bool) { w.w.Reachable(up) })
		if err != nil {
			if c.Hint != "" {
				err = fmt.Errorf("%w (%s)", err, c.Hint)
			}
			return nil, err
		}
		w.client = client
		if w.w, err = source.NewWatcher(client, watchOptions(c, opts, k)); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		out = append(out, w)
	}
	return out, nil
}

func watchOptions(c config.Cluster, opts Options, k kicker) source.WatchOptions {
	logger := opts.Logger.With("cluster", c.Name)
	wo := source.WatchOptions{
		Resync: cmp.Or(c.Resync, opts.Resync), Timeout: c.Conn.Timeout, Logger: logger,
		OnEvent: func(resource, event string) {
			opts.Observer.WatchEvent(c.Name, resource, event)
			k.kick()
		},
		OnWatchError: func(resource string, err error) {
			err = redact.Error(err)
			if !transportError(err) {
				opts.Observer.WatchError(c.Name, resource, err)
			}
			logger.Warn("watch failed; keeping the last state and retrying", "resource", resource, "err", err)
		},
	}
	for _, rd := range c.Reads {
		wo.Selections = append(wo.Selections, rd.Selection)
	}
	return wo
}

// pipeline renders the watched state and writes it: what RunOnce does
// once, Run does after every batch of changes. Only the loop calls sync.
type pipeline struct {
	cfg      config.Config
	clusters []*watched
	sink     Sink
	opts     Options

	allSynced   bool              // every cache has synced once, and the observer knows
	rendered    bool              // the first render was logged at info
	lastKept    string            // the kept directories last logged
	lastSkipped string            // the skipped Services last logged
	lastBehind  string            // why a render was last not written
	caches      []*generate.Cache // by cluster, across renders
	lastHeld    []string          // the held removals last logged, cluster@digest
}

func (p *pipeline) sync(ctx context.Context) error {
	in, ok := p.snapshot()
	if !ok {
		return nil
	}
	p.warnNoMatch(ctx, in)
	start := time.Now()
	// The first sync's phases at info, as render logs them; later ones
	// would flood the log.
	level := slog.LevelDebug
	if !p.rendered {
		level = slog.LevelInfo
	}
	var res generate.Result
	var rendering time.Duration
	var decisions []Removal
	r, err := p.sink.Sync(ctx, func(stored fileset.Stored) (fileset.Write, error) {
		t := time.Now()
		var err error
		if res, err = in.render(stored); err != nil {
			return fileset.Write{}, err
		}
		rendering = time.Since(t)
		p.opts.Observer.Rendered(res, rendering)
		p.rendered = true
		p.opts.Logger.Log(ctx, level, "rendered", "mirrors", len(res.Mirrors), "skipped", len(res.Skipped), "files", len(res.Files), "took", rendering)
		p.logSkipped(res)
		var w fileset.Write
		w, decisions, err = p.plan(ctx, in, res, stored)
		return w, err
	})
	writing := time.Since(start) - rendering
	p.opts.Observer.Synced(r, err, writing)
	p.opts.Observer.Removals(decisions)
	p.opts.Approvals.record(decisions, err == nil)
	p.logRemovals(decisions, err == nil)
	switch {
	case err != nil:
		return err
	case !r.Changed:
		p.opts.Logger.Log(ctx, level, "no change", "mirrors", len(res.Mirrors), "took", writing)
	default:
		p.opts.Logger.Info("synced", "commit", r.Commit, "mirrors", len(res.Mirrors),
			"added", r.Added, "updated", r.Updated, "removed", r.Removed, "took", writing)
	}
	return nil
}

// plan decides what a render writes over what is stored: nothing when
// this replica's state is older than the stored one; the removals the
// guard allows; and, with any change, what it was rendered from.
func (p *pipeline) plan(ctx context.Context, in input, res generate.Result, stored fileset.Stored) (fileset.Write, []Removal, error) {
	sf := stored.Files()
	keep := fileset.Write{Files: sf, Subject: subject(p.cfg)}
	storedRevs := parseRevisions(sf[RevisionsFile])
	if behind := p.behind(ctx, in, storedRevs); len(behind) > 0 {
		p.opts.Observer.Behind(behind)
		if key := strings.Join(behind, "; "); key != p.lastBehind {
			p.opts.Logger.Info("not written: the stored mirrors were rendered from a newer state; waiting for this replica's caches", "behind", behind)
			p.lastBehind = key
		}
		return keep, nil, nil
	}
	p.lastBehind = ""
	in, files, decisions, err := guardRender(in, guardInput{stored: sf, files: res.Files, tree: p.cfg.Layout == config.Tree, names: p.clusterOf,
		limit: p.cfg.MaxRemovals, approved: p.opts.Approvals.isApproved, mirrorOf: guardMirrorOf(p.cfg)}, stored)
	if err != nil {
		return fileset.Write{}, nil, err
	}
	if sameFiles(files, sf, RevisionsFile) {
		return keep, decisions, nil
	}
	p.warnUnheadless(sf, files)
	trailers := withRevisions(files, in, storedRevs)
	return fileset.Write{Files: files, Subject: subject(p.cfg), Trailers: trailers}, decisions, nil
}

// warnUnheadless warns about mirrors that stop being headless: the API
// server keeps an existing Service's clusterIP None when an apply leaves
// it out, without an error, so no GitOps agent converges them by itself
// (docs/flux.md).
func (p *pipeline) warnUnheadless(stored, files fileset.Files) {
	headless := func(b []byte) bool {
		first, _, _ := bytes.Cut(b, []byte("\n---\n"))
		return bytes.HasPrefix(first, []byte("apiVersion: v1\nkind: Service\n")) && bytes.Contains(first, []byte("\n  clusterIP: None\n"))
	}
	for path, b := range files {
		old, ok := stored[path]
		if !ok || sameBytes(old, b) { // unchanged: most files, shared with the render cache
			continue
		}
		if headless(old) && !headless(b) && bytes.Contains(b, []byte("kind: Service\n")) {
			p.opts.Logger.Warn("a mirror stops being headless: Kubernetes keeps an existing Service headless when it is applied; "+
				"delete the mirror in the local cluster to have it created anew (docs/flux.md)", "file", path)
		}
	}
}

// sameBytes reports whether a and b hold the same bytes, at the cost of a
// pointer comparison when they are one slice.
func sameBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0] || bytes.Equal(a, b)
}

// clusterOf names the cluster of a generate.MirrorOf group.
func (p *pipeline) clusterOf(group string) string { return clusterOf(p.cfg, group) }

// clusterOf names the cluster a generate.MirrorOf group belongs to.
func clusterOf(cfg config.Config, group string) string {
	switch {
	case cfg.Layout == config.Flat:
		return cfg.Clusters[0].Name
	case group == "":
		return "(top level)" // mirrors of a flat output the tree replaces
	}
	return group
}

// logRemovals logs the guard's decisions: every removal let through, and
// each held set once, until it changes.
func (p *pipeline) logRemovals(decisions []Removal, written bool) {
	var held []string
	for _, d := range decisions {
		switch d.Verdict {
		case HeldBack:
			held = append(held, d.Cluster+"@"+d.Digest)
			if !slices.Contains(p.lastHeld, d.Cluster+"@"+d.Digest) {
				attrs := []any{"cluster", d.Cluster, "remove", len(d.Files), "stored", d.Stored, "allowed", d.Allowed, "digest", d.Digest, "files", d.Files}
				if p.opts.HowToApprove != nil {
					attrs = append(attrs, p.opts.HowToApprove(d.Cluster, d.Digest)...)
				}
				p.opts.Logger.Warn("removals held: more of the cluster's mirrors would go at once than --max-removals allows; the mirrors stay as stored "+
					"until the remote shows them again, the limit is raised, or an operator approves: where 127.0.0.1 reaches ssm's admin port "+
					"(kubectl port-forward to its pod), run the command in approve (docs/safety.md)", attrs...)
			}
		case Allowed, Approved:
			if written {
				p.opts.Logger.Info("removing mirrors", "cluster", d.Cluster, "verdict", d.Verdict, "remove", len(d.Files), "stored", d.Stored, "files", d.Files)
			}
		}
	}
	p.lastHeld = held
}

// sameFiles reports whether a and b hold the same files, but for except.
func sameFiles(a, b fileset.Files, except string) bool {
	n := len(a)
	if _, ok := a[except]; ok {
		n--
	}
	if _, ok := b[except]; ok {
		n++
	}
	if n != len(b) {
		return false
	}
	for p, x := range a {
		if y, ok := b[p]; p != except && (!ok || !sameBytes(x, y)) {
			return false
		}
	}
	return true
}

// snapshot takes the state of every cluster whose caches have synced. ok
// is false while nothing can be rendered: no cluster has synced (Tree), or
// not every one (Flat, where a partial cache would look like deletions).
func (p *pipeline) snapshot() (in input, ok bool) {
	if p.caches == nil {
		p.caches = make([]*generate.Cache, len(p.clusters))
		for i := range p.caches {
			p.caches[i] = &generate.Cache{}
		}
	}
	in = input{cfg: p.cfg, states: make([]clusterState, len(p.clusters)), revisions: make([]source.Revisions, len(p.clusters)), caches: p.caches}
	some, all := false, true
	for i, w := range p.clusters {
		if w.w == nil { // another shard's: its stored files stand for it
			continue
		}
		if w.w.Synced() {
			in.states[i], in.revisions[i] = w.state()
			some = true
		} else {
			all = false
		}
	}
	if all && !p.allSynced {
		p.allSynced = true
		p.opts.Observer.CachesSynced()
	}
	if p.cfg.Layout == config.Flat {
		return in, all
	}
	if k := in.kept(); strings.Join(k, " ") != p.lastKept {
		p.opts.Logger.Info("clusters not read yet keep their stored files", "kept", k)
		p.lastKept = strings.Join(k, " ")
	}
	return in, some
}

// logSkipped logs the Services left out when that set changed, not on
// every render.
func (p *pipeline) logSkipped(res generate.Result) {
	var key strings.Builder
	for _, s := range append(res.Skipped, res.Warnings...) {
		key.WriteString(s.Cluster + "/" + s.Service + "|" + s.Reason + ";")
	}
	if key.String() != p.lastSkipped {
		LogSkipped(p.opts.Logger, res)
		p.lastSkipped = key.String()
	}
}

// LogSkipped logs what a render left out: errors for Services whose mirror
// could not be named, warnings for the rest.
func LogSkipped(logger *slog.Logger, res generate.Result) {
	invalid := map[string]bool{}
	for _, s := range res.Invalid() {
		invalid[s.Cluster+"/"+s.Service+s.Reason] = true
	}
	for _, s := range res.Skipped {
		level := slog.LevelWarn
		if invalid[s.Cluster+"/"+s.Service+s.Reason] {
			level = slog.LevelError
		}
		logger.Log(context.Background(), level, "Service not mirrored", "cluster", s.Cluster, "service", s.Service,
			"mirror", s.Mirror, "reason", s.Reason, "detail", s.Message)
	}
	for _, w := range res.Warnings {
		logger.Warn("Service mirrored in part", "cluster", w.Cluster, "service", w.Service, "reason", w.Reason, "detail", w.Message)
	}
}

// shardNames names the remotes this replica renders (owned) or keeps.
func shardNames(cfg config.Config, owned bool) []string {
	var out []string
	for _, c := range cfg.Clusters {
		if !c.Local && cfg.Owns(c) == owned {
			out = append(out, c.Name)
		}
	}
	return out
}
