package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/client-go/kubernetes"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/gitsync"
	"github.com/ssm-dev/ssm/source"
)

const (
	catGit = "Git"
	catRun = "Running"
)

func runFlags() []cli.Flag {
	s := func(name, cat, usage, value string) cli.Flag {
		return &cli.StringFlag{Name: name, Category: cat, EnvVars: env(name), Usage: usage, Value: value}
	}
	d := func(name, usage string, value time.Duration) cli.Flag {
		return &cli.DurationFlag{Name: name, Category: catRun, EnvVars: env(name), Usage: usage, Value: value}
	}
	return []cli.Flag{
		s("output", catOutput, "directory ssm owns and keeps equal to the remote state (instead of --git-url)", ""),
		s("git-url", catGit, "repository to commit to: ssh://…, git@host:path, https://…, or a local path / file:// URL", ""),
		s("git-branch", catGit, "branch to commit to (created when missing)", "main"),
		s("git-path", catGit, "folder ssm owns inside the repository (. for the root); nothing outside it is touched", ""),
		s("git-author-name", catGit, "commit author name", "ssm"),
		s("git-author-email", catGit, "commit author email", "ssm@localhost"),
		s("git-ssh-key-path", catGit, "SSH private key for ssh URLs", ""),
		s("git-known-hosts-path", catGit, "known_hosts file verifying the SSH server's host key", ""),
		&cli.BoolFlag{Name: "git-insecure-skip-host-key-check", Category: catGit, EnvVars: env("git-insecure-skip-host-key-check"),
			Usage: "do not verify the SSH server's host key (never in production)"},
		s("git-username", catGit, "username for https URLs", ""),
		s("git-password-path", catGit, "file holding the https password or token, re-read before every fetch and push", ""),
		d("git-timeout", "deadline of each git network step (fetch, push)", 30*time.Second),
		d("resync-period", "re-render from the cache this often, even without events (0: never)", time.Hour),
		d("debounce", "quiet time after the last remote event before rendering", 2*time.Second),
		d("max-delay", "longest a steady stream of remote events can postpone a render", 10*time.Second),
		s("listen-address", catRun, "address serving /healthz, /readyz and /metrics", ":8080"),
	}
}

func runCommand() *cli.Command {
	flags := append(remoteFlags(), renderFlags()...)
	flags = append(flags, nodePortFlags()...)
	flags = append(flags, runFlags()...)
	flags = append(flags, configFlags()...)
	return &cli.Command{
		Name:  "run",
		Usage: "watch the remote cluster and keep a git path (or a directory) equal to its mirrors",
		UsageText: "ssm run --label-selector SEL --svc-prefix P --mirror-ns NS [remote flags] " +
			"(--git-url URL --git-path PATH [git flags] | --output DIR)\n" +
			"   ssm run --config FILE (--git-url URL --git-path PATH [git flags] | --output DIR)",
		Description: "Informers watch the remote's selected Services and endpoints. Every batch of changes\n" +
			"(--debounce, --max-delay) re-renders the mirrors and commits them when they changed; a\n" +
			"render that changes nothing commits nothing. While the remote is unreachable the last\n" +
			"state it showed is kept; a failed write is retried with backoff. SIGTERM stops cleanly.",
		Flags:  append(flags, logFlags()...),
		Action: runAction,
	}
}

// sink is where run writes each render.
type sink interface {
	Sync(ctx context.Context, files gitsync.Files, subject string) (gitsync.Result, error)
	Diff(ctx context.Context, files gitsync.Files) ([]gitsync.Change, error)
}

type dirSink string

func (d dirSink) Sync(_ context.Context, files gitsync.Files, _ string) (gitsync.Result, error) {
	return gitsync.WriteDir(string(d), files, ownership)
}

func (d dirSink) Diff(_ context.Context, files gitsync.Files) ([]gitsync.Change, error) {
	return gitsync.DiffDir(string(d), files)
}

// gitSink opens the repository on first use, so an unreachable git server
// at start is retried like any failed sync instead of ending the process.
type gitSink struct {
	opts gitsync.RepoOptions
	repo *gitsync.Repo
}

func (g *gitSink) Sync(ctx context.Context, files gitsync.Files, subject string) (gitsync.Result, error) {
	if err := g.open(ctx); err != nil {
		return gitsync.Result{}, err
	}
	return g.repo.Sync(ctx, files, subject)
}

func (g *gitSink) Diff(ctx context.Context, files gitsync.Files) ([]gitsync.Change, error) {
	if err := g.open(ctx); err != nil {
		return nil, err
	}
	return g.repo.Diff(ctx, files)
}

func (g *gitSink) open(ctx context.Context) error {
	if g.repo != nil {
		return nil
	}
	repo, err := gitsync.Open(ctx, g.opts)
	g.repo = repo
	return err
}

