package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"

	"github.com/urfave/cli/v2"
	"k8s.io/client-go/kubernetes"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/gitsync"
	"github.com/ssm-dev/ssm/source"
)

// ownership marks an output directory as ssm's: its kustomization.yaml
// starts with generate.Header.
var ownership = gitsync.Ownership{File: generate.KustomizationFile, Prefix: []byte(generate.Header)}

func renderCommand() *cli.Command {
	flags := append(remoteFlags(), renderFlags()...)
	flags = append(flags, nodePortFlags()...)
	flags = append(flags, configFlags()...)
	flags = append(flags,
		&cli.StringFlag{Name: "local-from-file", Category: catNodePort, EnvVars: env("local-from-file"),
			Usage: "read the local cluster's hand-written Services for --manual-endpoints from a snapshot `FILE` instead of the local cluster"},
		&cli.StringFlag{Name: "from-file", Category: catRemote, EnvVars: env("from-file"),
			Usage: "read a snapshot from `FILE` instead of a live cluster (what kubectl get services,endpoints,endpointslices -A -o yaml prints), or - for stdin"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Category: catOutput, EnvVars: env("output"), Value: "-",
			Usage: "directory ssm owns (one <mirror>.yaml per Service plus kustomization.yaml; files it did not render are removed), or - for a YAML stream on stdout"},
		&cli.BoolFlag{Name: "check", Category: catOutput, EnvVars: env("check"),
			Usage: "write nothing; print how --output differs from the remote state and exit 1 if it does"},
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
	if c.Bool("check") && c.String("output") == "-" {
		return errors.New("--check compares against a directory: give --output DIR")
	}
	if c.String("config") != "" {
		return renderConfigAction(c)
	}
	logger, cfg, err := setUp(c)
	if err != nil {
		return err
	}
	from := c.String("from-file")
	if from != "" && cfg.conn.Given() {
		return errors.New("--from-file reads a snapshot: drop the remote connection flags")
	}
	remote, err := readState(c.Context, "remote", cfg.conn, cfg.sel, from, c.App.Reader, logger)
	if err != nil {
		return err
	}
	var local source.State
	if cfg.manual {
		localFrom := c.String("local-from-file")
		if localFrom == "-" && from == "-" {
			return errors.New("--from-file and --local-from-file cannot both read stdin")
		}
		if local, err = readState(c.Context, "local cluster", cfg.local, cfg.localSel, localFrom, c.App.Reader, logger); err != nil {
			return fmt.Errorf("%w (the local cluster is read for --manual-endpoints; --manual-endpoints=false skips it)", err)
		}
	}
	res, err := generate.Manifests(stateFor(remote, local), cfg.gen)
	if err != nil {
		return err
	}
	if err := emit(c, logger, res); err != nil {
		return err
	}
	return invalidErr(res, cfg.skipInvalid)
}

// renderConfigAction renders every cluster of --config into one tree.
func renderConfigAction(c *cli.Context) error {
	logger, err := newLogger(c)
	if err != nil {
		return err
	}
	mc, err := multiConfigFrom(c)
	if err != nil {
		return err
	}
	for _, n := range mc.notes {
		logger.Warn("config: " + n)
	}
	states, err := mc.readAll(c.Context, c.App.Reader, logger)
	if err != nil {
		return err
	}
	res, err := generate.Tree(mc.tree(states), mc.global)
	if err != nil {
		return err
	}
	if err := emit(c, logger, res); err != nil {
		return err
	}
	return invalidErr(res, mc.skipInvalid)
}

// emit writes a render where --output and --check say: a directory, its
// drift, or stdout.
func emit(c *cli.Context, logger *slog.Logger, res generate.Result) error {
	out, check := c.String("output"), c.Bool("check")
	logSkipped(logger, res)
	switch {
	case check:
		if err := checkDir(c.App.Writer, out, res, logger); err != nil {
			return err
		}
	case out == "-":
		if err := writeStream(c.App.Writer, res); err != nil {
			return fmt.Errorf("write to stdout: %w", err)
		}
	default:
		r, err := gitsync.WriteDir(out, res.Files, ownership)
		if err != nil {
			return err
		}
		logger.Info("rendered", "output", out, "mirrors", len(res.Mirrors), "skipped", len(res.Skipped),
			"added", len(r.Added), "updated", len(r.Updated), "removed", len(r.Removed))
	}
	return nil
}

// readState reads a cluster's state from a snapshot file or the live API.
func readState(ctx context.Context, what string, conn source.Connection, sel source.Selection, from string, stdin io.Reader, logger *slog.Logger) (source.State, error) {
	if from != "" {
		return source.LoadFile(from, sel, stdin)
	}
	rc, err := source.RESTConfig(ctx, conn)
	if err != nil {
		return source.State{}, err
	}
	rc.WarningHandler = newOnceWarnings(logger)
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return source.State{}, fmt.Errorf("client for %s: %w", conn.Describe(), err)
	}
	logger.Debug("reading cluster", "cluster", conn.Describe(), "host", rc.Host, "labelSelector", sel.LabelSelector)
	st, err := source.List(ctx, client, sel)
	if err != nil {
		return source.State{}, fmt.Errorf("read %s %s: %w", what, rc.Host, err)
	}
	return st, nil
}

// logSkipped logs what was left out: errors for Services whose mirror could
// not be named, warnings for the rest.
func logSkipped(logger *slog.Logger, res generate.Result) {
	invalid := map[string]bool{}
	for _, s := range res.Invalid() {
		invalid[s.Cluster+"/"+s.Service+s.Reason] = true
	}
	for _, s := range res.Skipped {
		level := slog.LevelWarn
		if invalid[s.Cluster+"/"+s.Service+s.Reason] {
			level = slog.LevelError
		}
		logger.Log(context.Background(), level, "Service not mirrored", "cluster", s.Cluster, "service", s.Service,
			"mirror", s.Mirror, "reason", s.Reason, "detail", s.Message)
	}
	for _, w := range res.Warnings {
		logger.Warn("Service mirrored in part", "cluster", w.Cluster, "service", w.Service, "reason", w.Reason, "detail", w.Message)
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

// writeStream prints every rendered manifest as one multi-document stream,
// in kustomization order.
func writeStream(w io.Writer, res generate.Result) error {
	first := true
	for _, p := range gitsync.Files(res.Files).Paths() {
		if path.Base(p) == generate.KustomizationFile {
			continue
		}
		if !first {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		first = false
		if _, err := w.Write(res.Files[p]); err != nil {
			return err
		}
	}
	return nil
}

// checkDir prints how dir differs from res and returns exitDrift if it does.
func checkDir(w io.Writer, dir string, res generate.Result, logger *slog.Logger) error {
	changes, err := gitsync.DiffDir(dir, res.Files)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		logger.Info("up to date", "output", dir, "mirrors", len(res.Mirrors))
		return nil
	}
	for _, ch := range changes {
		if err := printChange(w, dir, ch); err != nil {
			return err
		}
	}
	logger.Error("drift: directory differs from the remote state", "output", dir, "files", len(changes))
	return &exitErr{code: exitDrift, err: fmt.Errorf("%s has drifted: %d file(s) differ", dir, len(changes))}
}
