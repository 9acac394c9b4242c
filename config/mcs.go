package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// MCS is the configuration file's global.mcs: how the Multi-Cluster
// Services API is rendered (global.api: mcs). Flags override each key.
type MCS struct {
	// ClusterSetIPRanges are the ranges ClusterSetIPs are taken from
	// (--clusterset-ip-range): at most one IPv4 and one IPv6 CIDR.
	ClusterSetIPRanges []string `json:"clusterSetIPRanges"`
	// ServiceExports exports only Services a ServiceExport names
	// (--service-exports); default true.
	ServiceExports *bool `json:"serviceExports"`
	// TrafficDistribution of derived Services and imports (--traffic-distribution).
	TrafficDistribution string `json:"trafficDistribution"`
	// KeepZones keeps the remote endpoints' zones (--keep-zones).
	KeepZones *bool `json:"keepZones"`
}

// apiOf is the API asked for: the override's, else the file's, else
// generate.APIMirrors.
func apiOf(ov Overrides, file string) (generate.API, error) {
	api := generate.API(or(ov.API, file))
	if api == "" {
		api = generate.APIMirrors
	}
	if !slices.Contains(generate.APIs, api) {
		if ov.API != nil {
			return "", fmt.Errorf("--api %q: want mirrors (semaphore-style mirrors) or mcs (the Multi-Cluster Services API)", api)
		}
		return "", fmt.Errorf("global.api: %q: want mirrors (semaphore-style mirrors) or mcs (the Multi-Cluster Services API)", api)
	}
	return api, nil
}

// apply sets the MCS overrides over m.
func (ov Overrides) applyMCS(m *MCS) {
	if ov.ClusterSetIPRanges != nil {
		m.ClusterSetIPRanges = *ov.ClusterSetIPRanges
	}
	if ov.ServiceExports != nil {
		m.ServiceExports = ov.ServiceExports
	}
	if ov.TrafficDistribution != nil {
		m.TrafficDistribution = *ov.TrafficDistribution
	}
	if ov.KeepZones != nil {
		m.KeepZones = ov.KeepZones
	}
}

// options resolves m, naming keys as at names them (flags or file keys).
func (m MCS) options(at mcsNames) (generate.MCSOptions, error) {
	opts := generate.MCSOptions{ServiceExports: or(m.ServiceExports, true), TrafficDistribution: m.TrafficDistribution, KeepZones: or(m.KeepZones, false)}
	var errs []error
	if len(m.ClusterSetIPRanges) == 0 {
		errs = append(errs, fmt.Errorf("%s: required with the MCS API: a range of the local Service CIDR (or a ServiceCIDR) reserved for the ClusterSetIPs ssm pins; one IPv4 and one IPv6 range for dual-stack (docs/mcs.md)", at.ranges(-1)))
	}
	for i, s := range m.ClusterSetIPRanges {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: want a CIDR such as 10.96.240.0/24 or fd00:96::f000/116", at.ranges(i), s))
			continue
		}
		opts.ClusterSetIPRanges = append(opts.ClusterSetIPRanges, p)
	}
	if len(errs) == 0 {
		if err := opts.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at.all, err))
		}
	}
	return opts, errors.Join(errs...)
}

// mcsNames names the MCS settings in errors: flags, or the file's keys.
type mcsNames struct{ all, rangeKey string }

func (n mcsNames) ranges(i int) string {
	if i < 0 || strings.HasPrefix(n.rangeKey, "--") {
		return n.rangeKey
	}
	return fmt.Sprintf("%s[%d]", n.rangeKey, i)
}

var (
	mcsFlags = mcsNames{all: "--clusterset-ip-range, --traffic-distribution", rangeKey: "--clusterset-ip-range"}
	mcsKeys  = mcsNames{all: "global.mcs", rangeKey: "global.mcs.clusterSetIPRanges"}
)

// mcsRead is what the MCS API reads of a remote: the label-selected
// Services (every Service without a selector) and their endpoints, and
// its ServiceExports when they decide.
func mcsRead(labelSelector string, api kubeapi.EndpointsAPI, exports bool) Read {
	return Read{Role: RoleMirrored, Selection: source.Selection{LabelSelector: labelSelector, EndpointsAPI: api, ServiceExports: exports}}
}

