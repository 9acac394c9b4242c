package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

const catConfig = "Configuration file (several remotes, global Services)"

// configFlags are semaphore-service-mirror's: a configuration file and the
// global settings that override it.
func configFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Category: catConfig, EnvVars: env("config"),
			Usage: "semaphore-service-mirror v0.4 configuration `FILE` (JSON or YAML): several remote clusters and global Services, one directory each; flags and SSM_* variables override it"},
		&cli.StringFlag{Name: "global-svc-label-selector", Category: catConfig, EnvVars: env("global-svc-label-selector"),
			Usage: "with --config: label selector of the Services, in every cluster, merged into global Services gl-<namespace>-73736d-<name> (overrides global.globalSvcLabelSelector)"},
		&cli.StringFlag{Name: "global-svc-routing-strategy-label", Category: catConfig,
			EnvVars: append(env("global-svc-routing-strategy-label"), "SSM_GLOBAL_SVC_TOPOLOGY_LABEL"),
			Usage:   "with --config: label selector of the global Services routed local-first with topology hints (overrides global.globalSvcRoutingStrategyLabel)"},
	}
}

// perRemoteFlags name one remote: with --config each remote's entry sets them.
var perRemoteFlags = map[string]string{
	"target-kube-config": "kubeConfigPath", "target-context": "context", "remote-api-url": "remoteAPIURL",
	"remote-ca-url": "remoteCAURL", "remote-sa-token-path": "remoteSATokenPath", "remote-name": "name",
	"svc-prefix": "servicePrefix", "mode": "mode", "from-file": "fromFile",
}

// clusterSpec is how one cluster of --config is read and rendered.
type clusterSpec struct {
	name  string
	local bool
	conn  source.Connection
	from  string // a snapshot file instead of the cluster (render)
	// What is read: the Services to mirror, the Services merged into global
	// Services, and (local cluster) the hand-written Services whose
	// endpoints a NodePort remote renders. nil: not read.
	mirror, global, manual *source.Selection
	gen                    generate.Options
	resync                 time.Duration // 0: --resync-period
}

// selections lists what is read of the cluster, named.
func (s clusterSpec) selections() []namedSelection {
	var out []namedSelection
	for _, n := range []namedSelection{{"mirror", s.mirror}, {"global", s.global}, {"manual", s.manual}} {
		if n.sel != nil {
			out = append(out, n)
		}
	}
	return out
}

type namedSelection struct {
	what string
	sel  *source.Selection
}

// multiConfig is --config with the flags applied: what render and run need.
type multiConfig struct {
	clusters []clusterSpec // the remotes in file order, then the local cluster when it is read
	global   generate.GlobalOptions
	// manualFor names the NodePort remote whose endpoints go to the local
	// cluster's hand-written Services.
	manualFor   string
	skipInvalid bool
	notes       []string
}

