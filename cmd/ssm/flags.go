package main

import (
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/field"
)

const (
	catRemote   = "Remote cluster"
	catRender   = "Rendering"
	catOutput   = "Output"
	catNodePort = "NodePort mode"
	catLocal    = "Local cluster (read only)"
	catConfig   = "Configuration file (several remotes, global Services)"
)

// env names the environment variable of a flag: SSM_<FLAG_NAME>.
func env(flag string) []string {
	return []string{"SSM_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// remoteFlags say which remote to read and what to select in it; render and
// run share them.
func remoteFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "target-kube-config", Category: catRemote, EnvVars: env("target-kube-config"),
			Usage: "kubeconfig of the remote cluster to mirror Services from (exec plugins work)"},
		&cli.StringFlag{Name: "target-context", Category: catRemote, EnvVars: env("target-context"),
			Usage: "context in --target-kube-config (default: its current context)"},
		&cli.StringFlag{Name: "remote-api-url", Category: catRemote, EnvVars: env("remote-api-url"),
			Usage: "remote API server URL, with --remote-ca-url and --remote-sa-token-path"},
		&cli.StringFlag{Name: "remote-ca-url", Category: catRemote, EnvVars: env("remote-ca-url"),
			Usage: "remote CA bundle: an http(s) URL to fetch it from, or a file path"},
		&cli.StringFlag{Name: "remote-sa-token-path", Category: catRemote, EnvVars: env("remote-sa-token-path"),
			Usage: "file holding the remote service account token, re-read as it rotates (or set SSM_REMOTE_SERVICE_ACCOUNT_TOKEN to the token itself)"},
		&cli.StringFlag{Name: "remote-name", Category: catRemote, EnvVars: env("remote-name"),
			Usage: "name of the remote cluster, recorded on every mirror (default: --svc-prefix)"},
		&cli.StringFlag{Name: "label-selector", Aliases: []string{"mirror-svc-label-selector"}, Category: catRemote,
			EnvVars: append(env("label-selector"), "SSM_MIRROR_SVC_LABEL_SELECTOR"),
			Usage:   "label selector of the remote Services (and their endpoints) to mirror, e.g. mirror=true (required in endpoints mode; narrows nodeport mode)"},
		&cli.StringFlag{Name: "remote-endpoints-api", Category: catRemote, EnvVars: env("remote-endpoints-api"), Value: string(config.DefaultRemoteEndpointsAPI),
			Usage: "remote objects to read endpoints from: endpoints, or endpointslices (dual-stack, over 1,000 endpoints)"},
		&cli.DurationFlag{Name: "timeout", Category: catRemote, EnvVars: env("timeout"), Value: config.DefaultTimeout,
			Usage: "deadline of each request to the remote API server"},
	}
}

func renderFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mode", Category: catRender, EnvVars: env("mode"), Value: string(generate.ModeEndpoints),
			Usage: "endpoints: mirror Services with their pod IPs (flat network); nodeport: mirror Services with node ports, reached through the remote nodes (barrelman)"},
		&cli.StringFlag{Name: "svc-prefix", Category: catRender, EnvVars: env("svc-prefix"),
			Usage: "endpoints mode (required): prefix of mirror names <prefix>-<namespace>-73736d-<name>, and value of their mirror-svc-prefix-sync label"},
		&cli.StringFlag{Name: "mirror-ns", Category: catRender, EnvVars: env("mirror-ns"),
			Usage: "endpoints mode (required): local namespace the mirror Services are rendered into"},
		&cli.StringFlag{Name: "endpoints-api", Category: catRender, EnvVars: env("endpoints-api"), Value: string(config.DefaultEndpointsAPI),
			Usage: "endpoint objects to render: endpoints, endpointslices, or both (Endpoints then carry endpointslice.kubernetes.io/skip-mirror)"},
		&cli.BoolFlag{Name: "skip-invalid", Category: catRender, EnvVars: env("skip-invalid"),
			Usage: "exit 0 even when some remote Services cannot be mirrored (a mirror name over 63 characters or invalid, a port or protocol no API server accepts)"},
		&cli.StringFlag{Name: "layout", Category: catRender, EnvVars: env("layout"), Value: "flat",
			Usage: "flat: every mirror in one folder; namespaces: a folder per remote namespace (with its kustomization.yaml), so that a change rewrites one small git tree instead of one listing every mirror (large clusters; docs/scale.md)"},
		&cli.StringSliceFlag{Name: "deny-cidr", Category: catRender, EnvVars: env("deny-cidr"),
			Usage: "CIDR range no endpoint or node address of a remote may point into, such as the local cluster's Service and node ranges (repeatable; adds to the configuration file's denyCIDRs); loopback, unspecified, link-local, multicast, broadcast and IPv4-mapped addresses are always left out (docs/safety.md)"},
		&cli.StringFlag{Name: "max-removals", Category: catRender, EnvVars: env("max-removals"), Value: config.DefaultMaxRemovals,
			Usage: "most mirrors of one cluster a render may remove at once: a count (3) or a percentage of its stored mirrors (50%, rounded down; 100% turns the guard off). render writes nothing beyond it (exit 4); run holds that cluster's removals until approved"},
	}
}