// mcsLocalRead is what the MCS API reads of the local cluster: every
// Service (their names and cluster IPs), every namespace, and what other
// MCS implementations hold there.
func mcsLocalRead() Read {
	return Read{Role: RoleLocal, Selection: source.Selection{EndpointsAPI: kubeapi.NoEndpoints, Namespaces: true, Imports: true}}
}

// mcsLocalHint is appended to errors reading the local cluster.
const mcsLocalHint = "the MCS API reads the local cluster, never writing it, so that no ServiceImport, derived Service or ClusterSetIP takes what another holds there: " +
	"give --kube-config (render: --local-from-file), or run in the local cluster"

// flatMCS is the one remote of plain flags, rendered as the MCS API: the
// remote and the local cluster, as a Tree.
func flatMCS(ov Overrides) (Config, error) {
	for _, f := range []struct {
		flag string
		set  bool
	}{{"svc-prefix", ov.ServicePrefix != nil}, {"mirror-ns", ov.MirrorNamespace != nil}, {"global-svc-label-selector", ov.GlobalSvcLabelSelector != nil},
		{"endpoints-api", ov.EndpointsAPI != nil}} {
		if f.set {
			return Config{}, fmt.Errorf("--%s is for --api mirrors: the MCS API keeps namespaces and names, renders EndpointSlices, and merges every cluster's export", f.flag)
		}
	}
	if m := or(ov.Mode, string(generate.ModeEndpoints)); m != string(generate.ModeEndpoints) {
		return Config{}, fmt.Errorf("--mode %q: the MCS API imports endpoints (pod IPs), as endpoints mode does: its clusters share a flat network", m)
	}
	name := or(ov.Name, "")
	if name == "" {
		return Config{}, errors.New("--remote-name: required with --api mcs: it names the cluster in the MCS labels and DNS names (<hostname>.<cluster>.<service>.<namespace>.svc.clusterset.local)")
	}
	if err := generate.ClusterSetName(name); err != nil {
		return Config{}, fmt.Errorf("--remote-name: %w", err)
	}
	var m MCS
	ov.applyMCS(&m)
	opts, err := m.options(mcsFlags)
	if err != nil {
		return Config{}, err
	}
	sel := or(ov.LabelSelector, "")
	if sel == "" && !opts.ServiceExports {
		return Config{}, errors.New("--label-selector: required with --service-exports=false: it alone says which Services are exported")
	}
	conn, err := flagConn(ov)
	if err != nil {
		return Config{}, err
	}
	timeout := conn.Timeout
	remote := Cluster{Name: name, Conn: conn,
		FromFile: or(ov.FromFile, ""),
		Reads:    []Read{mcsRead(sel, kubeapi.EndpointsAPI(or(ov.RemoteEndpointsAPI, string(kubeapi.EndpointSlices))), opts.ServiceExports)}}
	if err := selectionErrors(remote.Reads[0].Selection, "--label-selector", "--remote-endpoints-api"); err != nil {
		return Config{}, err
	}
	if remote.FromFile != "" && remote.Conn.Given() {
		return Config{}, errors.New("--from-file reads a snapshot: drop the remote connection flags")
	}
	local := localCluster("local", or(ov.LocalKubeConfig, ""), or(ov.LocalContext, ""), or(ov.LocalFromFile, ""), ov.UserAgent, timeout)
	if err := mcsLocal(&local, ov, "--kube-config (render: --local-from-file)"); err != nil {
		return Config{}, err
	}
	if local.FromFile == "-" && remote.FromFile == "-" {
		return Config{}, errors.New("--from-file and --local-from-file cannot both read stdin")
	}
	opts.Adopt = or(ov.AdoptServices, nil)
	for _, a := range opts.Adopt {
		if err := validAdopt(a); err != nil {
			return Config{}, fmt.Errorf("--adopt-service %w", err)
		}
	}
	return Config{Layout: Tree, API: generate.APIMCS, MCS: opts, SkipInvalid: ov.SkipInvalid, Clusters: []Cluster{remote, local}}, nil
}

