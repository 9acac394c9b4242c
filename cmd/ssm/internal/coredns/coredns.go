// Package coredns is the ssm coredns command: the Corefile server blocks
// that answer a remote's names from its mirrors, or the Multi-Cluster
// Services API's clusterset zone. It keeps the command out of cmd/ssm's
// main package, which holds the flags shared between commands.
package coredns

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/field"
)

// Options are what the command takes from cmd/ssm.
type Options struct {
	// Env names the environment variables of a flag.
	Env func(flag string) []string
	// Flagged names, in an error about a value a flag gave, that flag.
	Flagged func(error) error
}

// Command is ssm coredns.
func Command(o Options) *cli.Command {
	env := o.Env
	return &cli.Command{
		Name:  "coredns",
		Usage: "print the CoreDNS server block that answers <name>.<namespace>.svc.<remote domain> from the mirrors",
		Description: "Prints a Corefile server block for the remote's DNS domain. Its rewrite rules map\n" +
			"<name>.<namespace>.svc.<domain> (and <hostname>.… and _<port>._<proto>.… below it) to the mirror\n" +
			"<prefix>-<namespace>-73736d-<name>.<mirror-ns>.svc.<cluster-domain>, and the answers back, so\n" +
			"clients see only names of the remote domain. Add it to the local cluster's Corefile.",
		UsageText: "ssm coredns (--svc-prefix P --mirror-ns NS --domain D | --config FILE) [--cluster-domain cluster.local]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", EnvVars: env("config"),
				Usage: "print a block for every endpoints-mode remote of this configuration file (semaphore-service-mirror v0.4 format); a remote's domain is its domain key, or cluster.<name>"},
			&cli.StringFlag{Name: "svc-prefix", EnvVars: env("svc-prefix"),
				Usage: "prefix of the remote's mirror names, as given to render and run (required without --config)"},
			&cli.StringFlag{Name: "mirror-ns", EnvVars: env("mirror-ns"),
				Usage: "local namespace the remote's mirror Services are in (required without --config; overrides global.mirrorNamespace)"},
			&cli.StringFlag{Name: "domain", EnvVars: env("domain"),
				Usage: "the remote cluster's DNS domain, e.g. cluster.east: the zone the block answers for (required without --config)"},
			&cli.StringFlag{Name: "cluster-domain", EnvVars: env("cluster-domain"), Value: "cluster.local",
				Usage: "the local cluster's DNS domain, the one its kubernetes plugin serves"},
			&cli.StringFlag{Name: "api", EnvVars: env("api"), Value: string(generate.APIMirrors),
				Usage: "mirrors: the rewrite blocks of semaphore-style mirrors; mcs: the block that answers the Multi-Cluster Services API's <name>.<namespace>.svc.clusterset.local (with --config: its global.api unless given)"},
			&cli.StringFlag{Name: "clusterset-zone", EnvVars: env("clusterset-zone"), Value: generate.DefaultClusterSetZone,
				Usage: "--api mcs: the clusterset's DNS zone"},
		},
		Action: func(c *cli.Context) error { return action(c, o) },
	}
}

func action(c *cli.Context, o Options) error {
	if mcs, err := mcs(c); mcs || err != nil {
		return err
	}
	blocks, err := blocks(c)
	if err != nil {
		return err
	}
	var out []string
	for _, b := range blocks {
		stanza, err := generate.Corefile(b.CorefileOptions)
		if err != nil {
			return named(c, b, err, o.Flagged)
		}
		out = append(out, stanza)
	}
	if _, err := fmt.Fprint(c.App.Writer, strings.Join(out, "\n")); err != nil {
		return fmt.Errorf("write to stdout: %w", err)
	}
	return nil
}

// block is the Corefile block of one remote, and the key of that remote
// in the --config file ("" for the flags' remote).
type block struct {
	generate.CorefileOptions
	key string
}

