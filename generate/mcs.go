package generate

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// API is the shape of what ssm renders for the remote Services.
type API string

const (
	// APIMirrors renders semaphore-style mirrors (Manifests, Tree): ssm's
	// own names, in a mirror namespace or under the remote's own names.
	APIMirrors API = "mirrors"
	// APIMCS renders the Multi-Cluster Services API (KEP-1645,
	// multicluster.x-k8s.io/v1alpha1): a ServiceImport in each exported
	// Service's own namespace, EndpointSlices of each cluster that exports
	// it, and a derived Service for a ClusterSetIP (ClusterSet).
	APIMCS API = "mcs"
)

// APIs lists the valid API values.
var APIs = []API{APIMirrors, APIMCS}

// What ssm writes of the Multi-Cluster Services API, besides the
// well-known labels of mcs-api.
const (
	LabelMCSServiceName   = mcsv1a1.LabelServiceName
	LabelMCSSourceCluster = mcsv1a1.LabelSourceCluster
	// AnnotationDerivedService, on a ServiceImport, names its derived
	// Service, as mcs-api's reference controller and Cilium write it.
	AnnotationDerivedService = "multicluster.kubernetes.io/derived-service"
	// ImportsDir holds the ServiceImports and derived Services; each
	// cluster's EndpointSlices are in its own directory, and the
	// namespaces ssm creates in NamespacesDir.
	ImportsDir = "imports"
)

// Reasons of the Multi-Cluster Services API render.
const (
	// ReasonImportOwned: the local cluster holds a ServiceImport, or
	// EndpointSlices of an MCS implementation, for the name that ssm did
	// not render (Cilium, Submariner Lighthouse): it is left to its owner.
	ReasonImportOwned = "ImportOwnedByOther"
	// ReasonTypeConflict: a cluster's Service disagrees with the oldest
	// export on being headless. Its endpoints are imported all the same.
	ReasonTypeConflict = "TypeConflict"
	// ReasonAffinityConflict: a cluster's Service disagrees with the
	// oldest export on session affinity, which the oldest decides.
	ReasonAffinityConflict = "SessionAffinityConflict"
	// ReasonRangeFull: no ClusterSetIP of the range is free for a new
	// ClusterSetIP import. An error: the import is not rendered.
	ReasonRangeFull = "ClusterSetIPRangeFull"
	// ReasonIPTaken: the ClusterSetIP an import holds in the stored tree
	// is held by another Service, local or imported. An error: the import
	// is not rendered, and no other one is given its IP.
	ReasonIPTaken = "ClusterSetIPTaken"
	// ReasonNoFamily: no ClusterSetIP range is of an IP family the
	// exported Services have.
	ReasonNoFamily = "NoClusterSetIPFamily"
	// ReasonIPMoved: a stored ClusterSetIP is in no range given now; the
	// import is given one that is (a warning: its derived Service is made
	// again, as a clusterIP is immutable).
	ReasonIPMoved = "ClusterSetIPMoved"
)

// TrafficDistributions are the spec.trafficDistribution values a derived
// Service may take: the zone-based ones. PreferSameNode is not: remote
// endpoints are never on a local node.
var TrafficDistributions = []string{corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone}

// MCSOptions configures the render of a clusterset (ClusterSet).
type MCSOptions struct {
	// ClusterSetIPRanges are where ClusterSetIPs are taken from: at most
	// one IPv4 and one IPv6 prefix, reserved for ssm in the local Service
	// CIDR. A ClusterSetIP import without a range of its family is not
	// rendered.
	ClusterSetIPRanges []netip.Prefix
	// ServiceExports exports only the Services that a ServiceExport of
	// their cluster names (the standard); otherwise every Service read is.
	ServiceExports bool
	// TrafficDistribution, when set, is the derived Services' and
	// ServiceImports' spec.trafficDistribution (see TrafficDistributions).
	TrafficDistribution string
	// KeepZones keeps the remote endpoints' zones (for clusters that share
	// zone names), and hints each for its own zone when TrafficDistribution
	// is set: kube-proxy routes by those hints.
	KeepZones bool
	// ByNamespace puts each namespace's files in a folder of their own.
	ByNamespace bool
	// Adopt lists local Services ("namespace/name") a derived Service may
	// take over although ssm did not render them (see Local).
	Adopt []string
}

