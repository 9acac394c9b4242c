// Package mirror runs ssm's one pipeline: read the clusters of a
// config.Config (source), render them (generate), and write the result to
// a Sink (a fileset sink, or a git branch through gitsync). RunOnce does it
// once, as `ssm render` does; Run keeps informers on every cluster and
// calls the same rendering after every batch of changes, as `ssm run`
// does. Watch events only schedule work. What is reported goes to an
// Observer, so that this package knows nothing of Prometheus or HTTP. It
// imports config, source, generate, fileset and gitsync of this module, and
// the leaf internal/field, whose errors name the option at fault.
package mirror

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

// Sink is where renders are written: a directory (fileset.DirSink) or a
// git branch (GitSink), or, for render, stdout or a drift check
// (fileset.StreamSink, fileset.CheckSink).
type Sink interface {
	// Sync makes the sink hold what plan returns. plan is given what the
	// sink stores now; it may be called more than once (a git sink calls it
	// again on a branch that moved).
	Sync(ctx context.Context, plan fileset.Plan) (fileset.Result, error)
}

// Observer is told what happens, for metrics and health. Its methods must
// not block. Embed NopObserver to implement only some.
type Observer interface {
	// RemoteUp reports that a cluster's API answered, or stopped answering.
	RemoteUp(cluster string, up bool)
	// WatchEvent reports an informer event (add, update, delete, resync).
	WatchEvent(cluster, resource, event string)
	// WatchError reports a failed list or watch; the cache keeps its state.
	WatchError(cluster, resource string, err error)
	// CachesSynced reports that every cluster's caches have synced once.
	CachesSynced()
	// Rendered reports a render and how long it took.
	Rendered(res generate.Result, took time.Duration)
	// Synced reports a write to the sink (err nil: it succeeded).
	Synced(res fileset.Result, err error, took time.Duration)
	// Removals reports what the removal guard decided, per cluster that a
	// render would remove mirrors of (none: nothing is removed).
	Removals(decisions []Removal)
	// Behind reports a render not written because this replica's state of
	// the clusters named is older than the one stored.
	Behind(clusters []string)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) RemoteUp(string, bool)                       {}
func (NopObserver) WatchEvent(string, string, string)           {}
func (NopObserver) WatchError(string, string, error)            {}
func (NopObserver) CachesSynced()                               {}
func (NopObserver) Rendered(generate.Result, time.Duration)     {}
func (NopObserver) Synced(fileset.Result, error, time.Duration) {}
func (NopObserver) Removals([]Removal)                          {}
func (NopObserver) Behind([]string)                             {}

// Options are what RunOnce and Run need besides the configuration.
type Options struct {
	Logger   *slog.Logger // nil discards
	Observer Observer     // nil: NopObserver
	// Stdin is read by a cluster whose FromFile is "-".
	Stdin io.Reader
	// Connect returns a client of a cluster; nil connects as the cluster's
	// Conn says (source.RESTConfig). Tests pass fake clientsets.
	Connect func(ctx context.Context, c config.Cluster) (source.Client, error)
	// Progress shows RunOnce's phases while they run, to a person at a
	// terminal; nil shows nothing.
	Progress Progress

	// Run only.
	Timing Timing
	// Approvals receives the removals Run holds and gives the ones an
	// operator approved; nil holds them until the limit is raised.
	Approvals *Approvals
	// HowToApprove returns the attributes the log line of a held removal
	// adds to say how an operator approves it (the command); nil adds none.
	HowToApprove func(cluster, digest string) []any
	// Resync re-renders from the caches this often, even without events,
	// for clusters that set no resync period of their own; 0: never.
	Resync time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	if o.Progress == nil {
		o.Progress = noProgress{}
	}
	return o
}
