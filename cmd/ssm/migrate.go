package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/cmd/ssm/internal/completion"
	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/migrate"
	"github.com/ssm-dev/ssm/mirror"
)

func migrateCommand() *cli.Command {
	flags := append(configFlags(), localFlags()...)
	flags = append(flags,
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Category: catOutput, EnvVars: env("migrate-output"), Value: "script",
			Usage: "script: a shell script of kubectl deletes, each under a comment saying why; list: a v1 List of the objects, for review or kubectl delete -f"},
		&cli.DurationFlag{Name: "timeout", Category: catRemote, EnvVars: env("timeout"), Value: config.DefaultTimeout, Usage: "deadline of each request to an API server"})
	return &cli.Command{
		Name:      "migrate",
		Usage:     "list what a controller ssm replaces left in the local cluster: ssm migrate semaphore-service-mirror",
		UsageText: "ssm migrate semaphore-service-mirror --config FILE [--kube-config F] [-o script|list]",
		Action: func(c *cli.Context) error {
			if !c.Args().Present() {
				return cli.ShowSubcommandHelp(c)
			}
			return completion.UnknownCommand(c.Args().First(), "ssm migrate", c.Command.VisibleCommands())
		},
		Subcommands: []*cli.Command{{
			Name: "semaphore-service-mirror",
			Usage: "list the Services, Endpoints and EndpointSlices semaphore-service-mirror v0.4 left in the mirror namespace that ssm does not render, " +
				"as a kubectl delete script or a List, each with why (reads the clusters, writes none)",
			UsageText: "ssm migrate semaphore-service-mirror --config FILE [--kube-config F] [-o script|list] > cleanup.sh",
			Flags:     append(flags, logFlags()...),
			Before:    refuseArguments,
			Action:    migrateAction,
		}},
	}
}

func migrateAction(c *cli.Context) error {
	format := c.String("output")
	if format != "script" && format != "list" {
		return fmt.Errorf("--output %q: want script or list", format)
	}
	if c.String("config") == "" {
		return fmt.Errorf("--config is required: semaphore-service-mirror's configuration file, as ssm render and run read it")
	}
	logger, _, err := newLogger(c)
	if err != nil {
		return err
	}
	cfg, err := config.Resolve(c.String("config"), overrides(c))
	if err != nil {
		return flagged(err)
	}
	if cfg.API == generate.APIMCS { // every mirror would be listed, those clients still use included
		return errors.New("global.api mcs renders no mirrors, so every mirror semaphore-service-mirror made would be listed: " +
			"give the configuration that renders the mirrors (global.api mirrors), and remove them once clients use clusterset.local (docs/mcs.md)")
	}
	logNotes(logger, cfg)
	rep, err := mirror.RunOnce(c.Context, cfg, fileset.StreamSink{W: io.Discard}, mirror.Options{Logger: logger, Stdin: c.App.Reader})
	if err != nil {
		return err
	}
	local := migrate.Local(cfg, c.String("kube-config"), c.String("kube-context"), c.Duration("timeout"))
	opts, err := migrate.FromConfig(c.Context, cfg, rep.Render.Files, local)
	if err != nil {
		return err
	}
	left, err := migrate.SemaphoreServiceMirror(c.Context, opts)
	if err != nil {
		return err
	}
	logger.Info("listed what semaphore-service-mirror left", "cluster", local.Describe(), "namespace", opts.Namespace, "leftovers", len(left))
	if format == "list" {
		return migrate.List(c.App.Writer, left)
	}
	return migrate.Script(c.App.Writer, local.Describe()+", namespace "+opts.Namespace, left)
}
