package mirror

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/source"
)

// countFunc says how many Services a cluster (or its snapshot) holds in
// all, selected or not, in the selection's namespace.
type countFunc func(ctx context.Context, sel source.Selection, st source.State) (int, error)

// warnNoMatch warns when the label selector of the Services to mirror
// matches none of a cluster's, saying how many it holds in all: a mistyped
// selector would otherwise render nothing of it, and succeed. A cluster
// whose Services feed global Services is used all the same.
func warnNoMatch(ctx context.Context, logger *slog.Logger, c config.Cluster, st clusterState, count countFunc) {
	sel, ok := c.Selection(config.RoleMirrored)
	if !ok || len(st[config.RoleMirrored].Services) > 0 || len(st[config.RoleGlobal].Services) > 0 {
		return
	}
	attrs := []any{"cluster", cmp.Or(c.Name, "remote"), "labelSelector", sel.LabelSelector}
	if sel.Namespace != "" {
		attrs = append(attrs, "namespace", sel.Namespace)
	}
	n, err := count(ctx, sel, st[config.RoleMirrored])
	if err != nil {
		logger.Warn("no Service matches the label selector: nothing of the cluster is mirrored", append(attrs, "servicesInAll", "unknown", "err", err)...)
		return
	}
	logger.Warn("no Service matches the label selector: nothing of the cluster is mirrored", append(attrs, "servicesInAll", n)...)
}

// count is the reader's countFunc: what the snapshot held, or one request
// to the cluster's API.
func (r *reader) count(ctx context.Context, sel source.Selection, st source.State) (int, error) {
	if r.cluster.FromFile != "" {
		return st.SnapshotServices, nil
	}
	return liveCount(r.client, r.cluster.Conn.Timeout)(ctx, sel, st)
}

// liveCount counts a cluster's Services with one request to its API.
func liveCount(client source.Client, timeout time.Duration) countFunc {
	return func(ctx context.Context, sel source.Selection, _ source.State) (int, error) {
		return source.CountServices(ctx, client, sel.Namespace, timeout)
	}
}

// warnNoMatch warns, once per cluster, the first time its caches hold a
// state, if the selector matches none of its Services.
func (p *pipeline) warnNoMatch(ctx context.Context, in input) {
	for i, w := range p.clusters {
		if w.checked || in.states[i] == nil {
			continue
		}
		w.checked = true
		warnNoMatch(ctx, p.opts.Logger, w.cfg, in.states[i], liveCount(w.client, w.cfg.Conn.Timeout))
	}
}
