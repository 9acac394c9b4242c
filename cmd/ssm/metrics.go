package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/gitsync"
	"github.com/ssm-dev/ssm/mirror"
)

// metrics are ssm run's Prometheus metrics, on a registry of their own.
type metrics struct {
	reg           *prometheus.Registry
	renderSeconds prometheus.Histogram
	syncSeconds   prometheus.Histogram
	lastSuccess   prometheus.Gauge
	objects       *prometheus.GaugeVec
	skipped       *prometheus.GaugeVec
	commits       prometheus.Counter
	syncFailures  prometheus.Counter
	pushRetries   prometheus.Counter
	watchEvents   *prometheus.CounterVec
	watchErrors   *prometheus.CounterVec
	remoteUp      *prometheus.GaugeVec
}

func newMetrics() *metrics {
	f := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "ssm", Name: name, Help: help}
	}
	buckets := prometheus.ExponentialBuckets(0.005, 2, 14) // 5ms to 40s
	m := &metrics{
		reg: prometheus.NewRegistry(),
		renderSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ssm", Name: "render_duration_seconds",
			Help: "Time to render the manifests from the cached remote state.", Buckets: buckets}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ssm", Name: "sync_duration_seconds",
			Help: "Time to write the rendered files to the sink (git: fetch, commit and push).", Buckets: buckets}),
		lastSuccess:  prometheus.NewGauge(prometheus.GaugeOpts(f("last_successful_sync_timestamp_seconds", "Unix time of the last sync that succeeded, with or without a change."))),
		objects:      prometheus.NewGaugeVec(prometheus.GaugeOpts(f("mirrored_objects", "Objects in the last render, by kind.")), []string{"kind"}),
		skipped:      prometheus.NewGaugeVec(prometheus.GaugeOpts(f("skipped_services", "Remote Services not mirrored in the last render, by reason.")), []string{"reason"}),
		commits:      prometheus.NewCounter(prometheus.CounterOpts(f("commits_total", "Syncs that changed the sink: git commits pushed, or directory updates."))),
		syncFailures: prometheus.NewCounter(prometheus.CounterOpts(f("sync_failures_total", "Syncs that failed and will be retried."))),
		pushRetries:  prometheus.NewCounter(prometheus.CounterOpts(f("push_retries_total", "Git pushes retried because the branch moved."))),
		watchEvents:  prometheus.NewCounterVec(prometheus.CounterOpts(f("watch_events_total", "Events from the remote informers.")), []string{"resource", "event"}),
		watchErrors:  prometheus.NewCounterVec(prometheus.CounterOpts(f("watch_errors_total", "Failed lists or watches of the remote; the cache keeps its last state.")), []string{"resource"}),
		remoteUp:     prometheus.NewGaugeVec(prometheus.GaugeOpts(f("remote_up", "1 when the last request to the cluster's API got an answer, 0 when it failed.")), []string{"cluster"}),
	}
	m.reg.MustRegister(m.renderSeconds, m.syncSeconds, m.lastSuccess, m.objects, m.skipped, m.commits, m.syncFailures,
		m.pushRetries, m.watchEvents, m.watchErrors, m.remoteUp,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observer turns what mirror.Run reports into metrics and health.
type observer struct {
	mirror.NopObserver
	m *metrics
	h *health
}

func (o *observer) RemoteUp(cluster string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	o.m.remoteUp.WithLabelValues(cluster).Set(v)
}

func (o *observer) WatchEvent(_, resource, event string) {
	o.m.watchEvents.WithLabelValues(resource, event).Inc()
}

func (o *observer) WatchError(_, resource string, _ error) {
	o.m.watchErrors.WithLabelValues(resource).Inc()
}

func (o *observer) CachesSynced() { o.h.setSynced() }

func (o *observer) Rendered(res generate.Result, took time.Duration) {
	o.m.renderSeconds.Observe(took.Seconds())
	o.m.objects.Reset()
	for kind, n := range res.Objects {
		o.m.objects.WithLabelValues(kind).Set(float64(n))
	}
	o.m.skipped.Reset()
	for _, s := range res.Skipped {
		o.m.skipped.WithLabelValues(s.Reason).Inc()
	}
}

func (o *observer) Synced(r gitsync.Result, err error, took time.Duration) {
	o.m.syncSeconds.Observe(took.Seconds())
	o.m.pushRetries.Add(float64(r.Retries))
	if err != nil {
		o.m.syncFailures.Inc()
		o.h.record(false)
		return
	}
	o.h.record(true)
	o.m.lastSuccess.SetToCurrentTime()
	if r.Changed {
		o.m.commits.Inc()
	}
}

// health answers /readyz: ready once the caches synced and the last sync
// succeeded, not longer ago than maxAge.
type health struct {
	maxAge time.Duration

	mu          sync.Mutex
	synced      bool
	lastOK      bool
	lastSuccess time.Time
}

func (h *health) setSynced() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.synced = true
}

func (h *health) record(ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastOK = ok
	if ok {
		h.lastSuccess = time.Now()
	}
}

func (h *health) ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.synced:
		return errors.New("remote caches not synced yet")
	case h.lastSuccess.IsZero():
		return errors.New("no successful sync yet")
	case !h.lastOK:
		return errors.New("last sync failed")
	case h.maxAge > 0 && time.Since(h.lastSuccess) > h.maxAge:
		return fmt.Errorf("no successful sync for %s", time.Since(h.lastSuccess).Round(time.Second))
	}
	return nil
}

// serve starts the health and metrics server on addr and stops it when ctx
// ends. Listening happens before it returns, so a busy port is an error.
func serve(ctx context.Context, addr string, m *metrics, h *health, logger *slog.Logger, wg *sync.WaitGroup) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	logger.Info("serving health and metrics", "address", l.Addr().String())
	wg.Go(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("health and metrics server stopped", "err", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return nil
}
