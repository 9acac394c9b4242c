package server

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssm-dev/ssm/internal/redact"
)

// Health answers /readyz: ready once the caches synced and the last sync
// succeeded, not longer ago than MaxAge (0: however long ago). Unready, it
// says why, with the last error that explains it. Observer feeds it.
type Health struct {
	MaxAge time.Duration

	mu          sync.Mutex
	synced      bool
	lastErr     error // of the last sync; nil when it succeeded
	lastSuccess time.Time
	watchErr    string // the last failed request to a cluster, while the caches have not synced
}

func (h *Health) setSynced() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.synced = true
	h.watchErr = ""
}

// watchFailed notes a failed list, watch or request to a cluster: before
// the caches synced, it is why they have not.
func (h *Health) watchFailed(cluster, resource string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.synced {
		h.watchErr = fmt.Sprintf("cluster %s, %s: %v", cluster, resource, err)
	}
}

func (h *Health) record(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastErr = err
	if err == nil {
		h.lastSuccess = time.Now()
	}
}

func (h *Health) ready() error {
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
	case h.MaxAge > 0 && time.Since(h.lastSuccess) > h.MaxAge:
		return fmt.Errorf("no successful sync for %s", time.Since(h.lastSuccess).Round(time.Second))
	}
	return nil
}

// Public serves /healthz, /readyz and /metrics: nothing that tells what
// an approval needs (Admin serves that).
func Public(m *Metrics, h *Health) http.Handler {
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