func multiConfigFrom(c *cli.Context) (multiConfig, error) {
	for _, f := range c.FlagNames() {
		if key, ok := perRemoteFlags[f]; ok && c.IsSet(f) {
			return multiConfig{}, fmt.Errorf("--%s names one remote: with --config set remoteClusters[].%s in the file", f, key)
		}
	}
	path := c.String("config")
	fc, err := readConfig(path)
	if err != nil {
		return multiConfig{}, err
	}
	overrideConfig(c, fc)
	if err := fc.finish(); err != nil {
		return multiConfig{}, fmt.Errorf("config %s (with flags applied): %w", path, err)
	}
	mc, err := resolve(c, fc)
	if err != nil {
		return multiConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	// fromFile, ssm's own key, is relative to the file, so that a
	// configuration and its snapshots move together.
	for i, s := range mc.clusters {
		if s.from != "" && s.from != "-" && !filepath.IsAbs(s.from) {
			mc.clusters[i].from = filepath.Join(filepath.Dir(path), s.from)
		}
	}
	return mc, nil
}

// overrideConfig applies the flags given on the command line or in SSM_*
// variables over the file, as semaphore-service-mirror does.
func overrideConfig(c *cli.Context, fc *fileConfig) {
	set := func(flag string, dst *string) {
		if c.IsSet(flag) {
			*dst = c.String(flag)
		}
	}
	g, l := &fc.Global, &fc.LocalCluster
	set("label-selector", &g.MirrorSvcLabelSelector)
	set("mirror-ns", &g.MirrorNamespace)
	set("global-svc-label-selector", &g.GlobalSvcLabelSelector)
	set("global-svc-routing-strategy-label", &g.GlobalSvcRoutingStrategyLabel)
	set("kube-config", &l.KubeConfigPath)
	set("kube-context", &l.Context)
	set("local-from-file", &l.FromFile)
	for i := range fc.RemoteClusters {
		r := &fc.RemoteClusters[i]
		set("remote-endpoints-api", &r.RemoteEndpointsAPI)
		set("endpoints-api", &r.EndpointsAPI)
	}
}

// resolve turns the checked file into each cluster's reads and options.
// Values neither the file nor a flag sets take the flags' defaults.
func resolve(c *cli.Context, fc *fileConfig) (multiConfig, error) {
	g, lc := fc.Global, fc.LocalCluster
	mc := multiConfig{skipInvalid: c.Bool("skip-invalid"), notes: fc.notes,
		global: generate.GlobalOptions{MirrorNamespace: g.MirrorNamespace, RoutingStrategy: g.GlobalSvcRoutingStrategyLabel, LocalZones: lc.Zones}}
	localRead := lc.KubeConfigPath != "" || lc.FromFile != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != ""
	mirrorSel := cmp.Or(g.MirrorSvcLabelSelector, g.LabelSelector)
	var errs []error
	for i, r := range fc.RemoteClusters {
		p := fmt.Sprintf("remoteClusters[%d]", i)
		spec := clusterSpec{name: r.Name, conn: r.connection(), from: r.FromFile, resync: r.ResyncPeriod.Duration}
		spec.conn.UserAgent, spec.conn.Timeout = "ssm/"+version, cmp.Or(r.Timeout.Duration, c.Duration("timeout"))
		remoteAPI := source.EndpointsAPI(cmp.Or(r.RemoteEndpointsAPI, c.String("remote-endpoints-api")))
		if generate.Mode(r.Mode) == generate.ModeNodePort {
			spec.mirror = &source.Selection{LabelSelector: r.LabelSelector, EndpointsAPI: source.NoEndpoints, Nodes: true}
			spec.gen = generate.Options{Mode: generate.ModeNodePort, EndpointsAPI: generate.EndpointsAPI(cmp.Or(r.EndpointsAPI, c.String("endpoints-api"))),
				IgnoreNamespaces:     r.IgnoreNamespaces,
				ExcludeUnschedulable: flagOr(c, "exclude-unschedulable-nodes", r.ExcludeUnschedulableNodes, false),
				NodePortService:      flagOr(c, "nodeport-svc", r.NodePortService, false)}
			if c.IsSet("ignore-namespace") || r.IgnoreNamespaces == nil {
				spec.gen.IgnoreNamespaces = c.StringSlice("ignore-namespace")
			}
			switch manual := flagOr(c, "manual-endpoints", r.ManualEndpoints, localRead); {
			case manual && !localRead:
				errs = append(errs, fmt.Errorf("%s.manualEndpoints: the local cluster is not read: set localCluster.kubeConfigPath (or run in a cluster)", p))
			case manual:
				mc.manualFor = r.Name
			}
		} else {
			sel := cmp.Or(r.LabelSelector, mirrorSel)
			if sel == "" {
				errs = append(errs, fmt.Errorf("%s: no label selector: set global.mirrorSvcLabelSelector, %s.labelSelector or --label-selector", p, p))
			}
			spec.mirror = &source.Selection{LabelSelector: sel, EndpointsAPI: remoteAPI}
			spec.gen = generate.Options{Mode: generate.ModeEndpoints, ServicePrefix: r.ServicePrefix, MirrorNamespace: g.MirrorNamespace,
				EndpointsAPI: generate.EndpointsAPI(cmp.Or(r.EndpointsAPI, c.String("endpoints-api")))}
		}
		if g.GlobalSvcLabelSelector != "" {
			spec.global = &source.Selection{LabelSelector: g.GlobalSvcLabelSelector, EndpointsAPI: remoteAPI}
		}
		mc.clusters = append(mc.clusters, spec)
	}
	if (g.GlobalSvcLabelSelector != "" || mc.endpointsMode()) && g.MirrorNamespace == "" {
		errs = append(errs, errors.New("global.mirrorNamespace: required (or --mirror-ns)"))
	}
	switch {
	case localRead && (g.GlobalSvcLabelSelector != "" || mc.manualFor != ""):
		mc.clusters = append(mc.clusters, mc.localSpec(lc, c.Duration("timeout"), g.GlobalSvcLabelSelector))
	case g.GlobalSvcLabelSelector != "":
		mc.notes = append(mc.notes, "localCluster is not read (no kubeConfigPath, fromFile or in-cluster configuration): global Services get remote endpoints only")
	}
	for _, s := range mc.clusters {
		if s.from == "-" {
			errs = append(errs, fmt.Errorf("cluster %s: fromFile - (stdin) cannot be used with --config", s.name))
		}
	}
	return mc, errors.Join(errs...)
}

func (mc multiConfig) endpointsMode() bool {
	for _, s := range mc.clusters {
		if s.gen.Mode == generate.ModeEndpoints {
			return true
		}
	}
	return false
}

// localSpec reads the local cluster, never writing it: its global Services
// (through EndpointSlices, which carry zones) and, for a NodePort remote,
// its hand-written Services.
func (mc multiConfig) localSpec(lc localConfig, timeout time.Duration, globalSel string) clusterSpec {
	spec := clusterSpec{name: lc.Name, local: true, from: lc.FromFile,
		conn: source.Connection{KubeConfig: lc.KubeConfigPath, Context: lc.Context, UserAgent: "ssm/" + version, Timeout: timeout}}
	if globalSel != "" {
		spec.global = &source.Selection{LabelSelector: globalSel, EndpointsAPI: source.EndpointSlices}
	}
	if mc.manualFor != "" {
		spec.manual = &source.Selection{LabelSelector: generate.LabelBarrelman + "=" + generate.BarrelmanManual, EndpointsAPI: source.NoEndpoints}
	}
	return spec
}

// flagOr is a boolean flag when given, else the file's value, else def.
func flagOr(c *cli.Context, flag string, file *bool, def bool) bool {
	switch {
	case c.IsSet(flag):
		return c.Bool(flag)
	case file != nil:
		return *file
	}
	return def
}

// clusterState is what was read of one cluster.
type clusterState struct {
	mirror, global, manual source.State
}

// tree is what generate.Tree renders from the clusters' states, in
// mc.clusters' order.
func (mc multiConfig) tree(states []clusterState) []generate.Cluster {
	var manual []*corev1.Service
	for i, s := range mc.clusters {
		if s.local {
			manual = states[i].manual.Services
		}
	}
	out := make([]generate.Cluster, len(mc.clusters))
	for i, s := range mc.clusters {
		out[i] = generate.Cluster{Name: s.name, Local: s.local, Options: s.gen,
			Mirror: stateFor(states[i].mirror, source.State{}), Global: stateFor(states[i].global, source.State{})}
		if s.name == mc.manualFor {
			out[i].Mirror.LocalServices = manual
		}
	}
	return out
}

// readAll reads every cluster at once; any failure fails the render.
func (mc multiConfig) readAll(ctx context.Context, stdin io.Reader, logger *slog.Logger) ([]clusterState, error) {
	states := make([]clusterState, len(mc.clusters))
	errs := make([]error, len(mc.clusters))
	var wg sync.WaitGroup
	for i, s := range mc.clusters {
		wg.Go(func() {
			for _, n := range s.selections() {
				st, err := readState(ctx, "cluster "+s.name, s.conn, *n.sel, s.from, stdin, logger)
				if err != nil {
					errs[i] = fmt.Errorf("%s (%s Services): %w", s.name, n.what, err)
					return
				}
				*states[i].field(n.what) = st
			}
		})
	}
	wg.Wait()
	return states, errors.Join(errs...)
}

func (s *clusterState) field(what string) *source.State {
	switch what {
	case "global":
		return &s.global
	case "manual":
		return &s.manual
	}
	return &s.mirror
}

func (mc multiConfig) names() string {
	names := make([]string, 0, len(mc.clusters))
	for _, s := range mc.clusters {
		if !s.local {
			names = append(names, s.name)
		}
	}
	return strings.Join(names, ", ")
}
