package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	"k8s.io/client-go/rest"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/internal/redact"
	"github.com/ssm-dev/ssm/source"
)

// restConfig is the client configuration of a cluster, with API server
// warnings logged once each.
func restConfig(ctx context.Context, c config.Cluster, logger *slog.Logger) (*rest.Config, error) {
	rc, err := source.RESTConfig(ctx, c.Conn)
	if err != nil {
		return nil, err
	}
	rc.WarningHandler = newOnceWarnings(logger)
	return rc, nil
}

func newClient(rc *rest.Config, c config.Cluster) (source.Client, error) {
	client, err := source.NewClient(rc)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", c.Conn.Describe(), redact.Error(err, rc.Host))
	}
	return client, nil
}

// watchClient connects to a cluster for informers, reporting its
// reachability to the observer, the log and reachable, and every request
// that got no answer as a watch error.
func (o Options) watchClient(ctx context.Context, c config.Cluster, reachable func(bool)) (source.Client, error) {
	if o.Connect != nil {
		return o.Connect(ctx, c)
	}
	rc, err := restConfig(ctx, c, o.Logger)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	var host string // as shown
	reach := &source.Reachability{
		OnChange: func(ok bool, err error) {
			err = redact.Error(err)
			o.Observer.RemoteUp(c.Name, ok)
			reachable(ok)
			if ok {
				o.Logger.Info("remote reachable", "cluster", c.Name, "remote", host)
				return
			}
			o.Logger.Warn("remote unreachable; keeping the last state it showed and retrying", "cluster", c.Name, "remote", host, "err", err)
		},
		OnFailure: func(resource string, err error) { o.Observer.WatchError(c.Name, resource, redact.Error(err)) },
	}
	rc.Wrap(reach.Wrap)
	host = source.DisplayHost(rc.Host)
	return newClient(rc, c)
}

// transportError reports an error of a request that got no answer: the
// client's Reachability counted it already.
func transportError(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// onceWarnings logs each distinct API server warning once (e.g. that v1
// Endpoints are deprecated), instead of on every list and watch.
type onceWarnings struct {
	logger *slog.Logger
	seen   sync.Map
}

func newOnceWarnings(logger *slog.Logger) *onceWarnings { return &onceWarnings{logger: logger} }

func (w *onceWarnings) HandleWarningHeader(code int, _, text string) {
	if code != 299 || text == "" {
		return
	}
	if _, dup := w.seen.LoadOrStore(text, true); !dup {
		w.logger.Warn("remote API warning", "warning", text)
	}
}
