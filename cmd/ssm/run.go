package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/cmd/ssm/internal/server"
	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/gitsync"
	"github.com/ssm-dev/ssm/mirror"
)

const (
	catGit = "Git"
	catRun = "Running"
)

func runFlags() []cli.Flag {
	s := func(name, cat, usage, value string) cli.Flag {
		return &cli.StringFlag{Name: name, Category: cat, EnvVars: env(name), Usage: usage, Value: value}
	}
	d := func(name, cat, usage string, value time.Duration) cli.Flag {
		return &cli.DurationFlag{Name: name, Category: cat, EnvVars: env(name), Usage: usage, Value: value}
	}
	return []cli.Flag{
		s("output", catOutput, "directory ssm owns and keeps equal to the remote state (instead of --git-url)", ""),
		s("git-url", catGit, "repository to commit to: ssh://…, git@host:path, https://…, or a local path / file:// URL", ""),
		s("git-branch", catGit, "branch to commit to; with --git-push-branch, the base it is read from. A missing branch is started in an empty repository, else only with --git-create-branch", "main"),
		&cli.BoolFlag{Name: "git-create-branch", Category: catGit, EnvVars: env("git-create-branch"),
			Usage: "start --git-branch, as a root commit, in a repository that has other branches (without it, a missing branch there is an error: a typo, most likely)"},
		s("git-push-branch", catGit, "branch to push to instead, for review: kept equal to --git-branch's head plus one ssm commit, "+
			"made again when either moves, deleted once --git-branch holds the render (docs/git.md)", ""),
		&cli.StringSliceFlag{Name: "git-push-option", Category: catGit, EnvVars: env("git-push-option"),
			Usage: "option sent with every push, as git push -o sends it: any string on one line (repeatable; GitLab: merge_request.create, merge_request.target=main); http(s) and ssh only"},
		s("git-path", catGit, "folder ssm owns inside the repository (. for the root); nothing outside it is touched", ""),
		s("git-author-name", catGit, "commit author name", "ssm"),
		s("git-author-email", catGit, "commit author email", "ssm@localhost"),
		s("git-commit-template", catGit, "Go text/template of the commit message, its first line the subject; "+
			"fields .Added .Updated .Removed .Clusters .Revisions .Subject .Files (docs/git.md)", ""),
		s("git-signing-key-path", catGit, "sign every commit with this key: an armored OpenPGP private key, or an SSH private key "+
			"(git's gpg.format=ssh); each commit is verified before it is pushed", ""),
		s("git-signing-passphrase-path", catGit, "file holding the passphrase of an encrypted signing key", ""),
		s("git-ssh-key-path", catGit, "SSH private key for ssh URLs", ""),
		s("git-known-hosts-path", catGit, "known_hosts file verifying the SSH server's host key", ""),
		&cli.BoolFlag{Name: "git-insecure-skip-host-key-check", Category: catGit, EnvVars: env("git-insecure-skip-host-key-check"),
			Usage: "do not verify the SSH server's host key (never in production)"},
		s("git-username", catGit, "username for https URLs", ""),
		s("git-password-path", catGit, "file holding the https password or token, re-read before every fetch and push", ""),
		s("git-ca-file", catGit, "PEM bundle of the certificate authorities an https git server is checked against, instead of the system's (an internal server with a private CA)", ""),
		d("git-timeout", catGit, "deadline of each git network step (fetch, push)", 30*time.Second),
		d("resync-period", catRun, "re-render from the cache this often, even without events (0: never)", time.Hour),
		d("debounce", catRun, "quiet time after the last remote event before rendering", 2*time.Second),
		d("max-delay", catRun, "longest a steady stream of remote events can postpone a render", 10*time.Second),
		s("listen-address", catRun, "address serving /healthz, /readyz and /metrics", ":8080"),
		s("admin-address", catRun, "address serving GET /removals and POST /removals/approve (approving held removals): loopback, so that only who can "+
			"port-forward to (or exec into) the pod approves; any other address needs --admin-token-file; empty: none (docs/safety.md)", "127.0.0.1:8081"),
		s("admin-token-file", catRun, "file holding the bearer token every request to --admin-address must carry (Authorization: Bearer …; "+
			"at least 16 characters), read again on every request so that a rotated Secret applies; required when --admin-address is not loopback", ""),
		&cli.IntFlag{Name: "shards", Category: catConfig, EnvVars: env("shards"),
			Usage: "with --config: spread the remotes over this many replicas writing one branch, each rendering its share and keeping the others' files (a StatefulSet; docs/scale.md)"},
		&cli.IntFlag{Name: "shard-index", Category: catConfig, EnvVars: env("shard-index"),
			Usage: "this replica's shard, 0 to --shards - 1: the StatefulSet pod index (downward API: metadata.labels['apps.kubernetes.io/pod-index'])"},
	}
}

