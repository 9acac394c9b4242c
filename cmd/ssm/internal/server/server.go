// Package server is what `ssm run` serves over HTTP: /healthz, /readyz
// and /metrics on one listener (Public), fed by what mirror.Run reports
// (Observer), and on another, loopback or behind a token, the approvals of
// held removals (Admin). It keeps mirror free of Prometheus and HTTP.
// Only cmd/ssm imports it; of this module it imports mirror, generate and
// fileset for what mirror reports, and the leaf internal/redact.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Listen listens on addr, so that a busy port is an error before anything
// starts.
func Listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return l, nil
}

// Serve serves handler on l until ctx ends; wg waits for it to stop.
func Serve(ctx context.Context, l net.Listener, what string, handler http.Handler, logger *slog.Logger, wg *sync.WaitGroup) {
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
