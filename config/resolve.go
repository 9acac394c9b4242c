package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

// manualHint says how to do without the local cluster in NodePort mode.
const manualHint = "the local cluster is read for --manual-endpoints; --manual-endpoints=false skips it"

// Resolve resolves what to read and render: the configuration file at path
// with ov over it or, when path is empty, the one remote ov describes.
func Resolve(path string, ov Overrides) (Config, error) {
	limit, err := ParseRemovalLimit(or(ov.MaxRemovals, DefaultMaxRemovals))
	if err != nil {
		return Config{}, err
	}
	cfg, err := resolve(path, ov)
	cfg.MaxRemovals, cfg.AllowEmpty = limit, ov.AllowEmpty
	return cfg, err
}

func resolve(path string, ov Overrides) (Config, error) {
	if path == "" {
		return flat(ov)
	}
	if err := ov.checkPerRemote(); err != nil {
		return Config{}, err
	}
	f, err := Load(path, ov)
	if err != nil {
		return Config{}, err
	}
	cfg, err := tree(f, ov)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// flat is the one remote of plain flags, and in NodePort mode the local
// cluster for its hand-written Services.
func flat(ov Overrides) (Config, error) {
	for _, g := range []struct {
		flag string
		v    *string
	}{{"global-svc-label-selector", ov.GlobalSvcLabelSelector}, {"global-svc-routing-strategy-label", ov.GlobalSvcRoutingStrategyLabel}} {
		if or(g.v, "") != "" {
			return Config{}, fmt.Errorf("--%s: global Services merge several clusters: give them in --config", g.flag)
		}
	}
	timeout := or(ov.Timeout, DefaultTimeout)
	if timeout < 0 {
		return Config{}, fmt.Errorf("--timeout %s: must not be negative", timeout)
	}
	remote := Cluster{
		Conn: source.Connection{KubeConfig: or(ov.KubeConfig, ""), Context: or(ov.Context, ""), APIURL: or(ov.APIURL, ""),
			CAURL: or(ov.CAURL, ""), TokenPath: or(ov.TokenPath, ""), Token: ov.Token, UserAgent: ov.UserAgent, Timeout: timeout},
		FromFile: or(ov.FromFile, ""),
		Options: generate.Options{Mode: generate.Mode(or(ov.Mode, string(generate.ModeEndpoints))),
			Cluster: or(ov.Name, ""), ServicePrefix: or(ov.ServicePrefix, ""), MirrorNamespace: or(ov.MirrorNamespace, ""),
			EndpointsAPI: generate.EndpointsAPI(or(ov.EndpointsAPI, string(DefaultEndpointsAPI)))},
	}
	remote.Options.Cluster = cmp.Or(remote.Options.Cluster, remote.Options.ServicePrefix)
	remote.Name = remote.Options.Cluster
	sel := source.Selection{LabelSelector: or(ov.LabelSelector, ""),
		EndpointsAPI: source.EndpointsAPI(or(ov.RemoteEndpointsAPI, string(DefaultRemoteEndpointsAPI)))}
	cfg := Config{Layout: Flat, SkipInvalid: ov.SkipInvalid}
	gen := &remote.Options
	switch {
	case !slices.Contains(generate.Modes, gen.Mode):
		return Config{}, fmt.Errorf("--mode %q: want one of %v", gen.Mode, generate.Modes)
	case gen.Mode == generate.ModeNodePort:
		sel.EndpointsAPI, sel.Nodes = source.NoEndpoints, true
		gen.IgnoreNamespaces = or(ov.IgnoreNamespaces, DefaultIgnoreNamespaces())
		gen.ExcludeUnschedulable = or(ov.ExcludeUnschedulable, false)
		gen.NodePortService = or(ov.NodePortService, false)
	default:
		if err := required(map[string]string{"label-selector": sel.LabelSelector, "svc-prefix": gen.ServicePrefix, "mirror-ns": gen.MirrorNamespace},
			"label-selector", "svc-prefix", "mirror-ns"); err != nil {
			return Config{}, err
		}
	}
	if err := sel.Validate(); err != nil {
		return Config{}, fmt.Errorf("--label-selector/--remote-endpoints-api: %w", err)
	}
	if err := gen.Validate(); err != nil {
		return Config{}, fmt.Errorf("--mode/--svc-prefix/--mirror-ns/--endpoints-api: %w", err)
	}
	if remote.FromFile != "" && remote.Conn.Given() {
		return Config{}, errors.New("--from-file reads a snapshot: drop the remote connection flags")
	}
	remote.Reads = []Read{{Role: RoleMirrored, Selection: sel}}
	cfg.Clusters = []Cluster{remote}
	if gen.Mode == generate.ModeNodePort && or(ov.ManualEndpoints, true) {
		local := localCluster("local", or(ov.LocalKubeConfig, ""), or(ov.LocalContext, ""), or(ov.LocalFromFile, ""), ov.UserAgent, timeout)
		if local.FromFile == "-" && remote.FromFile == "-" {
			return Config{}, errors.New("--from-file and --local-from-file cannot both read stdin")
		}
		local.Reads, local.Hint = []Read{manualRead()}, manualHint
		cfg.Clusters, cfg.ManualFor = append(cfg.Clusters, local), remote.Name
	}
	return cfg, nil
}

// required reports the named values that are empty, as the command line
// parser reports missing required flags.
func required(values map[string]string, names ...string) error {
	var missing []string
	for _, n := range names {
		if values[n] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("Required flags %q not set", strings.Join(missing, ", "))
	}
	return nil
}

func localCluster(name, kubeConfig, context, from, userAgent string, timeout time.Duration) Cluster {
	return Cluster{Name: name, Local: true, FromFile: from,
		Conn: source.Connection{KubeConfig: kubeConfig, Context: context, UserAgent: userAgent, Timeout: timeout}}
}

// manualRead selects the local Services labelled tfw.io/barrelman=true.
func manualRead() Read {
	return Read{Role: RoleManual, Selection: source.Selection{LabelSelector: generate.LabelBarrelman + "=" + generate.BarrelmanManual, EndpointsAPI: source.NoEndpoints}}
}
