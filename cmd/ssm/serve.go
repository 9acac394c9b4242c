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

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssm-dev/ssm/internal/redact"
)

// health answers /readyz: ready once the caches synced and the last sync
// succeeded, not longer ago than maxAge. Unready, it says why, with the
// last error that explains it.
type health struct {
	maxAge time.Duration

	mu          sync.Mutex
	synced      bool
	lastErr     error // of the last sync; nil when it succeeded
	lastSuccess time.Time
	watchErr    string // the last failed request to a cluster, while the caches have not synced
}

func (h *health) setSynced() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.synced = true
	h.watchErr = ""
}

// watchFailed notes a failed list, watch or request to a cluster: before
// the caches synced, it is why they have not.
func (h *health) watchFailed(cluster, resource string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.synced {
		h.watchErr = fmt.Sprintf("cluster %s, %s: %v", cluster, resource, err)
	}
}

func (h *health) record(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastErr = err
	if err == nil {
		h.lastSuccess = time.Now()
	}
}

func (h *health) ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.synced && h.watchErr != "":
		return fmt.Errorf("remote caches not synced yet; last error: %s", h.watchErr)
	case !h.synced:
		return errors.New("remote caches not synced yet")
	case h.lastSuccess.IsZero() && h.lastErr != nil:
		return fmt.Errorf("no successful sync yet; last sync failed: %w", h.lastErr)
	case h.lastSuccess.IsZero():
		return errors.New("no successful sync yet")
	case h.lastErr != nil:
		return fmt.Errorf("last sync failed: %w", h.lastErr)
	case h.maxAge > 0 && time.Since(h.lastSuccess) > h.maxAge:
		return fmt.Errorf("no successful sync for %s", time.Since(h.lastSuccess).Round(time.Second))
	}
	return nil
}

// publicMux serves /healthz, /readyz and /metrics: nothing that tells
// what an approval needs (admin serves that).
func publicMux(m *metrics, h *health) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.ready(); err != nil {
			answer(w, http.StatusServiceUnavailable, redact.Text(err.Error()))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	return mux
}

// listen listens on addr, so that a busy port is an error before anything
// starts.
func listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return l, nil
}

// serve serves handler on l until ctx ends.
func serve(ctx context.Context, l net.Listener, what string, handler http.Handler, logger *slog.Logger, wg *sync.WaitGroup) {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	logger.Info("serving "+what, "address", l.Addr().String())
	wg.Go(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(what+" server stopped", "err", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
}
