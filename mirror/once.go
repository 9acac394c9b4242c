package mirror

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/redact"
	"github.com/ssm-dev/ssm/source"
)

// Report is what RunOnce rendered and what writing it changed.
type Report struct {
	Render generate.Result
	Sync   fileset.Result
	// Writing is how long the sink took, rendering aside.
	Writing time.Duration
}

// RunOnce reads every cluster of cfg once, renders them and writes the
// result to sink: what `ssm render` does. Any cluster that cannot be read
// fails it, and nothing is written.
func RunOnce(ctx context.Context, cfg config.Config, sink Sink, opts Options) (Report, error) {
	opts = opts.withDefaults()
	defer opts.Progress.Stop()
	opts.Progress.Start("listing")
	states, err := readAll(ctx, cfg, opts)
	if err != nil {
		return Report{}, err
	}
	in := input{cfg: cfg, states: states}
	var rep Report
	start := time.Now()
	var rendering time.Duration
	var decisions []Removal
	rep.Sync, err = sink.Sync(ctx, func(stored fileset.Stored) (fileset.Write, error) {
		opts.Progress.Start("rendering")
		t := time.Now()
		res, err := in.render(stored)
		if err != nil {
			return fileset.Write{}, err
		}
		rendering = time.Since(t)
		rep.Render = res
		LogSkipped(opts.Logger, res)
		opts.Logger.Info("rendered", "mirrors", len(res.Mirrors), "skipped", len(res.Skipped), "files", len(res.Files), "took", rendering)
		opts.Progress.Start("writing")
		var w fileset.Write
		w, decisions, err = planOnce(cfg, res, stored)
		return w, err
	})
	rep.Writing = time.Since(start) - rendering
	opts.Observer.Synced(rep.Sync, err, rep.Writing)
	opts.Observer.Removals(decisions)
	if err == nil {
		for _, d := range decisions {
			opts.Logger.Info("removing mirrors", "cluster", d.Cluster, "remove", len(d.Files), "stored", d.Stored, "files", d.Files)
		}
	}
	return rep, err
}

// planOnce writes the render unless the guard holds removals: then nothing
// is written at all. The stored record of what run rendered from stays.
func planOnce(cfg config.Config, res generate.Result, stored fileset.Stored) (fileset.Write, []Removal, error) {
	sf := stored.Files()
	names := func(group string) string { return clusterOf(cfg, group) }
	files, decisions := guard(guardInput{stored: sf, files: res.Files, tree: cfg.Layout == config.Tree, names: names,
		limit: cfg.MaxRemovals, approved: func(Removal) bool { return false }, mirrorOf: guardMirrorOf(cfg)})
	var held []Removal
	for _, d := range decisions {
		if d.Verdict == HeldBack {
			held = append(held, d)
		}
	}
	if len(held) > 0 {
		return fileset.Write{}, decisions, &HeldError{Held: held}
	}
	if rev, ok := sf[RevisionsFile]; ok {
		files = maps.Clone(files)
		files[RevisionsFile] = rev
	}
	return fileset.Write{Files: files, Subject: subject(cfg)}, decisions, nil
}

// subject is the first line of ssm's commits.
func subject(cfg config.Config) string { return "ssm: mirror Services of " + cfg.Remotes() }

