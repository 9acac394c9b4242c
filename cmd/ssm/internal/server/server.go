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

// Options are what ssm run serves, and where.
type Options struct {
	Address string // of /healthz, /readyz and /metrics
	// AdminAddress serves the approvals of held removals ("": none),
	// guarded by the token in AdminTokenFile ("": none, loopback only).
	AdminAddress, AdminTokenFile string
	Metrics                      *Metrics
	Health                       *Health
	Approvals                    Approver
	Logger                       *slog.Logger
}

// BeyondLoopbackError refuses an admin address without a token file that
// resolved to one beyond loopback.
type BeyondLoopbackError struct {
	Address string
	Bound   net.Addr
}

func (e *BeyondLoopbackError) Error() string {
	return fmt.Sprintf("admin address %s listens on %s, beyond loopback: give a token file too", e.Address, e.Bound)
}

// Start listens on the addresses of o, so that a busy port is an error
// before anything is served, then serves them until ctx ends; wg waits for
// the servers to stop. It returns what the log line of a held removal adds
// to say how an operator approves it (mirror.Options.HowToApprove), nil
// without an admin address.
func Start(ctx context.Context, o Options, wg *sync.WaitGroup) (func(cluster, digest string) []any, error) {
	public, err := Listen(o.Address)
	if err != nil {
		return nil, err
	}
	var admin net.Listener
	if o.AdminAddress != "" {
		if admin, err = Listen(o.AdminAddress); err != nil {
			public.Close()
			return nil, err
		}
	}
	Serve(ctx, public, "health and metrics", Public(o.Metrics, o.Health), o.Logger, wg)
	if admin == nil {
		return nil, nil
	}
	bound := admin.Addr().(*net.TCPAddr)
	if o.AdminTokenFile == "" && !bound.IP.IsLoopback() { // localhost resolved beyond loopback
		admin.Close()
		return nil, &BeyondLoopbackError{Address: o.AdminAddress, Bound: bound}
	}
	a := &Admin{Approvals: o.Approvals, Logger: o.Logger, TokenFile: o.AdminTokenFile, AnyHost: !bound.IP.IsLoopback()}
	Serve(ctx, admin, "approvals", a.Handler(), o.Logger, wg)
	return ApproveHint(bound.Port, o.AdminTokenFile != "", PodOf()), nil
}
