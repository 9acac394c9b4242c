package config

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/field"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// Hints appended to errors reading the local cluster: why it is read and
// how to do without.
const (
	ownersHint = "the local cluster is read, never written, so that no mirror takes the name of a local Service ssm did not render: " +
		"give --kube-config, or run in the local cluster; --read-local=false skips it"
	nodePortHint = "NodePort mode reads the local cluster, never writing it, so that a remote Service never takes the name of a local one ssm did not render: " +
		"give --kube-config (render: --local-from-file), or run in the local cluster"
)

// Resolve resolves what to read and render: the configuration file at path
// with ov over it or, when path is empty, the one remote ov describes.
func Resolve(path string, ov Overrides) (Config, error) {
	limit, err := ParseRemovalLimit(or(ov.MaxRemovals, DefaultMaxRemovals))
	if err != nil {
		return Config{}, err
	}
	byNamespace := false
	switch l := or(ov.Layout, "flat"); l {
	case "flat":
	case "namespaces":
		byNamespace = true
	default:
		return Config{}, fmt.Errorf("--layout %q: want flat (one folder of every mirror) or namespaces (a folder per remote namespace)", l)
	}
	deny, err := ParseDenyCIDRs("--deny-cidr", ov.DenyCIDRs)
	if err != nil {
		return Config{}, err
	}
	var maxSnapshot int64
	if ov.MaxSnapshotSize != nil {
		if maxSnapshot, err = ParseSnapshotSize(*ov.MaxSnapshotSize); err != nil {
			return Config{}, err
		}
	}
	cfg, err := resolve(path, ov)
	if err != nil {
		return cfg, err
	}
	cfg.MaxRemovals, cfg.AllowEmpty, cfg.MaxSnapshotSize = limit, ov.AllowEmpty, maxSnapshot
	cfg.Shard = Shard{Index: or(ov.ShardIndex, 0), Count: or(ov.Shards, 0)}
	if err := cfg.checkShard(); err != nil {
		return Config{}, err
	}
	for i, c := range cfg.Clusters {
		cfg.Clusters[i].Options.ByNamespace = byNamespace
		if !c.Local { // the local cluster's endpoints are local by definition
			cfg.Clusters[i].Options.DenyCIDRs = denyUnion(c.Options.DenyCIDRs, deny)
		}
	}
	cfg.MCS.ByNamespace = byNamespace
	return cfg, err
}