// named names the field of a block's error where its value was given: a
// flag (cmd/ssm's flagOf through flagged), or with --config the remote's
// key or global key of the file; --cluster-domain is a flag either way.
func named(c *cli.Context, b block, err error, flagged func(error) error) error {
	fe, ok := err.(*field.Error)
	if b.key == "" || !ok {
		return flagged(err)
	}
	inFile := false
	msg := fe.Renamed(func(goName string) string {
		switch {
		case goName == "ClusterDomain":
			return "--cluster-domain"
		case goName == "MirrorNamespace" && c.IsSet("mirror-ns"):
			return "--mirror-ns"
		}
		inFile = true
		return map[string]string{"Domain": b.key + ".domain", "ServicePrefix": b.key + ".servicePrefix", "MirrorNamespace": "global.mirrorNamespace"}[goName]
	})
	if inFile {
		msg = "config " + c.String("config") + ": " + msg
	}
	return errors.New(msg)
}

// blocks are the remotes to print a block for: the flags' one, or
// every endpoints-mode remote of --config (NodePort mode keeps the remote's
// names, so it needs no rewriting).
func blocks(c *cli.Context) ([]block, error) {
	if c.String("config") == "" {
		var missing []string
		for _, f := range []string{"svc-prefix", "mirror-ns", "domain"} {
			if c.String(f) == "" {
				missing = append(missing, "--"+f)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("required flags not set: %s (or give a configuration file with --config)", strings.Join(missing, ", "))
		}
		return []block{{CorefileOptions: generate.CorefileOptions{Domain: c.String("domain"), ClusterDomain: c.String("cluster-domain"),
			ServicePrefix: c.String("svc-prefix"), MirrorNamespace: c.String("mirror-ns")}}}, nil
	}
	if c.String("svc-prefix") != "" || c.String("domain") != "" {
		return nil, errors.New("--svc-prefix and --domain name one remote: with --config they come from the file")
	}
	var mirrorNS *string
	if c.IsSet("mirror-ns") {
		mirrorNS = new(string)
		*mirrorNS = c.String("mirror-ns")
	}
	f, err := config.Load(c.String("config"), config.Overrides{MirrorNamespace: mirrorNS})
	if err != nil {
		return nil, err
	}
	ns := cmp.Or(c.String("mirror-ns"), f.Global.MirrorNamespace)
	if ns == "" {
		return nil, errors.New("no mirror namespace: set global.mirrorNamespace in the config file or --mirror-ns")
	}
	var blocks []block
	for i, r := range f.RemoteClusters {
		if generate.Mode(r.Mode) != generate.ModeNodePort {
			blocks = append(blocks, block{generate.CorefileOptions{Domain: r.DNSDomain(), ClusterDomain: c.String("cluster-domain"),
				ServicePrefix: r.ServicePrefix, MirrorNamespace: ns}, fmt.Sprintf("remoteClusters[%d]", i)})
		}
	}
	if len(blocks) == 0 {
		return nil, errors.New("no endpoints-mode remote in the config file: NodePort mode keeps remote names and needs no CoreDNS rewrite")
	}
	return blocks, nil
}

// mcs prints the block of the Multi-Cluster Services API when it is
// asked for, by --api or the --config file's global.api.
func mcs(c *cli.Context) (bool, error) {
	api := generate.API(c.String("api"))
	if !c.IsSet("api") && c.String("config") != "" {
		f, err := config.Load(c.String("config"), config.Overrides{})
		if err != nil {
			return false, err
		}
		api = generate.API(cmp.Or(f.Global.API, string(generate.APIMirrors)))
	}
	switch {
	case api == generate.APIMirrors:
		return false, nil
	case api != generate.APIMCS:
		return false, fmt.Errorf("--api %q: want mirrors or mcs", api)
	}
	for _, f := range []string{"svc-prefix", "mirror-ns", "domain"} {
		if c.IsSet(f) {
			return true, fmt.Errorf("--%s is for --api mirrors: the MCS API keeps namespaces and names, under --clusterset-zone", f)
		}
	}
	block, err := generate.ClusterSetCorefile(c.String("clusterset-zone"))
	if err != nil {
		return true, field.Rename(err, map[string]string{"ClusterSetZone": "--clusterset-zone"})
	}
	if _, err := fmt.Fprint(c.App.Writer, block); err != nil {
		return true, fmt.Errorf("write to stdout: %w", err)
	}
	return true, nil
}