func sinkFrom(c *cli.Context, logger *slog.Logger) (sink, string, error) {
	out, url := c.String("output"), c.String("git-url")
	switch {
	case out != "" && url != "":
		return nil, "", errors.New("give either --output or --git-url, not both")
	case out == "-":
		return nil, "", errors.New("run needs a directory or a git repository: --output - is for render")
	case out != "":
		return dirSink(out), out, nil
	case url == "":
		return nil, "", errors.New("give --git-url (and --git-path) or --output")
	case c.String("git-path") == "":
		return nil, "", errors.New("--git-path is required with --git-url: the folder ssm owns in the repository (. for the root)")
	}
	opts := gitsync.RepoOptions{
		URL: url, Branch: c.String("git-branch"), Path: c.String("git-path"),
		AuthorName: c.String("git-author-name"), AuthorEmail: c.String("git-author-email"),
		SSHKeyPath: c.String("git-ssh-key-path"), KnownHostsPath: c.String("git-known-hosts-path"),
		InsecureIgnoreHostKey: c.Bool("git-insecure-skip-host-key-check"),
		Username:              c.String("git-username"), PasswordPath: c.String("git-password-path"),
		Timeout: c.Duration("git-timeout"), Ownership: ownership, Logger: logger,
	}
	if err := opts.Validate(); err != nil {
		return nil, "", err
	}
	return &gitSink{opts: opts}, fmt.Sprintf("%s (branch %s, path %s)", url, opts.Branch, opts.Path), nil
}

func runAction(c *cli.Context) error {
	logger, err := newLogger(c)
	if err != nil {
		return err
	}
	t := timing{debounce: c.Duration("debounce"), maxDelay: c.Duration("max-delay"), backoffMin: time.Second, backoffMax: 2 * time.Minute}
	if t.debounce <= 0 || t.maxDelay < t.debounce {
		return fmt.Errorf("--debounce %s and --max-delay %s: want 0 < debounce <= max-delay", t.debounce, t.maxDelay)
	}
	m, k := newMetrics(), newKicker()
	w := watching{ctx: c.Context, logger: logger, metrics: m, kicker: k, resync: c.Duration("resync-period")}
	var ws watchSet
	if c.String("config") != "" {
		ws, err = w.multi(c)
	} else {
		ws, err = w.single(c)
	}
	if err != nil {
		return err
	}
	snk, where, err := sinkFrom(c, logger)
	if err != nil {
		return err
	}
	h := &health{synced: ws.synced}
	if r := c.Duration("resync-period"); r > 0 {
		h.maxAge = 2*r + t.maxDelay
	}
	p := &pipeline{watchSet: ws, sink: snk, metrics: m, health: h, logger: logger.With("sink", where)}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	if err := serve(ctx, c.String("listen-address"), m, h, logger, &wg); err != nil {
		return err
	}
	logger.Info("watching", "clusters", ws.describe, "sink", where)
	for _, x := range ws.watchers {
		wg.Go(func() {
			if err := x.Run(ctx); err != nil && ctx.Err() == nil {
				logger.Error("watch stopped", "err", err)
			}
		})
	}
	loop(ctx, k, t, logger, p.sync)
	logger.Info("shutting down")
	return nil
}

// watchSet is what run watches and how it renders what it saw.
type watchSet struct {
	watchers []*source.Watcher
	synced   func() bool // every cache has synced once
	// render renders the cached state. keep lists the directories whose
	// stored content must stay as it is, because their cluster has not been
	// read yet; ok is false while nothing can be rendered at all.
	render   func() (res generate.Result, keep []string, ok bool, err error)
	subject  string // of commits
	describe string // of the clusters, for logs
}

// watching builds clients and watchers that report to one kicker and one
// set of metrics.
type watching struct {
	ctx     context.Context
	logger  *slog.Logger
	metrics *metrics
	kicker  kicker
	resync  time.Duration
}

// client connects to a cluster, reporting its reachability as
// ssm_remote_up{cluster}.
func (w watching) client(conn source.Connection, cluster string) (kubernetes.Interface, error) {
	rc, err := source.RESTConfig(w.ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cluster, err)
	}
	up := w.metrics.remoteUp.WithLabelValues(cluster)
	reach := &source.Reachability{OnChange: func(ok bool, err error) {
		if ok {
			up.Set(1)
			w.logger.Info("remote reachable", "cluster", cluster, "remote", rc.Host)
			return
		}
		up.Set(0)
		w.logger.Warn("remote unreachable; keeping the last state it showed and retrying", "cluster", cluster, "remote", rc.Host, "err", err)
	}}
	rc.Wrap(reach.Wrap)
	rc.WarningHandler = newOnceWarnings(w.logger)
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", conn.Describe(), err)
	}
	return client, nil
}

