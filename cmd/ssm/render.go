package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/mirror"
)

func renderCommand() *cli.Command {
	flags := append(pipelineFlags(), configFlags()...)
	flags = append(flags,
		&cli.StringFlag{Name: "local-from-file", Category: catLocal, EnvVars: env("local-from-file"),
			Usage: "read the local cluster from a snapshot `FILE` instead (kubectl get namespaces,services -A -o yaml): its Services where the mirrors go, and NodePort mode's hand-written ones"},
		&cli.StringFlag{Name: "from-file", Category: catRemote, EnvVars: env("from-file"),
			Usage: "read a snapshot from `FILE` instead of a live cluster (what kubectl get services,endpoints,endpointslices -A -o yaml prints), or - for stdin"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Category: catOutput, EnvVars: env("output"), Value: "-",
			Usage: "directory ssm owns (one <mirror>.yaml per Service plus kustomization.yaml; files it did not render are removed), or - for a YAML stream on stdout"},
		&cli.BoolFlag{Name: "check", Category: catOutput, EnvVars: env("check"),
			Usage: "write nothing; print how --output differs from the remote state and exit 1 if it does"},
		&cli.BoolFlag{Name: "allow-empty", Category: catRemote, EnvVars: env("allow-empty"),
			Usage: "render a snapshot that holds no Service at all (else an error: an empty or wrong file would remove every mirror)"},
		&cli.StringFlag{Name: "max-snapshot-size", Category: catRemote, EnvVars: env("max-snapshot-size"), Value: "256Mi",
			Usage: "largest snapshot read (--from-file, --local-from-file, a configuration file's fromFile), as a size such as 512Mi or 1Gi: a larger one is an error, before it is parsed"},
	)
	return &cli.Command{
		Name:  "render",
		Usage: "render the mirrors of a remote cluster once, to a directory or stdout",
		UsageText: "ssm render --label-selector SEL --svc-prefix P --mirror-ns NS [--target-kube-config F | --remote-api-url U ... | --from-file F] [-o DIR] [--check]\n" +
			"   ssm render --config FILE [-o DIR] [--check]",
		Flags:  append(flags, logFlags()...),
		Action: renderAction,
	}
}

func renderAction(c *cli.Context) error {
	out, check := c.String("output"), c.Bool("check")
	if out == "" {
		return errors.New(`--output "": want a directory, or - for a YAML stream on stdout`)
	}
	if check && out == "-" {
		return errors.New("--check compares against a directory: give --output DIR")
	}
	logger, tty, err := newLogger(c)
	if err != nil {
		return err
	}
	cfg, err := config.Resolve(c.String("config"), overrides(c))
	if err != nil {
		return flagged(err)
	}
	logNotes(logger, cfg)
	if check { // a check shows every difference, removals included
		cfg.MaxRemovals = config.RemovalLimit{N: 100, Percent: true}
	}
	var sink mirror.Sink = fileset.DirSink{Dir: out, Ownership: mirror.Ownership}
	switch {
	case check:
		sink = fileset.CheckSink{Dir: out, W: c.App.Writer, Ownership: mirror.Ownership}
	case out == "-":
		sink = fileset.StreamSink{W: c.App.Writer, Index: generate.KustomizationFile}
	}
	opts := mirror.Options{Logger: logger, Stdin: c.App.Reader}
	if tty != nil {
		opts.Progress = tty
	}
	rep, err := mirror.RunOnce(c.Context, cfg, sink, opts)
	if held, ok := errors.AsType[*mirror.HeldError](err); ok {
		return &exitErr{code: exitHeld, err: held}
	}
	if err != nil {
		return err
	}
	r, mirrors := rep.Sync, len(rep.Render.Mirrors)
	switch {
	case check && r.Changed:
		files := len(r.Added) + len(r.Updated) + len(r.Removed)
		logger.Error("drift: directory differs from the remote state", "output", out, "files", files)
		return &exitErr{code: exitDrift, err: fmt.Errorf("%s has drifted: %d file(s) differ", out, files)}
	case check:
		logger.Info("up to date", "output", out, "mirrors", mirrors)
	case out != "-":
		logger.Info("written", "output", out, "added", len(r.Added), "updated", len(r.Updated), "removed", len(r.Removed), "took", rep.Writing)
	}
	return invalidErr(rep.Render, cfg.SkipInvalid)
}

// logNotes logs what reading the configuration changed on its own.
func logNotes(logger *slog.Logger, cfg config.Config) {
	for _, n := range cfg.Notes {
		logger.Warn("config: " + n)
	}
}

func invalidErr(res generate.Result, skipInvalid bool) error {
	invalid := res.Invalid()
	if len(invalid) == 0 || skipInvalid {
		return nil
	}
	names := make([]string, len(invalid))
	for i, s := range invalid {
		names[i] = s.Service + " as " + s.Mirror
		if s.Cluster != "" {
			names[i] = s.Cluster + ": " + names[i]
		}
	}
	return &exitErr{code: exitInvalid, err: fmt.Errorf("%d remote Service(s) could not be mirrored (rendered the rest; --skip-invalid accepts this): %s",
		len(invalid), strings.Join(names, ", "))}
}
