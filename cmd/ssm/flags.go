package main

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

const (
	catRemote = "Remote cluster"
	catRender = "Rendering"
	catOutput = "Output"
)

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
		&cli.StringFlag{Name: "remote-endpoints-api", Category: catRemote, EnvVars: env("remote-endpoints-api"), Value: string(source.Endpoints),
			Usage: "remote objects to read endpoints from: endpoints, or endpointslices (dual-stack, over 1,000 endpoints)"},
		&cli.DurationFlag{Name: "timeout", Category: catRemote, EnvVars: env("timeout"), Value: 30 * time.Second,
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
		&cli.StringFlag{Name: "endpoints-api", Category: catRender, EnvVars: env("endpoints-api"), Value: string(generate.Endpoints),
			Usage: "endpoint objects to render: endpoints, endpointslices, or both (Endpoints then carry endpointslice.kubernetes.io/skip-mirror)"},
		&cli.BoolFlag{Name: "skip-invalid", Category: catRender, EnvVars: env("skip-invalid"),
			Usage: "exit 0 even when some remote Services cannot be mirrored (mirror name over 63 characters or invalid)"},
	}
}

const catNodePort = "NodePort mode"

// nodePortFlags are barrelman's options, for --mode nodeport.
func nodePortFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "ignore-namespace", Category: catNodePort, EnvVars: env("ignore-namespace"), Value: cli.NewStringSlice("kube-system"),
			Usage: "remote namespace whose Services are never mirrored (repeatable)"},
		&cli.BoolFlag{Name: "exclude-unschedulable-nodes", Category: catNodePort, EnvVars: env("exclude-unschedulable-nodes"),
			Usage: "leave cordoned remote nodes out of the endpoints"},
		&cli.BoolFlag{Name: "nodeport-svc", Category: catNodePort, EnvVars: env("nodeport-svc"),
			Usage: "render type NodePort Services keeping the remote node ports, instead of ClusterIP"},
		&cli.BoolFlag{Name: "manual-endpoints", Category: catNodePort, EnvVars: env("manual-endpoints"), Value: true,
			Usage: "also render endpoints for local Services labelled tfw.io/barrelman=true, read from the local cluster"},
		&cli.StringFlag{Name: "kube-config", Category: catNodePort, EnvVars: env("kube-config"),
			Usage: "kubeconfig of the local cluster, read (never written) for --manual-endpoints (default: in-cluster)"},
		&cli.StringFlag{Name: "kube-context", Category: catNodePort, EnvVars: env("kube-context"),
			Usage: "context in --kube-config"},
	}
}

// pipelineConfig is what render and run share: where the remote is, what to
// select, and how to render it.
type pipelineConfig struct {
	conn        source.Connection
	sel         source.Selection
	gen         generate.Options
	skipInvalid bool
	// local is read, when manual is set, for hand-written Services whose
	// endpoints NodePort mode renders.
	manual   bool
	local    source.Connection
	localSel source.Selection
}

// setUp builds the logger and the validated pipeline configuration every
// command that renders starts with.
func setUp(c *cli.Context) (*slog.Logger, pipelineConfig, error) {
	logger, err := newLogger(c)
	if err != nil {
		return nil, pipelineConfig{}, err
	}
	cfg, err := pipelineConfigFrom(c)
	return logger, cfg, err
}

func pipelineConfigFrom(c *cli.Context) (pipelineConfig, error) {
	for _, f := range []string{"global-svc-label-selector", "global-svc-routing-strategy-label"} {
		if c.String(f) != "" {
			return pipelineConfig{}, fmt.Errorf("--%s: global Services merge several clusters: give them in --config", f)
		}
	}
	cfg := pipelineConfig{
		conn: source.Connection{
			KubeConfig: c.String("target-kube-config"),
			Context:    c.String("target-context"),
			APIURL:     c.String("remote-api-url"),
			CAURL:      c.String("remote-ca-url"),
			TokenPath:  c.String("remote-sa-token-path"),
			Token:      os.Getenv("SSM_REMOTE_SERVICE_ACCOUNT_TOKEN"),
			UserAgent:  "ssm/" + version,
			Timeout:    c.Duration("timeout"),
		},
		sel: source.Selection{
			LabelSelector: c.String("label-selector"),
			EndpointsAPI:  source.EndpointsAPI(c.String("remote-endpoints-api")),
		},
		gen: generate.Options{
			Mode:            generate.Mode(c.String("mode")),
			Cluster:         c.String("remote-name"),
			ServicePrefix:   c.String("svc-prefix"),
			MirrorNamespace: c.String("mirror-ns"),
			EndpointsAPI:    generate.EndpointsAPI(c.String("endpoints-api")),
		},
		skipInvalid: c.Bool("skip-invalid"),
	}
	if cfg.gen.Cluster == "" {
		cfg.gen.Cluster = cfg.gen.ServicePrefix
	}
	if !slices.Contains(generate.Modes, cfg.gen.Mode) {
		return cfg, fmt.Errorf("--mode %q: want one of %v", cfg.gen.Mode, generate.Modes)
	}
	if cfg.gen.Mode == generate.ModeNodePort {
		nodePortConfig(c, &cfg)
	} else if err := requireFlags(c, "label-selector", "svc-prefix", "mirror-ns"); err != nil {
		return cfg, err
	}
	if err := cfg.sel.Validate(); err != nil {
		return cfg, fmt.Errorf("--label-selector/--remote-endpoints-api: %w", err)
	}
	if err := cfg.gen.Validate(); err != nil {
		return cfg, fmt.Errorf("--mode/--svc-prefix/--mirror-ns/--endpoints-api: %w", err)
	}
	return cfg, nil
}

// nodePortConfig reads barrelman's options: remote Services (label
// selection optional) and nodes, no remote endpoints; and the local
// cluster's hand-written Services.
func nodePortConfig(c *cli.Context, cfg *pipelineConfig) {
	cfg.sel.EndpointsAPI, cfg.sel.Nodes = source.NoEndpoints, true
	cfg.gen.IgnoreNamespaces = c.StringSlice("ignore-namespace")
	cfg.gen.ExcludeUnschedulable = c.Bool("exclude-unschedulable-nodes")
	cfg.gen.NodePortService = c.Bool("nodeport-svc")
	cfg.manual = c.Bool("manual-endpoints")
	cfg.local = source.Connection{KubeConfig: c.String("kube-config"), Context: c.String("kube-context"),
		UserAgent: cfg.conn.UserAgent, Timeout: cfg.conn.Timeout}
	cfg.localSel = source.Selection{LabelSelector: generate.LabelBarrelman + "=" + generate.BarrelmanManual, EndpointsAPI: source.NoEndpoints}
}

// requireFlags reports the named flags that are empty, as urfave/cli does.
func requireFlags(c *cli.Context, names ...string) error {
	var missing []string
	for _, n := range names {
		if c.String(n) == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("Required flags %q not set", strings.Join(missing, ", "))
	}
	return nil
}

// stateFor is what generate renders: the remote's state and, in NodePort
// mode, the local cluster's hand-written Services.
func stateFor(remote, local source.State) generate.State {
	return generate.State{Services: remote.Services, Endpoints: remote.Endpoints, EndpointSlices: remote.EndpointSlices,
		Nodes: remote.Nodes, LocalServices: local.Services}
}
