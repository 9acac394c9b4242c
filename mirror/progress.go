package mirror

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// Progress is told what a render is doing, as it does it: a phase
// ("listing", "rendering", "writing") and the objects done in it. Calls may
// come from several goroutines (clusters are listed at once).
type Progress interface {
	Start(phase string)
	Add(n int)
	Stop()
}

type noProgress struct{}

func (noProgress) Start(string) {}
func (noProgress) Add(int)      {}
func (noProgress) Stop()        {}

// counted is a Client that tells Progress how many objects each page of
// a list holds.
type counted struct {
	source.Client
	p Progress
}

func (c counted) List(ctx context.Context, resource, namespace string, opts metav1.ListOptions) (runtime.Object, error) {
	obj, err := c.Client.List(ctx, resource, namespace, opts)
	if err == nil {
		c.p.Add(meta.LenList(obj))
	}
	return obj, err
}

// logListed logs what was read of a cluster, by kind, and how long it took.
func logListed(logger *slog.Logger, c config.Cluster, st clusterState, took time.Duration) {
	var services, endpoints, slices, nodes, exports, imports int
	var readsExports, readsImports bool
	for _, rd := range c.Reads {
		s := st[rd.Role]
		services, endpoints, slices, nodes = services+len(s.Services), endpoints+len(s.Endpoints), slices+len(s.EndpointSlices), nodes+len(s.Nodes)
		exports, imports = exports+len(s.ServiceExports), imports+len(s.ServiceImports)
		readsExports, readsImports = readsExports || rd.Selection.ServiceExports, readsImports || rd.Selection.Imports
	}
	attrs := []any{"cluster", cmp.Or(c.Name, "remote"), "services", services}
	if len(c.Reads) > 0 { // the endpoint objects of its first read: a cluster reads one kind
		switch sel := c.Reads[0].Selection; {
		case sel.Nodes:
			attrs = append(attrs, "nodes", nodes)
		case sel.EndpointsAPI == kubeapi.EndpointSlices:
			attrs = append(attrs, "endpointSlices", slices)
		case sel.EndpointsAPI != kubeapi.NoEndpoints:
			attrs = append(attrs, "endpoints", endpoints)
		}
	}
	if readsExports { // the Multi-Cluster Services API: what a remote exports, what the local cluster imports
		attrs = append(attrs, "serviceExports", exports)
	}
	if readsImports {
		attrs = append(attrs, "serviceImports", imports)
	}
	logger.Info("listed", append(attrs, "took", took)...)
}
