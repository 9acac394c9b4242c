package main

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ssm-dev/ssm/generate"
)

func corednsCommand() *cli.Command {
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
		},
		Action: corednsAction,
	}
}

func corednsAction(c *cli.Context) error {
	blocks, err := corednsBlocks(c)
	if err != nil {
		return err
	}
	var out []string
	for _, b := range blocks {
		stanza, err := corefile(b)
		if err != nil {
			return err
		}
		out = append(out, stanza)
	}
	if _, err := fmt.Fprint(c.App.Writer, strings.Join(out, "\n")); err != nil {
		return fmt.Errorf("write to stdout: %w", err)
	}
	return nil
}

// corednsBlocks are the remotes to print a block for: the flags' one, or
// every endpoints-mode remote of --config (NodePort mode keeps the remote's
// names, so it needs no rewriting).
func corednsBlocks(c *cli.Context) ([]corefileOptions, error) {
	if c.String("config") == "" {
		if err := requireFlags(c, "svc-prefix", "mirror-ns", "domain"); err != nil {
			return nil, err
		}
		return []corefileOptions{{Domain: c.String("domain"), ClusterDomain: c.String("cluster-domain"),
			ServicePrefix: c.String("svc-prefix"), MirrorNamespace: c.String("mirror-ns")}}, nil
	}
	if c.String("svc-prefix") != "" || c.String("domain") != "" {
		return nil, errors.New("--svc-prefix and --domain name one remote: with --config they come from the file")
	}
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return nil, err
	}
	ns := cmp.Or(c.String("mirror-ns"), cfg.Global.MirrorNamespace)
	if ns == "" {
		return nil, errors.New("no mirror namespace: set global.mirrorNamespace in the config file or --mirror-ns")
	}
	var blocks []corefileOptions
	for _, r := range cfg.RemoteClusters {
		if generate.Mode(r.Mode) != generate.ModeNodePort {
			blocks = append(blocks, corefileOptions{Domain: r.domain(), ClusterDomain: c.String("cluster-domain"),
				ServicePrefix: r.ServicePrefix, MirrorNamespace: ns})
		}
	}
	if len(blocks) == 0 {
		return nil, errors.New("no endpoints-mode remote in the config file: NodePort mode keeps remote names and needs no CoreDNS rewrite")
	}
	return blocks, nil
}

// corefileOptions describe the DNS names of one remote cluster's mirrors.
type corefileOptions struct {
	Domain          string // the remote's DNS domain, e.g. cluster.east
	ClusterDomain   string // the local cluster's DNS domain, e.g. cluster.local
	ServicePrefix   string
	MirrorNamespace string
}

func (o corefileOptions) validate() error {
	if err := (generate.Options{ServicePrefix: o.ServicePrefix, MirrorNamespace: o.MirrorNamespace}).Validate(); err != nil {
		return err
	}
	for _, d := range []struct{ flag, value string }{{"--domain", o.Domain}, {"--cluster-domain", o.ClusterDomain}} {
		if errs := validation.IsDNS1123Subdomain(d.value); len(errs) > 0 {
			return fmt.Errorf("%s %q: %s", d.flag, d.value, strings.Join(errs, "; "))
		}
	}
	// The block answers for everything under Domain: rewritten names must
	// leave it, or they would be answered NXDOMAIN by the block itself.
	if o.ClusterDomain == o.Domain || strings.HasSuffix(o.ClusterDomain, "."+o.Domain) {
		return fmt.Errorf("--domain %q: must not contain the local cluster domain %q", o.Domain, o.ClusterDomain)
	}
	return nil
}

// Regular expressions of the rewrite rules. Query names are lower case by
// the time CoreDNS matches them. lead is what may precede a Service's name:
// nothing, a headless Service's <hostname>, or an SRV query's
// _<port>._<proto>. label is a namespace or Service name.
const (
	lead  = `((?:[a-z0-9_-]+\.){0,2})`
	label = `([a-z0-9-]+)`
)

// corefile renders the server block for one remote cluster's domain. The
// rewrite maps <lead><name>.<ns>.svc.<domain> to
// <lead><prefix>-<ns>-73736d-<name>.<mirror-ns>.svc.<cluster-domain>, which
// the kubernetes plugin answers, then maps every name in the answer
// (owners, SRV targets, the SOA of a negative answer) back, so clients see
// only the names they asked for. The templates answer every other name
// under the domain NXDOMAIN rather than leaving it to no plugin (SERVFAIL).
// The kubernetes plugin has no `upstream` option: CoreDNS 1.15 rejects it.
func corefile(o corefileOptions) (string, error) {
	o.Domain = strings.TrimSuffix(o.Domain, ".")
	o.ClusterDomain = strings.TrimSuffix(o.ClusterDomain, ".")
	if err := o.validate(); err != nil {
		return "", err
	}
	remote := regexp.QuoteMeta(o.Domain + ".")
	mirrors := regexp.QuoteMeta("." + o.MirrorNamespace + ".svc." + o.ClusterDomain + ".")
	query := "^" + lead + label + `\.` + label + `\.svc\.` + remote + "$"
	mirror := "{1}" + generate.MirrorName(o.ServicePrefix, "{3}", "{2}") + "." + o.MirrorNamespace + ".svc." + o.ClusterDomain + "."
	answer := "^" + lead + regexp.QuoteMeta(o.ServicePrefix+"-") + label + "-" + generate.Separator + "-" + label + mirrors + "$"
	original := "{1}{3}.{2}.svc." + o.Domain + "."
	soa := fmt.Sprintf(`"%[1]s. 5 IN SOA ns.dns.%[1]s. hostmaster.%[1]s. 1 7200 1800 86400 5"`, o.Domain)

	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by ssm coredns: the remote Services <name>.<namespace>.svc.%s, answered from\n", o.Domain)
	fmt.Fprintf(&b, "# their mirrors %s in namespace %s.\n", generate.MirrorName(o.ServicePrefix, "<namespace>", "<name>"), o.MirrorNamespace)
	fmt.Fprintf(&b, "%s {\n", o.Domain)
	b.WriteString("    errors\n    cache 30\n    loadbalance\n")
	b.WriteString("    rewrite stop {\n")
	fmt.Fprintf(&b, "        name regex %s %s\n", query, mirror)
	fmt.Fprintf(&b, "        answer name %s %s\n", answer, original)
	fmt.Fprintf(&b, "        answer value %s %s\n", answer, original)
	fmt.Fprintf(&b, "        answer name ^%s$ %s.\n", regexp.QuoteMeta(o.ClusterDomain+"."), o.Domain)
	b.WriteString("    }\n")
	fmt.Fprintf(&b, "    template ANY ANY %s {\n", o.Domain)
	fmt.Fprintf(&b, "        match ^%s$\n", remote)
	fmt.Fprintf(&b, "        authority %s\n", soa)
	b.WriteString("        fallthrough\n    }\n")
	fmt.Fprintf(&b, "    template ANY ANY %s {\n", o.Domain)
	b.WriteString("        rcode NXDOMAIN\n")
	fmt.Fprintf(&b, "        authority %s\n", soa)
	b.WriteString("    }\n")
	fmt.Fprintf(&b, "    kubernetes %s {\n", o.ClusterDomain)
	fmt.Fprintf(&b, "        namespaces %s\n", o.MirrorNamespace)
	b.WriteString("    }\n}\n")
	return b.String(), nil
}