func runCommand() *cli.Command {
	flags := append(pipelineFlags(), runFlags()...)
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

func runAction(c *cli.Context) error {
	logger, _, err := newLogger(c)
	if err != nil {
		return err
	}
	t := mirror.Timing{Debounce: c.Duration("debounce"), MaxDelay: c.Duration("max-delay"), BackoffMin: time.Second, BackoffMax: 2 * time.Minute}
	if err := t.Validate(); err != nil {
		return flagged(err)
	}
	cfg, err := config.Resolve(c.String("config"), overrides(c))
	if err != nil {
		return flagged(err)
	}
	logNotes(logger, cfg)
	sink, where, err := sinkFrom(c, logger)
	if err != nil {
		return err
	}
	if err := checkAdminAddress(c.String("admin-address"), c.String("admin-token-file")); err != nil {
		return err
	}
	m, h, approvals := server.NewMetrics(version, commit), &server.Health{MaxAge: readyAge(cfg, c.Duration("resync-period"), t)}, mirror.NewApprovals()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	how, err := server.Start(ctx, server.Options{Address: c.String("listen-address"), AdminAddress: c.String("admin-address"),
		AdminTokenFile: c.String("admin-token-file"), Metrics: m, Health: h, Approvals: approvals, Logger: logger}, &wg)
	if bl, ok := errors.AsType[*server.BeyondLoopbackError](err); ok {
		return fmt.Errorf("--admin-address %s listens on %s, beyond loopback: give --admin-token-file too", bl.Address, bl.Bound)
	} else if err != nil {
		return err
	}
	if how == nil {
		how = func(string, string) []any {
			return []any{"approve", "approvals are off (--admin-address is empty): raise --max-removals, or restart with an --admin-address"}
		}
	}
	return mirror.Run(ctx, cfg, sink, mirror.Options{Logger: logger.With("sink", where), Observer: server.Observer(m, h),
		Timing: t, Resync: c.Duration("resync-period"), Approvals: approvals, HowToApprove: how})
}

// checkAdminAddress refuses a listener beyond loopback without a token,
// and a token file that cannot be read or holds no usable token.
func checkAdminAddress(addr, tokenFile string) error {
	if tokenFile != "" {
		if _, err := server.ReadToken(tokenFile); err != nil {
			return fmt.Errorf("--admin-token-file: %w", err)
		}
	}
	if addr == "" || tokenFile != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--admin-address %q: %w", addr, err)
	}
	if !server.LoopbackHost(host) {
		return fmt.Errorf("--admin-address %s listens beyond loopback: give --admin-token-file too, so that approving takes a token "+
			"(or keep it on 127.0.0.1 and use kubectl port-forward; docs/safety.md)", addr)
	}
	return nil
}

// readyAge is how long /readyz stays ready without a successful write:
// two of the longest resync periods and the longest delay of a render; 0
// (no limit) when a cluster never resyncs.
func readyAge(cfg config.Config, resync time.Duration, t mirror.Timing) time.Duration {
	longest := time.Duration(0)
	for _, c := range cfg.Clusters {
		r := cmp.Or(c.Resync, resync)
		if r <= 0 {
			return 0
		}
		longest = max(longest, r)
	}
	return 2*longest + t.MaxDelay
}

// sinkFrom is the directory or git branch the flags name, described for logs.
func sinkFrom(c *cli.Context, logger *slog.Logger) (mirror.Sink, string, error) {
	out, url := c.String("output"), c.String("git-url")
	switch {
	case out != "" && url != "":
		return nil, "", errors.New("give either --output or --git-url, not both")
	case out == "-":
		return nil, "", errors.New("run needs a directory or a git repository: --output - is for render")
	case out != "":
		return fileset.DirSink{Dir: out, Ownership: mirror.Ownership}, out, nil
	case url == "":
		return nil, "", errors.New("give --git-url (and --git-path) or --output")
	case c.String("git-path") == "":
		return nil, "", errors.New("--git-path is required with --git-url: the folder ssm owns in the repository (. for the root)")
	}
	opts := gitsync.RepoOptions{
		URL: url, Branch: c.String("git-branch"), CreateBranch: c.Bool("git-create-branch"), Path: c.String("git-path"),
		AuthorName: c.String("git-author-name"), AuthorEmail: c.String("git-author-email"),
		SSHKeyPath: c.String("git-ssh-key-path"), KnownHostsPath: c.String("git-known-hosts-path"),
		InsecureIgnoreHostKey: c.Bool("git-insecure-skip-host-key-check"),
		Username:              c.String("git-username"), PasswordPath: c.String("git-password-path"), CAFile: c.String("git-ca-file"),
		Timeout: c.Duration("git-timeout"), Ownership: mirror.Ownership, Logger: logger,
		PushBranch: c.String("git-push-branch"), PushOptions: c.StringSlice("git-push-option"),
		SigningKeyPath: c.String("git-signing-key-path"), SigningPassphrasePath: c.String("git-signing-passphrase-path"),
	}
	if err := opts.Validate(); err != nil {
		return nil, "", err
	}
	sink := mirror.NewGitSink(opts)
	if text := c.String("git-commit-template"); text != "" {
		t, err := mirror.ParseCommitTemplate(text)
		if err != nil {
			return nil, "", fmt.Errorf("--git-commit-template: %w", err)
		}
		sink.Template = t
	}
	return sink, opts.String(), nil
}
