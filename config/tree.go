package config

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

// tree resolves the checked file into each cluster's reads and options.
// Values neither the file nor an override sets take the defaults.
func tree(f *File, ov Overrides) (Config, error) {
	g, lc := f.Global, f.LocalCluster
	cfg := Config{Layout: Tree, SkipInvalid: ov.SkipInvalid, Notes: f.notes,
		Global: generate.GlobalOptions{MirrorNamespace: g.MirrorNamespace, RoutingStrategy: g.GlobalSvcRoutingStrategyLabel, LocalZones: lc.Zones}}
	localRead := lc.KubeConfigPath != "" || lc.FromFile != "" || ov.InCluster
	timeout := or(ov.Timeout, DefaultTimeout)
	var errs []error
	for i, r := range f.RemoteClusters {
		c, manual, err := remoteCluster(fmt.Sprintf("remoteClusters[%d]", i), r, g, ov, timeout, localRead)
		errs = append(errs, err)
		if manual {
			cfg.ManualFor = r.Name
		}
		cfg.Clusters = append(cfg.Clusters, c)
	}
	if (g.GlobalSvcLabelSelector != "" || cfg.endpointsMode()) && g.MirrorNamespace == "" {
		errs = append(errs, errors.New("global.mirrorNamespace: required (or --mirror-ns)"))
	}
	switch {
	case localRead && (g.GlobalSvcLabelSelector != "" || cfg.ManualFor != ""):
		local := localCluster(lc.Name, lc.KubeConfigPath, lc.Context, lc.FromFile, ov.UserAgent, timeout)
		if g.GlobalSvcLabelSelector != "" {
			local.Reads = append(local.Reads, Read{Role: RoleGlobal, Selection: source.Selection{LabelSelector: g.GlobalSvcLabelSelector, EndpointsAPI: source.EndpointSlices}})
		}
		if cfg.ManualFor != "" {
			local.Reads = append(local.Reads, manualRead())
		}
		cfg.Clusters = append(cfg.Clusters, local)
	case g.GlobalSvcLabelSelector != "":
		cfg.Notes = append(cfg.Notes, "localCluster is not read (no kubeConfigPath, fromFile or in-cluster configuration): global Services get remote endpoints only")
	}
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
	return cfg, errors.Join(errs...)
}

// remoteCluster resolves the remote at path p of the file. manual reports
// that the local cluster's hand-written Services go to it.
func remoteCluster(p string, r RemoteCluster, g Global, ov Overrides, timeout time.Duration, localRead bool) (c Cluster, manual bool, err error) {
	c = Cluster{Name: r.Name, Conn: r.Connection(), FromFile: r.FromFile, Resync: r.ResyncPeriod.Duration}
	c.Conn.UserAgent, c.Conn.Timeout = ov.UserAgent, cmp.Or(r.Timeout.Duration, timeout)
	remoteAPI := source.EndpointsAPI(cmp.Or(r.RemoteEndpointsAPI, string(DefaultRemoteEndpointsAPI)))
	endpointsAPI := generate.EndpointsAPI(cmp.Or(r.EndpointsAPI, string(DefaultEndpointsAPI)))
	if generate.Mode(r.Mode) == generate.ModeNodePort {
		c.Reads = []Read{{Role: RoleMirrored, Selection: source.Selection{LabelSelector: r.LabelSelector, EndpointsAPI: source.NoEndpoints, Nodes: true}}}
		c.Options = generate.Options{Mode: generate.ModeNodePort, EndpointsAPI: endpointsAPI, IgnoreNamespaces: r.IgnoreNamespaces,
			ExcludeUnschedulable: boolOr(ov.ExcludeUnschedulable, r.ExcludeUnschedulableNodes, false),
			NodePortService:      boolOr(ov.NodePortService, r.NodePortService, false)}
		if ov.IgnoreNamespaces != nil || r.IgnoreNamespaces == nil {
			c.Options.IgnoreNamespaces = or(ov.IgnoreNamespaces, DefaultIgnoreNamespaces())
		}
		manual = boolOr(ov.ManualEndpoints, r.ManualEndpoints, localRead)
		if manual && !localRead {
			err = fmt.Errorf("%s.manualEndpoints: the local cluster is not read: set localCluster.kubeConfigPath (or run in a cluster)", p)
		}
	} else {
		sel := cmp.Or(r.LabelSelector, g.MirrorSvcLabelSelector, g.LabelSelector)
		if sel == "" {
			err = fmt.Errorf("%s: no label selector: set global.mirrorSvcLabelSelector, %s.labelSelector or --label-selector", p, p)
		}
		c.Reads = []Read{{Role: RoleMirrored, Selection: source.Selection{LabelSelector: sel, EndpointsAPI: remoteAPI}}}
		c.Options = generate.Options{Mode: generate.ModeEndpoints, ServicePrefix: r.ServicePrefix, MirrorNamespace: g.MirrorNamespace, EndpointsAPI: endpointsAPI}
	}
	if g.GlobalSvcLabelSelector != "" {
		c.Reads = append(c.Reads, Read{Role: RoleGlobal, Selection: source.Selection{LabelSelector: g.GlobalSvcLabelSelector, EndpointsAPI: remoteAPI}})
	}
	return c, manual && err == nil, err
}

func (c Config) endpointsMode() bool {
	for _, cl := range c.Clusters {
		if cl.Options.Mode == generate.ModeEndpoints {
			return true
		}
	}
	return false
}