// readAll reads every cluster at once; any failure fails the render. It
// logs what it read of each, in the configuration's order.
func readAll(ctx context.Context, cfg config.Config, opts Options) ([]clusterState, error) {
	n := len(cfg.Clusters)
	states, counts, errs, took := make([]clusterState, n), make([]countFunc, n), make([]error, n), make([]time.Duration, n)
	var wg sync.WaitGroup
	for i, c := range cfg.Clusters {
		wg.Go(func() {
			start := time.Now()
			states[i], counts[i], errs[i] = readCluster(ctx, cfg, c, opts)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, c := range cfg.Clusters {
		logListed(opts.Logger, c, states[i], took[i])
		warnNoMatch(ctx, opts.Logger, c, states[i], counts[i])
	}
	return states, nil
}

// readCluster reads each selection of one cluster, from its snapshot file
// or its API.
func readCluster(ctx context.Context, cfg config.Config, c config.Cluster, opts Options) (clusterState, countFunc, error) {
	st, count, err := readReads(ctx, cfg, c, opts)
	if err != nil {
		return nil, nil, err
	}
	for _, rd := range c.Reads {
		if s := st[rd.Role]; s.NoServices && !cfg.AllowEmpty {
			from := "snapshot " + c.FromFile
			if c.FromFile == "-" {
				from = "the snapshot on stdin"
			}
			return nil, nil, fmt.Errorf("%s (%s) holds no Service at all: not rendered, as it would remove every mirror (--allow-empty renders it)", from, clusterLabel(c.Name))
		}
	}
	return st, count, nil
}

func readReads(ctx context.Context, cfg config.Config, c config.Cluster, opts Options) (clusterState, countFunc, error) {
	what := "cluster " + c.Name
	if cfg.Layout == config.Flat {
		what = map[bool]string{false: "remote", true: "local cluster"}[c.Local]
	}
	r := &reader{what: what, cluster: c, opts: opts, maxSnapshot: cfg.MaxSnapshotSize}
	st := clusterState{}
	for _, rd := range c.Reads {
		s, err := r.read(ctx, rd.Selection)
		switch {
		case err != nil && c.Hint != "":
			return nil, nil, fmt.Errorf("%w (%s)", err, c.Hint)
		case err != nil && cfg.Layout == config.Tree:
			return nil, nil, fmt.Errorf("%s (%s Services): %w", c.Name, readLabel(cfg.API, rd.Role), err)
		case err != nil:
			return nil, nil, err
		}
		st[rd.Role] = s
	}
	return st, r.count, nil
}

// readLabel names, in errors, why a cluster's Services are read: the MCS
// API mirrors none, it imports those a remote exports.
func readLabel(api generate.API, r config.Role) string {
	if api == generate.APIMCS && r == config.RoleMirrored {
		return "exported"
	}
	return r.String()
}

// reader reads a cluster once: its snapshot file, or a list of its API
// through a client made on first use.
type reader struct {
	what        string
	cluster     config.Cluster
	opts        Options
	maxSnapshot int64 // bytes; 0: source's default
	host        string
	client      source.Client
}

func (r *reader) read(ctx context.Context, sel source.Selection) (source.State, error) {
	if r.cluster.FromFile != "" {
		st, err := source.LoadFile(r.cluster.FromFile, sel, r.opts.Stdin, r.maxSnapshot)
		if _, ok := errors.AsType[*source.SnapshotTooLargeError](err); ok {
			return st, fmt.Errorf("%w (--max-snapshot-size raises it)", err)
		}
		return st, err
	}
	if r.client == nil {
		if err := r.connect(ctx); err != nil {
			return source.State{}, err
		}
	}
	r.opts.Logger.Debug("reading cluster", "cluster", r.what, "host", r.host, "labelSelector", sel.LabelSelector)
	st, err := source.List(ctx, r.client, sel, r.cluster.Conn.Timeout)
	if err != nil {
		return source.State{}, fmt.Errorf("read %s %s: %w", r.what, r.host, redact.Error(err))
	}
	return st, nil
}

func (r *reader) connect(ctx context.Context) error {
	r.host = r.cluster.Conn.Describe()
	if r.opts.Connect != nil {
		client, err := r.opts.Connect(ctx, r.cluster)
		r.client = client
		return err
	}
	rc, err := restConfig(ctx, r.cluster, r.opts.Logger)
	if err != nil {
		return err
	}
	r.host = source.DisplayHost(rc.Host)
	client, err := newClient(rc, r.cluster)
	r.client = counted{client, r.opts.Progress}
	return err
}