func (w watching) watch(client kubernetes.Interface, sel source.Selection, cluster string, resync time.Duration) (*source.Watcher, error) {
	return source.NewWatcher(client, source.WatchOptions{
		Selection: sel, Resync: cmp.Or(resync, w.resync), Logger: w.logger.With("cluster", cluster),
		OnEvent: func(resource, event string) {
			w.metrics.watchEvents.WithLabelValues(resource, event).Inc()
			w.kicker.kick()
		},
		OnWatchError: func(resource string, err error) {
			w.metrics.watchErrors.WithLabelValues(resource).Inc()
			w.logger.Warn("watch failed; keeping the last state and retrying", "cluster", cluster, "resource", resource, "err", err)
		},
	})
}

// single watches the one remote of the flags and, in NodePort mode, the
// local cluster's hand-written Services.
func (w watching) single(c *cli.Context) (watchSet, error) {
	cfg, err := pipelineConfigFrom(c)
	if err != nil {
		return watchSet{}, err
	}
	client, err := w.client(cfg.conn, cfg.gen.Cluster)
	if err != nil {
		return watchSet{}, err
	}
	remote, err := w.watch(client, cfg.sel, cfg.gen.Cluster, 0)
	if err != nil {
		return watchSet{}, err
	}
	ws := watchSet{watchers: []*source.Watcher{remote}, subject: "ssm: mirror Services of " + cfg.gen.Cluster, describe: cfg.conn.Describe()}
	var local *source.Watcher
	if cfg.manual {
		lc, err := w.client(cfg.local, "local")
		if err != nil {
			return watchSet{}, fmt.Errorf("%w (the local cluster is read for --manual-endpoints; --manual-endpoints=false skips it)", err)
		}
		if local, err = w.watch(lc, cfg.localSel, "local", 0); err != nil {
			return watchSet{}, err
		}
		ws.watchers = append(ws.watchers, local)
	}
	ws.synced = func() bool { return remote.Synced() && (local == nil || local.Synced()) }
	ws.render = func() (generate.Result, []string, bool, error) {
		if !ws.synced() {
			return generate.Result{}, nil, false, nil // a partial cache must never be rendered: it would look like deletions
		}
		var l source.State
		if local != nil {
			l = local.State()
		}
		res, err := generate.Manifests(stateFor(remote.State(), l), cfg.gen)
		return res, nil, err == nil, err
	}
	return ws, nil
}

// pipeline renders the watched state and writes it: what render does once,
// run does on every batch of changes.
type pipeline struct {
	watchSet
	sink    sink
	metrics *metrics
	health  *health
	logger  *slog.Logger

	lastSkipped string
}

func (p *pipeline) sync(ctx context.Context) error {
	start := time.Now()
	res, keep, ok, err := p.render()
	if err != nil || !ok {
		return err
	}
	p.metrics.renderSeconds.Observe(time.Since(start).Seconds())
	p.observe(res)
	start = time.Now()
	files := gitsync.Files(res.Files)
	if len(keep) > 0 {
		if files, err = p.keep(ctx, files, keep); err != nil {
			p.metrics.syncFailures.Inc()
			p.health.record(false)
			return err
		}
	}
	r, err := p.sink.Sync(ctx, files, p.subject)
	p.metrics.syncSeconds.Observe(time.Since(start).Seconds())
	p.metrics.pushRetries.Add(float64(r.Retries))
	if err != nil {
		p.metrics.syncFailures.Inc()
		p.health.record(false)
		return err
	}
	p.health.record(true)
	p.metrics.lastSuccess.SetToCurrentTime()
	if !r.Changed {
		p.logger.Debug("no change", "mirrors", len(res.Mirrors))
		return nil
	}
	p.metrics.commits.Inc()
	p.logger.Info("synced", "commit", r.Commit, "mirrors", len(res.Mirrors),
		"added", r.Added, "updated", r.Updated, "removed", r.Removed)
	return nil
}

// observe updates the render metrics and logs skipped Services when that
// set changed, not on every render.
func (p *pipeline) observe(res generate.Result) {
	p.metrics.objects.Reset()
	for kind, n := range res.Objects {
		p.metrics.objects.WithLabelValues(kind).Set(float64(n))
	}
	p.metrics.skipped.Reset()
	key := ""
	for _, s := range res.Skipped {
		p.metrics.skipped.WithLabelValues(s.Reason).Inc()
		key += s.Service + "|" + s.Reason + ";"
	}
	for _, w := range res.Warnings {
		key += w.Service + "|" + w.Reason + ";"
	}
	if key != p.lastSkipped {
		logSkipped(p.logger, res)
		p.lastSkipped = key
	}
}
