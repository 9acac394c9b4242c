package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/ssm-dev/ssm/mirror"
)

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

// publicMux serves /healthz, /readyz, /metrics and, read-only, the
// removals held.
func publicMux(m *metrics, h *health, approvals *mirror.Approvals) *http.ServeMux {
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
	mux.HandleFunc("GET /removals", heldRemovals(approvals))
	return mux
}

// adminMux serves what changes ssm's decisions: approving held removals.
// It listens apart (loopback by default), so that only who may exec into
// or port-forward to the pod can approve.
func adminMux(approvals *mirror.Approvals, logger *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /removals", heldRemovals(approvals))
	mux.HandleFunc("POST /removals/approve", func(w http.ResponseWriter, r *http.Request) {
		cluster, digest := r.URL.Query().Get("cluster"), r.URL.Query().Get("digest")
		if err := approvals.Approve(cluster, digest); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		logger.Warn("removals approved; the next render removes them", "cluster", cluster, "digest", digest, "from", r.RemoteAddr)
		_, _ = fmt.Fprintf(w, "approved: the next render removes the held mirrors of %s\n", cluster)
	})
	return mux
}

func heldRemovals(approvals *mirror.Approvals) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(approvals.Held())
	}
}

// serve serves handler on addr until ctx ends. Listening happens before it
// returns, so a busy port is an error.
func serve(ctx context.Context, addr, what string, handler http.Handler, logger *slog.Logger, wg *sync.WaitGroup) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
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
	return nil
}
