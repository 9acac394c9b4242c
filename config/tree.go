package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// tree resolves the checked file into each cluster's reads and options.
// Values neither the file nor an override sets take the defaults.
func tree(f *File, ov Overrides) (Config, error) {
	if generate.API(f.Global.API) == generate.APIMCS {
		return treeMCS(f, ov)
	}
	g, lc := f.Global, f.LocalCluster
	cfg := Config{Layout: Tree, SkipInvalid: ov.SkipInvalid, Notes: f.notes,
		Global: generate.GlobalOptions{MirrorNamespace: g.MirrorNamespace, RoutingStrategy: g.GlobalSvcRoutingStrategyLabel, LocalZones: lc.Zones,
			Adopt: lc.AdoptServices}}
	local := localCluster(lc.Name, lc.KubeConfigPath, lc.Context, lc.FromFile, ov.UserAgent, timeout(ov))
	nodePort := slices.ContainsFunc(f.RemoteClusters, func(r RemoteCluster) bool { return generate.Mode(r.Mode) == generate.ModeNodePort })
	localRead, err := readsLocal(nodePort, local, ov)
	errs := []error{err}
	if nodePort && err == nil && local.FromFile == "" && local.Conn.KubeConfig == "" && !ov.InCluster {
		errs = append(errs, errors.New("localCluster: the local cluster is not read: set localCluster.kubeConfigPath (render: localCluster.fromFile), or run in the local cluster; "+
			"NodePort mode reads it, never writing it, so that a remote Service never takes the name of a local one ssm did not render"))
	}
	for i, r := range f.RemoteClusters {
		c, err := remoteCluster(fmt.Sprintf("remoteClusters[%d]", i), r, g, ov, timeout(ov))
		c.Options.Adopt = lc.AdoptServices
		errs = append(errs, err)
		cfg.Clusters = append(cfg.Clusters, c)
	}
	if (g.GlobalSvcLabelSelector != "" || cfg.endpointsMode()) && g.MirrorNamespace == "" {
		errs = append(errs, errors.New("global.mirrorNamespace: required (or --mirror-ns)"))
	}
	switch {
	case localRead:
		if g.GlobalSvcLabelSelector != "" {
			local.Reads = append(local.Reads, Read{Role: RoleGlobal, Selection: source.Selection{LabelSelector: g.GlobalSvcLabelSelector, EndpointsAPI: kubeapi.EndpointSlices}})
		}
		local.Reads, local.Hint = append(local.Reads, ownersRead(nodePort, g.MirrorNamespace)), ownersHint
		if nodePort {
			local.Hint = nodePortHint
		}
		cfg.Clusters = append(cfg.Clusters, local)
	case g.GlobalSvcLabelSelector != "":
		cfg.Notes = append(cfg.Notes, "localCluster is not read (no kubeConfigPath, fromFile or in-cluster configuration): global Services get remote endpoints only")
	}
	errs = append(errs, fromFiles(&cfg, f)...)
	return cfg, errors.Join(errs...)
}

// fromFiles makes the clusters' snapshot files relative to the file.
func fromFiles(cfg *Config, f *File) []error {
	var errs []error
	for i, c := range cfg.Clusters {
		switch {
		case c.FromFile == "-":
			errs = append(errs, fmt.Errorf("cluster %s: fromFile - (stdin) cannot be used with --config", c.Name))
		case c.FromFile != "" && !filepath.IsAbs(c.FromFile):
			// fromFile, ssm's own key, is relative to the file, so that a
			// configuration and its snapshots move together.
			cfg.Clusters[i].FromFile = filepath.Join(filepath.Dir(f.path), c.FromFile)
		}
	}
	return errs
}

// timeout is every remote's default deadline of a request.
func timeout(ov Overrides) time.Duration { return or(ov.Timeout, DefaultTimeout) }

// remoteCluster resolves the remote at path p of the file.
func remoteCluster(p string, r RemoteCluster, g Global, ov Overrides, timeout time.Duration) (c Cluster, err error) {
	c = Cluster{Name: r.Name, Conn: r.Connection(), FromFile: r.FromFile, Resync: r.ResyncPeriod.Duration}
	c.Conn.UserAgent, c.Conn.Timeout = ov.UserAgent, cmp.Or(r.Timeout.Duration, timeout)
	remoteAPI := kubeapi.EndpointsAPI(cmp.Or(r.RemoteEndpointsAPI, string(DefaultRemoteEndpointsAPI)))
	endpointsAPI := kubeapi.EndpointsAPI(cmp.Or(r.EndpointsAPI, string(FileEndpointsAPI)))
	if generate.Mode(r.Mode) == generate.ModeNodePort {
		c.Reads = []Read{{Role: RoleMirrored, Selection: source.Selection{LabelSelector: r.LabelSelector, EndpointsAPI: kubeapi.NoEndpoints, Nodes: true}}}
		c.Options = generate.Options{Mode: generate.ModeNodePort, EndpointsAPI: endpointsAPI, IgnoreNamespaces: r.IgnoreNamespaces,
			ExcludeUnschedulable: boolOr(ov.ExcludeUnschedulable, r.ExcludeUnschedulableNodes, false),
			NodePortService:      boolOr(ov.NodePortService, r.NodePortService, false),
			ManualEndpoints:      boolOr(ov.ManualEndpoints, r.ManualEndpoints, true)}
		if ov.IgnoreNamespaces != nil || r.IgnoreNamespaces == nil {
			c.Options.IgnoreNamespaces = or(ov.IgnoreNamespaces, DefaultIgnoreNamespaces())
		}
	} else {
		sel := cmp.Or(r.LabelSelector, g.MirrorSvcLabelSelector, g.LabelSelector)
		if sel == "" {
			err = fmt.Errorf("%s: no label selector: set global.mirrorSvcLabelSelector, %s.labelSelector or --label-selector", p, p)
		}
		c.Reads = []Read{{Role: RoleMirrored, Selection: source.Selection{LabelSelector: sel, EndpointsAPI: remoteAPI}}}
		c.Options = generate.Options{Mode: generate.ModeEndpoints, ServicePrefix: r.ServicePrefix, MirrorNamespace: g.MirrorNamespace, EndpointsAPI: endpointsAPI}
	}
	c.Options.DenyCIDRs = fileDeny(g, r)
	if g.GlobalSvcLabelSelector != "" {
		c.Reads = append(c.Reads, Read{Role: RoleGlobal, Selection: source.Selection{LabelSelector: g.GlobalSvcLabelSelector, EndpointsAPI: remoteAPI}})
	}
	return c, err
}

// fileDeny is the remote's deny ranges of the file: global.denyCIDRs and
// its own, checked already (see validate).
func fileDeny(g Global, r RemoteCluster) []netip.Prefix {
	global, _ := ParseDenyCIDRs("global.denyCIDRs", g.DenyCIDRs)
	own, _ := ParseDenyCIDRs("denyCIDRs", r.DenyCIDRs)
	return denyUnion(global, own)
}

func (c Config) endpointsMode() bool {
	for _, cl := range c.Clusters {
		if cl.Options.Mode == generate.ModeEndpoints {
			return true
		}
	}
	return false
}
