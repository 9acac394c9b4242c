package migrate

import (
	"cmp"
	"context"
	"errors"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

// Local is the local cluster as a configuration reads it, or else through
// kubeConfig and its context (in-cluster when empty).
func Local(cfg config.Config, kubeConfig, context string, timeout time.Duration) source.Connection {
	if i := cfg.Local(); i >= 0 {
		return cfg.Clusters[i].Conn
	}
	return source.Connection{KubeConfig: kubeConfig, Context: context, Timeout: timeout}
}

// FromConfig returns the Options of a configuration whose render is
// rendered: its mirror namespace, its remotes' prefixes, and a client of
// local.
func FromConfig(ctx context.Context, cfg config.Config, rendered fileset.Files, local source.Connection) (Options, error) {
	opts := Options{Namespace: cfg.Global.MirrorNamespace, Rendered: rendered, Timeout: local.Timeout}
	for _, c := range cfg.Clusters {
		if !c.Local && c.Options.Mode != generate.ModeNodePort {
			opts.Prefixes = append(opts.Prefixes, c.Options.ServicePrefix)
			opts.Namespace = cmp.Or(opts.Namespace, c.Options.MirrorNamespace)
		}
	}
	if opts.Namespace == "" {
		return Options{}, errors.New("no mirror namespace: semaphore-service-mirror wrote into global.mirrorNamespace")
	}
	rc, err := source.RESTConfig(ctx, local)
	if err != nil {
		return Options{}, err
	}
	// Listing v1 Endpoints draws the API server's deprecation warning:
	// here they are read to be deleted.
	rc.WarningHandler = rest.NoWarnings{}
	if opts.Client, err = source.NewClient(rc); err != nil {
		return Options{}, err
	}
	return opts, nil
}