func resolve(path string, ov Overrides) (Config, error) {
	if path == "" {
		api, err := apiOf(ov, "")
		switch {
		case err != nil:
			return Config{}, err
		case api == generate.APIMCS:
			return flatMCS(ov)
		}
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
	conn, err := flagConn(ov)
	if err != nil {
		return Config{}, err
	}
	timeout := conn.Timeout
	remote := Cluster{
		Conn:     conn,
		FromFile: or(ov.FromFile, ""),
		Options: generate.Options{Mode: generate.Mode(or(ov.Mode, string(generate.ModeEndpoints))),
			Cluster: or(ov.Name, ""), ServicePrefix: or(ov.ServicePrefix, ""), MirrorNamespace: or(ov.MirrorNamespace, ""),
			EndpointsAPI: kubeapi.EndpointsAPI(or(ov.EndpointsAPI, string(DefaultEndpointsAPI)))},
	}
	remote.Options.Cluster = cmp.Or(remote.Options.Cluster, remote.Options.ServicePrefix)
	// A name for logs and metrics even in NodePort mode without
	// --remote-name; the mirrors carry none then.
	remote.Name = cmp.Or(remote.Options.Cluster, "remote")
	sel := source.Selection{LabelSelector: or(ov.LabelSelector, ""),
		EndpointsAPI: kubeapi.EndpointsAPI(or(ov.RemoteEndpointsAPI, string(DefaultRemoteEndpointsAPI)))}
	cfg := Config{Layout: Flat, SkipInvalid: ov.SkipInvalid}
	gen := &remote.Options
	switch gen.Mode {
	case generate.ModeNodePort:
		sel.EndpointsAPI, sel.Nodes = kubeapi.NoEndpoints, true
		gen.IgnoreNamespaces = or(ov.IgnoreNamespaces, DefaultIgnoreNamespaces())
		gen.ExcludeUnschedulable = or(ov.ExcludeUnschedulable, false)
		gen.NodePortService = or(ov.NodePortService, false)
		gen.ManualEndpoints = or(ov.ManualEndpoints, true)
	case generate.ModeEndpoints:
		if err := required(map[string]string{"label-selector": sel.LabelSelector, "svc-prefix": gen.ServicePrefix, "mirror-ns": gen.MirrorNamespace},
			"label-selector", "svc-prefix", "mirror-ns"); err != nil {
			return Config{}, err
		}
	default:
		// Named by its Overrides field, as generate names its own: cmd/ssm
		// names the flag. An explicit "" is not endpoints mode here.
		return Config{}, field.Invalid("Mode", "mode", strconv.Quote(string(gen.Mode)), fmt.Sprintf("want one of %v", generate.Modes))
	}
	gen.Adopt = or(ov.AdoptServices, nil)
	for _, a := range gen.Adopt {
		if err := validAdopt(a); err != nil {
			return Config{}, fmt.Errorf("--adopt-service %w", err)
		}
	}
	if err := flagErrors(sel, *gen); err != nil {
		return Config{}, err
	}
	if remote.FromFile != "" && remote.Conn.Given() {
		return Config{}, errors.New("--from-file reads a snapshot: drop the remote connection flags")
	}
	remote.Reads = []Read{{Role: RoleMirrored, Selection: sel}}
	cfg.Clusters = []Cluster{remote}
	local := localCluster("local", or(ov.LocalKubeConfig, ""), or(ov.LocalContext, ""), or(ov.LocalFromFile, ""), ov.UserAgent, timeout)
	read, err := readsLocal(gen.Mode == generate.ModeNodePort, local, ov)
	if err != nil || !read {
		return cfg, err
	}
	if local.FromFile == "-" && remote.FromFile == "-" {
		return Config{}, errors.New("--from-file and --local-from-file cannot both read stdin")
	}
	local.Reads, local.Hint = []Read{ownersRead(gen.Mode == generate.ModeNodePort, gen.MirrorNamespace)}, ownersHint
	if gen.Mode == generate.ModeNodePort {
		local.Hint = nodePortHint
	}
	cfg.Clusters = append(cfg.Clusters, local)
	return cfg, nil
}

// readsLocal says whether the local cluster is read for the names it
// holds: always in NodePort mode, which renders remote Services under
// their own names; in endpoints mode, whose mirrors live in ssm's mirror
// namespace, when it is named or ssm runs in a cluster, unless
// --read-local=false.
func readsLocal(nodePort bool, local Cluster, ov Overrides) (bool, error) {
	want := or(ov.ReadLocal, true)
	switch {
	case nodePort && !want:
		return false, errors.New("--read-local=false: NodePort mode renders remote Services under their own names, and reads the local cluster so that it never takes one of its Services (--read-local=false is for endpoints mode)")
	case nodePort:
		return true, nil
	}
	return want && (local.FromFile != "" || local.Conn.KubeConfig != "" || ov.InCluster), nil
}

// required reports the named values that are empty, as flags.
func required(values map[string]string, names ...string) error {
	var missing []string
	for _, n := range names {
		if values[n] == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("required flags not set: %s (or give a configuration file with --config)", strings.Join(missing, ", "))
	}
	return nil
}

// flagErrors checks what the flags select and render: the selection here,
// naming its flags; the rendering options by generate's Validate, whose
// *field.Error names the options at fault (cmd/ssm names their flags).
func flagErrors(sel source.Selection, gen generate.Options) error {
	if _, err := labels.Parse(sel.LabelSelector); err != nil {
		return fmt.Errorf("--label-selector %q: %w", sel.LabelSelector, err)
	}
	if api := sel.EndpointsAPI; api != kubeapi.Endpoints && api != kubeapi.EndpointSlices && api != kubeapi.NoEndpoints {
		return fmt.Errorf("--remote-endpoints-api %q: want %s or %s", api, kubeapi.Endpoints, kubeapi.EndpointSlices)
	}
	return gen.Validate()
}

func localCluster(name, kubeConfig, context, from, userAgent string, timeout time.Duration) Cluster {
	return Cluster{Name: name, Local: true, FromFile: from,
		Conn: source.Connection{KubeConfig: kubeConfig, Context: context, UserAgent: userAgent, Timeout: timeout}}
}

// ownersRead selects what the local cluster holds where the mirrors go:
// the Services of the mirror namespace or, in NodePort mode, every
// Service (its hand-written ones among them) and every namespace.
func ownersRead(nodePort bool, mirrorNamespace string) Read {
	sel := source.Selection{EndpointsAPI: kubeapi.NoEndpoints, Namespace: mirrorNamespace}
	if nodePort {
		sel.Namespace, sel.Namespaces = "", true
	}
	return Read{Role: RoleLocal, Selection: sel}
}

// flagConn is the remote connection the flags give, with its timeout
// checked.
func flagConn(ov Overrides) (source.Connection, error) {
	timeout := or(ov.Timeout, DefaultTimeout)
	if timeout < 0 {
		return source.Connection{}, fmt.Errorf("--timeout %s: must not be negative", timeout)
	}
	return source.Connection{KubeConfig: or(ov.KubeConfig, ""), Context: or(ov.Context, ""), APIURL: or(ov.APIURL, ""),
		CAURL: or(ov.CAURL, ""), TokenPath: or(ov.TokenPath, ""), Token: ov.Token, UserAgent: ov.UserAgent, Timeout: timeout}, nil
}