// Validate reports options that cannot render any clusterset.
func (o MCSOptions) Validate() error {
	var errs []error
	seen := map[bool]netip.Prefix{}
	for _, p := range o.ClusterSetIPRanges {
		switch other, dup := seen[p.Addr().Is4()]; {
		case !p.IsValid() || p.Addr().Zone() != "" || p.Addr().Is4In6():
			errs = append(errs, fmt.Errorf("ClusterSetIP range %s: not an IPv4 or IPv6 prefix", p))
		case p != p.Masked():
			errs = append(errs, fmt.Errorf("ClusterSetIP range %s: not a network address (%s is)", p, p.Masked()))
		case dup:
			errs = append(errs, fmt.Errorf("ClusterSetIP ranges %s and %s: at most one range of each IP family", other, p))
		case rangeSize(p) < 1:
			errs = append(errs, fmt.Errorf("ClusterSetIP range %s: holds no address but its network and broadcast address", p))
		}
		seen[p.Addr().Is4()] = p
	}
	if d := o.TrafficDistribution; d != "" && !slices.Contains(TrafficDistributions, d) {
		errs = append(errs, fmt.Errorf("traffic distribution %q: want one of %v (remote endpoints are never on a local node)", d, TrafficDistributions))
	}
	return errors.Join(errs...)
}

// ClusterSetName checks a cluster's name as the Multi-Cluster Services API
// takes it: a DNS label, the <cluster> of
// <hostname>.<cluster>.<service>.<namespace>.svc.clusterset.local, and not
// a directory of ssm's own.
func ClusterSetName(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("cluster name %q: the Multi-Cluster Services API names clusters by a DNS label (lower case letters, digits and '-'): %s", name, strings.Join(errs, "; "))
	}
	if name == ImportsDir || name == NamespacesDir {
		return fmt.Errorf("cluster name %q: %s/ holds the %s", name, name, map[string]string{ImportsDir: "ServiceImports", NamespacesDir: "namespaces ssm creates"}[name])
	}
	return nil
}

// ClusterSet renders the Multi-Cluster Services API for the Services the
// clusters export: each exported namespace/name is one ServiceImport in
// that namespace, under imports/, with a derived Service pinned to its
// ClusterSetIPs unless it is headless, and each exporting cluster's
// EndpointSlices under <cluster>/. Namespaces the local cluster lacks are
// rendered under namespaces/. stored is the tree as stored now: the
// ClusterSetIPs it holds stay with their imports (it is the allocation
// table), and the files of Unread clusters are taken from it. local is
// what the local cluster holds (nil: not read): no rendered object takes a
// name another owner holds there, and no ClusterSetIP one of its Services
// holds.
func ClusterSet(clusters []Cluster, opts MCSOptions, local *Local, stored map[string][]byte) (Result, error) {
	return ClusterSetCached(clusters, opts, local, stored, nil)
}

// ClusterSetCached is ClusterSet keeping in cache (nil: none), between
// renders, what it read of the stored imports and the imports it
// rendered from objects of the same versions: the same files, at the cost
// of what changed. Any Cache the caller keeps will do (mirror passes the
// local cluster's); the files share their bytes with it.
func ClusterSetCached(clusters []Cluster, opts MCSOptions, local *Local, stored map[string][]byte, cache *Cache) (Result, error) {
	if err := checkClusters(clusters); err != nil {
		return Result{}, err
	}
	var errs []error
	for _, c := range clusters {
		if !c.Local {
			errs = append(errs, ClusterSetName(c.Name))
		}
	}
	if err := errors.Join(append(errs, opts.Validate())...); err != nil {
		return Result{}, err
	}
	memo := cache.clusterSet()
	table, err := readTable(stored, memo)
	if err != nil {
		return Result{}, err
	}
	cs := newClusterSet(opts, local, table, memo)
	cs.collect(clusters)
	cs.plan()
	cs.allocate()
	res := cs.render()
	cs.keepStored(&res, clusters, stored)
	if err := cs.namespaces(&res, clusters, stored); err != nil {
		return Result{}, err
	}
	Kustomize(res.Files)
	sortResult(&res)
	return res, nil
}