// mcsLocal makes local read what the MCS API needs of it, or says how to
// give it: the MCS API always reads the local cluster.
func mcsLocal(local *Cluster, ov Overrides, how string) error {
	if !or(ov.ReadLocal, true) {
		return errors.New("--read-local=false: the MCS API reads the local cluster, never writing it, so that no ServiceImport, derived Service or ClusterSetIP takes what another holds there")
	}
	if local.FromFile == "" && local.Conn.KubeConfig == "" && !ov.InCluster {
		return fmt.Errorf("the local cluster is not read: give %s, or run in the local cluster; %s", how, strings.SplitN(mcsLocalHint, ": give", 2)[0])
	}
	local.Reads, local.Hint = []Read{mcsLocalRead()}, mcsLocalHint
	return nil
}

// selectionErrors names the flag or key at fault in what is read of a
// remote.
func selectionErrors(sel source.Selection, selectorName, apiName string) error {
	if _, err := labels.Parse(sel.LabelSelector); err != nil {
		return fmt.Errorf("%s %q: %w", selectorName, sel.LabelSelector, err)
	}
	if api := sel.EndpointsAPI; api != kubeapi.Endpoints && api != kubeapi.EndpointSlices {
		return fmt.Errorf("%s %q: want %s or %s", apiName, api, kubeapi.Endpoints, kubeapi.EndpointSlices)
	}
	return nil
}

// treeMCS resolves the checked file into the clusters of a clusterset:
// each remote's exports, and the local cluster. The keys of semaphore-style
// mirrors (servicePrefix, mirrorNamespace, global Services) do not apply,
// so that one file serves both APIs during a move (docs/mcs.md).
func treeMCS(f *File, ov Overrides) (Config, error) {
	g := f.Global
	opts, err := g.MCS.options(mcsKeys)
	errs := []error{err}
	cfg := Config{Layout: Tree, API: generate.APIMCS, SkipInvalid: ov.SkipInvalid, Notes: f.notes}
	if g.GlobalSvcLabelSelector != "" {
		cfg.Notes = append(cfg.Notes, "global.globalSvcLabelSelector is not read with the MCS API: a ServiceImport merges every cluster's export of a Service already")
	}
	for i, r := range f.RemoteClusters {
		c, err := mcsRemote(fmt.Sprintf("remoteClusters[%d]", i), r, g, opts.ServiceExports, ov)
		errs = append(errs, err)
		cfg.Clusters = append(cfg.Clusters, c)
	}
	lc := f.LocalCluster
	local := localCluster(lc.Name, lc.KubeConfigPath, lc.Context, lc.FromFile, ov.UserAgent, timeout(ov))
	errs = append(errs, mcsLocal(&local, ov, "localCluster.kubeConfigPath (render: localCluster.fromFile)"))
	cfg.Clusters = append(cfg.Clusters, local)
	errs = append(errs, fromFiles(&cfg, f)...)
	opts.Adopt = lc.AdoptServices
	cfg.MCS = opts
	return cfg, errors.Join(errs...)
}

// mcsRemote resolves the remote at path p of the file for the MCS API.
func mcsRemote(p string, r RemoteCluster, g Global, exports bool, ov Overrides) (Cluster, error) {
	c := Cluster{Name: r.Name, Conn: r.Connection(), FromFile: r.FromFile, Resync: r.ResyncPeriod.Duration}
	c.Conn.UserAgent, c.Conn.Timeout = ov.UserAgent, cmp.Or(r.Timeout.Duration, timeout(ov))
	sel := cmp.Or(r.LabelSelector, g.MirrorSvcLabelSelector, g.LabelSelector)
	c.Reads = []Read{mcsRead(sel, kubeapi.EndpointsAPI(cmp.Or(r.RemoteEndpointsAPI, string(kubeapi.EndpointSlices))), exports)}
	c.Options.DenyCIDRs = fileDeny(g, r)
	var errs []error
	if err := generate.ClusterSetName(r.Name); err != nil {
		errs = append(errs, fmt.Errorf("%s.name: %w", p, err))
	}
	if generate.Mode(r.Mode) == generate.ModeNodePort {
		errs = append(errs, fmt.Errorf("%s.mode: %q: the MCS API imports endpoints (pod IPs), as endpoints mode does: its clusters share a flat network", p, r.Mode))
	}
	if sel == "" && !exports {
		errs = append(errs, fmt.Errorf("%s: no label selector, and global.mcs.serviceExports is false: set global.mirrorSvcLabelSelector or %s.labelSelector, which alone then says which Services are exported", p, p))
	}
	return c, errors.Join(errs...)
}