// nodePortFlags are barrelman's options, for --mode nodeport.
func nodePortFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "ignore-namespace", Category: catNodePort, EnvVars: env("ignore-namespace"), Value: cli.NewStringSlice(config.DefaultIgnoreNamespaces()...),
			Usage: "remote namespace whose Services are never mirrored (repeatable)"},
		&cli.BoolFlag{Name: "exclude-unschedulable-nodes", Category: catNodePort, EnvVars: env("exclude-unschedulable-nodes"),
			Usage: "leave cordoned remote nodes out of the endpoints"},
		&cli.BoolFlag{Name: "nodeport-svc", Category: catNodePort, EnvVars: env("nodeport-svc"),
			Usage: "render type NodePort Services keeping the remote node ports, instead of ClusterIP"},
		&cli.BoolFlag{Name: "manual-endpoints", Category: catNodePort, EnvVars: env("manual-endpoints"), Value: true,
			Usage: "also render endpoints for local Services labelled tfw.io/barrelman=true, read from the local cluster"},
	}
}

// localFlags say how to read the local cluster, which ssm never writes: so
// that no mirror takes the name of a local Service ssm did not render, for
// NodePort mode's hand-written Services, and for global Services.
func localFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kube-config", Category: catLocal, EnvVars: env("kube-config"),
			Usage: "kubeconfig of the local cluster, read (never written) for the names of its Services where the mirrors go, and NodePort mode's hand-written Services (default: in-cluster)"},
		&cli.StringFlag{Name: "kube-context", Category: catLocal, EnvVars: env("kube-context"),
			Usage: "context in --kube-config"},
		&cli.BoolFlag{Name: "read-local", Category: catLocal, EnvVars: env("read-local"), Value: true,
			Usage: "read the local cluster's Services where the mirrors go, and render no mirror over one ssm did not render; endpoints mode reads it when --kube-config (render: --local-from-file) is given or ssm runs in a cluster, " +
				"NodePort mode always; false skips it (endpoints mode only)"},
		&cli.StringSliceFlag{Name: "adopt-service", Category: catLocal, EnvVars: env("adopt-service"),
			Usage: "`NAMESPACE/NAME` of a local Service that ssm did not render and may take over with a mirror of that name (repeatable); others are left to their owners and the remote Service is skipped (LocalServiceExists)"},
	}
}

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

// pipelineFlags are the flags of the commands that read and render.
func pipelineFlags() []cli.Flag {
	flags := append(remoteFlags(), renderFlags()...)
	flags = append(flags, localFlags()...)
	flags = append(flags, nodePortFlags()...)
	return append(flags, mcsFlags()...)
}

// overrides are the flags given on the command line or in SSM_* variables,
// for config: a flag not given is nil.
func overrides(c *cli.Context) config.Overrides {
	str := func(name string) *string { return given(c, name, c.String) }
	ov := config.Overrides{
		KubeConfig: str("target-kube-config"), Context: str("target-context"), APIURL: str("remote-api-url"),
		CAURL: str("remote-ca-url"), TokenPath: str("remote-sa-token-path"), Name: str("remote-name"),
		ServicePrefix: str("svc-prefix"), Mode: str("mode"), FromFile: str("from-file"),
		Token: os.Getenv("SSM_REMOTE_SERVICE_ACCOUNT_TOKEN"),

		MirrorNamespace: str("mirror-ns"), LabelSelector: str("label-selector"),
		GlobalSvcLabelSelector: str("global-svc-label-selector"), GlobalSvcRoutingStrategyLabel: str("global-svc-routing-strategy-label"),
		RemoteEndpointsAPI: str("remote-endpoints-api"), EndpointsAPI: str("endpoints-api"),
		Timeout: given(c, "timeout", c.Duration),

		IgnoreNamespaces:     given(c, "ignore-namespace", c.StringSlice),
		ExcludeUnschedulable: given(c, "exclude-unschedulable-nodes", c.Bool),
		NodePortService:      given(c, "nodeport-svc", c.Bool), ManualEndpoints: given(c, "manual-endpoints", c.Bool),
		LocalKubeConfig: str("kube-config"), LocalContext: str("kube-context"), LocalFromFile: str("local-from-file"),
		ReadLocal: given(c, "read-local", c.Bool), AdoptServices: given(c, "adopt-service", c.StringSlice),

		DenyCIDRs:       c.StringSlice("deny-cidr"),
		SkipInvalid:     c.Bool("skip-invalid"),
		MaxRemovals:     str("max-removals"),
		Layout:          str("layout"),
		AllowEmpty:      c.Bool("allow-empty"),
		MaxSnapshotSize: str("max-snapshot-size"),
		UserAgent:       "ssm/" + version,
		InCluster:       os.Getenv("KUBERNETES_SERVICE_HOST") != "",
		Shards:          given(c, "shards", c.Int), ShardIndex: given(c, "shard-index", c.Int),
	}
	mcsOverrides(c, &ov)
	return ov
}

// given returns the flag's value when it was given, else nil.
func given[T any](c *cli.Context, name string, get func(string) T) *T {
	if !c.IsSet(name) {
		return nil
	}
	v := get(name)
	return &v
}

// flagOf names the flag that sets each options field whose wrong value
// config, generate and mirror report as a *field.Error, by the field's Go
// name: the one place where those errors get their flag's name.
var flagOf = map[string]string{
	"Mode": "--mode", "ServicePrefix": "--svc-prefix", "MirrorNamespace": "--mirror-ns", "EndpointsAPI": "--endpoints-api",
	"Domain": "--domain", "ClusterDomain": "--cluster-domain", "Debounce": "--debounce", "MaxDelay": "--max-delay",
}

// flagged names, in a *field.Error about values the flags gave, the flags
// that gave them (field.Rename).
func flagged(err error) error { return field.Rename(err, flagOf) }
