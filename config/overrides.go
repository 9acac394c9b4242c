package config

import (
	"fmt"
	"time"

	"github.com/ssm-dev/ssm/internal/kubeapi"
)

// Defaults of what neither the file nor an override sets.
const (
	DefaultTimeout            = 30 * time.Second
	DefaultRemoteEndpointsAPI = kubeapi.Endpoints
	// DefaultEndpointsAPI is what mirrors are rendered with, without a
	// configuration file: EndpointSlices, as Kubernetes has it since v1
	// Endpoints were deprecated (1.33; the API server warns on every
	// write of one).
	DefaultEndpointsAPI = kubeapi.EndpointSlices
	// FileEndpointsAPI is what the mirrors of a configuration file's
	// remote without endpointsAPI are rendered with: v1 Endpoints, what
	// semaphore-service-mirror v0.4 writes for them, so that moving over
	// replaces its objects in place rather than leaving them beside new
	// ones (docs/semaphore-service-mirror.md).
	FileEndpointsAPI = kubeapi.Endpoints
)

// DefaultIgnoreNamespaces are the remote namespaces NodePort mode never mirrors.
func DefaultIgnoreNamespaces() []string { return []string{"kube-system"} }

// Overrides are the values given on the command line or in SSM_*
// variables. A nil pointer is a value not given: the file's value, or the
// default, applies.
type Overrides struct {
	// One remote: without a file these are the whole configuration; with
	// one, each remote's entry sets them and giving them is an error.
	KubeConfig, Context, APIURL, CAURL, TokenPath *string
	Name, ServicePrefix, Mode, FromFile           *string
	// Token is the remote's token itself, when no TokenPath is given.
	Token string

	// Every remote's, over the file's global keys.
	MirrorNamespace, LabelSelector                        *string
	GlobalSvcLabelSelector, GlobalSvcRoutingStrategyLabel *string
	RemoteEndpointsAPI, EndpointsAPI                      *string
	Timeout                                               *time.Duration

	// NodePort mode.
	IgnoreNamespaces                                       *[]string
	ExcludeUnschedulable, NodePortService, ManualEndpoints *bool
	// The local cluster, read (never written): for global Services, for
	// NodePort mode's hand-written Services, and so that no mirror takes
	// the name of a local Service ssm did not render.
	LocalKubeConfig, LocalContext, LocalFromFile *string
	// ReadLocal false skips reading the local cluster where it is optional
	// (endpoints mode); nil: true.
	ReadLocal *bool
	// AdoptServices are local Services ("namespace/name") a mirror may take
	// over, over localCluster.adoptServices.
	AdoptServices *[]string

	// DenyCIDRs are ranges no endpoint of any remote may point into,
	// added to the file's.
	DenyCIDRs []string
	// The MCS API (--api mcs), over global.api and global.mcs.
	API                 *string
	ClusterSetIPRanges  *[]string
	ServiceExports      *bool
	TrafficDistribution *string
	KeepZones           *bool

	SkipInvalid bool
	// MaxRemovals is RemovalLimit's text; nil: DefaultMaxRemovals.
	MaxRemovals *string
	// Layout is "flat" (nil) or "namespaces": a folder per remote namespace.
	Layout     *string
	AllowEmpty bool
	// MaxSnapshotSize is a Kubernetes quantity of bytes (512Mi); nil:
	// source.DefaultMaxSnapshotSize.
	MaxSnapshotSize *string
	UserAgent       string
	// InCluster says ssm runs in a cluster, whose service account can read
	// the local cluster without a kubeconfig.
	InCluster bool
	// Shards and ShardIndex spread the remotes over replicas (see Shard).
	Shards, ShardIndex *int
}

// perRemote names the overrides that name one remote, by flag and by the
// file key that sets them instead.
func (ov Overrides) perRemote() []struct {
	flag, key string
	set       bool
} {
	return []struct {
		flag, key string
		set       bool
	}{
		{"target-kube-config", "kubeConfigPath", ov.KubeConfig != nil}, {"target-context", "context", ov.Context != nil},
		{"remote-api-url", "remoteAPIURL", ov.APIURL != nil}, {"remote-ca-url", "remoteCAURL", ov.CAURL != nil},
		{"remote-sa-token-path", "remoteSATokenPath", ov.TokenPath != nil}, {"remote-name", "name", ov.Name != nil},
		{"svc-prefix", "servicePrefix", ov.ServicePrefix != nil}, {"mode", "mode", ov.Mode != nil},
		{"from-file", "fromFile", ov.FromFile != nil},
	}
}

// checkPerRemote refuses, with a file, the overrides that name one remote.
func (ov Overrides) checkPerRemote() error {
	for _, p := range ov.perRemote() {
		if p.set {
			return fmt.Errorf("--%s names one remote: with --config set remoteClusters[].%s in the file", p.flag, p.key)
		}
	}
	return nil
}

// any reports whether an override applies to the file.
func (ov Overrides) any() bool {
	return ov.MirrorNamespace != nil || ov.LabelSelector != nil || ov.GlobalSvcLabelSelector != nil ||
		ov.GlobalSvcRoutingStrategyLabel != nil || ov.LocalKubeConfig != nil || ov.LocalContext != nil ||
		ov.LocalFromFile != nil || ov.RemoteEndpointsAPI != nil || ov.EndpointsAPI != nil || ov.AdoptServices != nil ||
		ov.API != nil || ov.ClusterSetIPRanges != nil || ov.ServiceExports != nil || ov.TrafficDistribution != nil || ov.KeepZones != nil
}

// apply sets what the overrides give over the file, as
// semaphore-service-mirror's flags do.
func (ov Overrides) apply(f *File) {
	set := func(v *string, dst *string) {
		if v != nil {
			*dst = *v
		}
	}
	g, l := &f.Global, &f.LocalCluster
	set(ov.LabelSelector, &g.MirrorSvcLabelSelector)
	set(ov.MirrorNamespace, &g.MirrorNamespace)
	set(ov.GlobalSvcLabelSelector, &g.GlobalSvcLabelSelector)
	set(ov.GlobalSvcRoutingStrategyLabel, &g.GlobalSvcRoutingStrategyLabel)
	set(ov.LocalKubeConfig, &l.KubeConfigPath)
	set(ov.LocalContext, &l.Context)
	set(ov.LocalFromFile, &l.FromFile)
	if ov.AdoptServices != nil {
		l.AdoptServices = *ov.AdoptServices
	}
	set(ov.API, &g.API)
	ov.applyMCS(&g.MCS)
	for i := range f.RemoteClusters {
		r := &f.RemoteClusters[i]
		set(ov.RemoteEndpointsAPI, &r.RemoteEndpointsAPI)
		set(ov.EndpointsAPI, &r.EndpointsAPI)
	}
}

// or returns *v when given, else def.
func or[T any](v *T, def T) T {
	if v != nil {
		return *v
	}
	return def
}

// boolOr is an override when given, else the file's value, else def.
func boolOr(ov, file *bool, def bool) bool {
	switch {
	case ov != nil:
		return *ov
	case file != nil:
		return *file
	}
	return def
}
