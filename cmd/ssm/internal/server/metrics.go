package server

import (
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/mirror"
)

// Metrics are ssm run's Prometheus metrics, on a registry of their own.
type Metrics struct {
	reg           *prometheus.Registry
	own           []prometheus.Collector // ssm's own metrics, as docs/metrics.md lists them
	renderSeconds prometheus.Histogram
	syncSeconds   prometheus.Histogram
	lastSuccess   prometheus.Gauge
	objects       *prometheus.GaugeVec
	skipped       *prometheus.GaugeVec
	dropped       *prometheus.GaugeVec
	warnings      *prometheus.GaugeVec
	commits       prometheus.Counter
	syncFailures  prometheus.Counter
	pushRetries   prometheus.Counter
	watchEvents   *prometheus.CounterVec
	watchErrors   *prometheus.CounterVec
	remoteUp      *prometheus.GaugeVec
	heldRemovals  *prometheus.GaugeVec
	removals      *prometheus.CounterVec
	behind        *prometheus.CounterVec
}

// NewMetrics returns the metrics of a binary of the version and commit
// given, for build_info.
func NewMetrics(version, commit string) *Metrics {
	f := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "ssm", Name: name, Help: help}
	}
	buckets := prometheus.ExponentialBuckets(0.005, 2, 14) // 5ms to 40s
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		renderSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ssm", Name: "render_duration_seconds",
			Help: "Time to render the manifests from the cached remote state.", Buckets: buckets}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ssm", Name: "sync_duration_seconds",
			Help: "Time to write the rendered files to the sink (git: fetch, commit and push).", Buckets: buckets}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts(f("last_successful_sync_timestamp_seconds", "Unix time of the last sync that succeeded, with or without a change."))),
		objects:     prometheus.NewGaugeVec(prometheus.GaugeOpts(f("mirrored_objects", "Objects in the last render, by cluster (global: global Services) and kind.")), []string{"cluster", "kind"}),
		skipped:     prometheus.NewGaugeVec(prometheus.GaugeOpts(f("skipped_services", "Remote Services not mirrored in the last render, by cluster and reason.")), []string{"cluster", "reason"}),
		dropped: prometheus.NewGaugeVec(prometheus.GaugeOpts(f("dropped_addresses", "Endpoint and node addresses of the cluster left out of the last render by the address policy, by why: Loopback, Unspecified, LinkLocal, Multicast, Broadcast, IPv4Mapped, Denied or Invalid.")),
			[]string{"cluster", "reason"}),
		warnings: prometheus.NewGaugeVec(prometheus.GaugeOpts(f("service_warnings", "Caveats of the remote Services rendered in the last render, by cluster and reason: a port, type or session affinity a cluster's export disagrees on with an older export of the Service (the oldest wins), and the like.")),
			[]string{"cluster", "reason"}),
		commits:      prometheus.NewCounter(prometheus.CounterOpts(f("commits_total", "Syncs that changed the sink: git commits pushed, or directory updates."))),
		syncFailures: prometheus.NewCounter(prometheus.CounterOpts(f("sync_failures_total", "Syncs that failed and will be retried."))),
		pushRetries:  prometheus.NewCounter(prometheus.CounterOpts(f("push_retries_total", "Git pushes retried because the branch moved."))),
		watchEvents:  prometheus.NewCounterVec(prometheus.CounterOpts(f("watch_events_total", "Events from the clusters' informers.")), []string{"cluster", "resource", "event"}),
		watchErrors:  prometheus.NewCounterVec(prometheus.CounterOpts(f("watch_errors_total", "Requests to a cluster that failed (connection failures included) and lists or watches that failed; the cache keeps its last state.")), []string{"cluster", "resource"}),
		remoteUp:     prometheus.NewGaugeVec(prometheus.GaugeOpts(f("remote_up", "1 when the last request to the cluster's API got an answer, 0 when it failed.")), []string{"cluster"}),
		heldRemovals: prometheus.NewGaugeVec(prometheus.GaugeOpts(f("held_removals", "Mirrors of the cluster that the last render would remove but --max-removals holds; see GET /removals on --admin-address.")), []string{"cluster"}),
		removals: prometheus.NewCounterVec(prometheus.CounterOpts(f("removal_decisions_total", "Decisions of the removal guard on renders that remove mirrors of a cluster, by verdict: allowed, approved or held.")),
			[]string{"cluster", "verdict"}),
		behind: prometheus.NewCounterVec(prometheus.CounterOpts(f("renders_behind_total", "Renders not written because this replica's state of the cluster is older than the stored one.")), []string{"cluster"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts(f("build_info", "1, labelled with the version, commit and Go version of the binary.")),
		[]string{"version", "commit", "goversion"})
	build.WithLabelValues(version, commit, runtime.Version()).Set(1)
	m.own = []prometheus.Collector{build, m.renderSeconds, m.syncSeconds, m.lastSuccess, m.objects, m.skipped, m.dropped, m.warnings, m.commits, m.syncFailures,
		m.pushRetries, m.watchEvents, m.watchErrors, m.remoteUp, m.heldRemovals, m.removals, m.behind}
	m.reg.MustRegister(m.own...)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observer turns what mirror.Run reports into m and h.
func Observer(m *Metrics, h *Health) mirror.Observer { return &observer{m: m, h: h} }

// observer implements every method of mirror.Observer itself, so that a
// new one cannot go unnoticed.
type observer struct {
	m *Metrics
	h *Health
}

func (o *observer) RemoteUp(cluster string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	o.m.remoteUp.WithLabelValues(cluster).Set(v)
}

func (o *observer) WatchEvent(cluster, resource, event string) {
	o.m.watchEvents.WithLabelValues(cluster, resource, event).Inc()
}

func (o *observer) WatchError(cluster, resource string, err error) {
	o.m.watchErrors.WithLabelValues(cluster, resource).Inc()
	o.h.watchFailed(cluster, resource, err)
}

func (o *observer) Removals(decisions []mirror.Removal) {
	o.m.heldRemovals.Reset()
	for _, d := range decisions {
		o.m.removals.WithLabelValues(d.Cluster, d.Verdict).Inc()
		if d.Verdict == mirror.HeldBack {
			o.m.heldRemovals.WithLabelValues(d.Cluster).Set(float64(len(d.Files)))
		}
	}
}

func (o *observer) Behind(clusters []string) {
	for _, c := range clusters {
		name, _, _ := strings.Cut(c, " ")
		o.m.behind.WithLabelValues(name).Inc()
	}
}

func (o *observer) CachesSynced() { o.h.setSynced() }

func (o *observer) Rendered(res generate.Result, took time.Duration) {
	o.m.renderSeconds.Observe(took.Seconds())
	o.m.objects.Reset()
	for cluster, kinds := range res.ClusterObjects {
		for kind, n := range kinds {
			o.m.objects.WithLabelValues(cluster, kind).Set(float64(n))
		}
	}
	o.m.skipped.Reset()
	for _, s := range res.Skipped {
		o.m.skipped.WithLabelValues(s.Cluster, s.Reason).Inc()
	}
	o.m.dropped.Reset()
	for _, w := range res.Warnings {
		for why, n := range w.Dropped {
			o.m.dropped.WithLabelValues(w.Cluster, why).Add(float64(n))
		}
	}
	o.m.warnings.Reset()
	for _, w := range res.Warnings {
		o.m.warnings.WithLabelValues(w.Cluster, w.Reason).Inc()
	}
}

func (o *observer) Synced(r fileset.Result, err error, took time.Duration) {
	o.m.syncSeconds.Observe(took.Seconds())
	o.m.pushRetries.Add(float64(r.Retries))
	if err != nil {
		o.m.syncFailures.Inc()
		o.h.record(err)
		return
	}
	o.h.record(nil)
	o.m.lastSuccess.SetToCurrentTime()
	if r.Changed {
		o.m.commits.Inc()
	}
}
