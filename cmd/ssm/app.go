package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/urfave/cli/v2"
	"k8s.io/klog/v2"

	"github.com/ssm-dev/ssm/cmd/ssm/internal/coredns"
	"github.com/ssm-dev/ssm/cmd/ssm/internal/help"
	"github.com/ssm-dev/ssm/cmd/ssm/internal/logging"
	"github.com/ssm-dev/ssm/internal/buildinfo"
)

// Exit statuses, documented in docs/render.md and `ssm --help`.
const (
	exitOK      = 0 // success
	exitDrift   = 1 // render --check: the directory differs from the remote state
	exitError   = 2 // bad input, unreachable remote, failed write: nothing was written
	exitInvalid = 3 // some remote Services could not be mirrored (invalid names); the rest were written
	exitHeld    = 4 // the render would remove more mirrors of a cluster than --max-removals allows: nothing was written
)

// Set by the linker: -X main.version=… -X main.commit=…. Unset, the build
// info the go command recorded stands in (buildVersion).
var (
	version = "dev"
	commit  = "unknown"
)

// versionLine is what `ssm version` and `ssm --version` print.
func versionLine() string {
	v, c := buildinfo.Version(version, commit, debug.ReadBuildInfo)
	return fmt.Sprintf("ssm %s (commit %s, %s, %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// exitErr carries an exit status other than exitError up to run.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "ssm",
		Usage: "mirror Services of remote Kubernetes clusters, the GitOps way",
		Description: "ssm reads label-selected Services and their endpoints from a remote cluster and renders\n" +
			"selector-less mirror Services <prefix>-<namespace>-73736d-<name> with their Endpoints or\n" +
			"EndpointSlices, as files for Argo CD or Flux to apply.\n\n" +
			"Every flag can also be set as SSM_<FLAG_NAME> (flags win).\n\n" +
			"Exit status: 0 success; 1 render --check found drift; 2 error (nothing written);\n" +
			"3 some remote Services could not be mirrored (invalid mirror names), the rest were written;\n" +
			"4 the render would remove more mirrors of a cluster than --max-removals allows (nothing written).",
		Version:              version,
		EnableBashCompletion: true, // the hidden --generate-bash-completion that ssm completion's scripts call
		Action:               rootAction,
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		// Only main exits: errors come back from Run and become exit statuses in run.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   help.UsageError,
		Commands:       []*cli.Command{renderCommand(), runCommand(), coredns.Command(coredns.Options{Env: env, Flagged: flagged}), migrateCommand(), completionCommand(), versionCommand()},
	}
	for _, c := range app.Commands {
		c.OnUsageError = help.UsageError
		c.HideHelpCommand = true
		if c.Name != "completion" && c.Name != "migrate" { // they take a shell, a subcommand
			c.Before = refuseArguments
		}
	}
	return app
}

// setPrinters sets urfave/cli's printers, which are globals, once: tests
// run the CLI many times in one process.
var setPrinters sync.Once

// run executes the CLI and maps its outcome to an exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	setPrinters.Do(func() {
		cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, versionLine()) }
		cli.HelpPrinter = flagLayout.Printer
		// --version alone: urfave/cli's -v alias made `ssm -v 3 render`
		// print the version and exit 0, the verbosity flag of other tools
		// read as success.
		cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version", DisableDefaultText: true}
	})
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, args)
	code := exitError
	var ee *exitErr
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		code = ee.code
		if ee.code == exitDrift { // --check printed the diff and logged the drift
			return code
		}
	}
	logging.PrintError(stderr, err, code, jsonLogs(args)) // with JSON logs, a log line like the others
	return code
}

// jsonLogs reports whether the command line or SSM_LOG_FORMAT asks for
// JSON logs; read from the arguments, as a parse error may stop the
// parser before it reads the flag.
func jsonLogs(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--log-format=json", a == "-log-format=json":
			return true
		case (a == "--log-format" || a == "-log-format") && i+1 < len(args):
			return args[i+1] == "json"
		}
	}
	return os.Getenv("SSM_LOG_FORMAT") == "json"
}

// refuseArguments fails a command given a positional argument: none takes
// one, and the parser stops reading flags at the first, so a stray word
// would silently drop every flag after it (--check in a CI step, say).
func refuseArguments(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("unexpected argument %q: ssm %s takes flags only, and reads none after an argument (see ssm help %s)",
			c.Args().First(), c.Command.Name, c.Command.Name)
	}
	return nil
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Category: catLogging, Value: "info", Usage: "log level: debug, info, warn or error", EnvVars: env("log-level")},
		&cli.StringFlag{Name: "log-format", Category: catLogging, Value: "text", Usage: "log format: text or json (logs go to stderr)", EnvVars: env("log-format")},
	}
}

// newLogger builds the one logger of the process and routes client-go's
// klog into it. With text logs to a terminal, it writes through the
// progress display it returns; else that is nil.
func newLogger(c *cli.Context) (*slog.Logger, *logging.Terminal, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	w, tty := c.App.ErrWriter, (*logging.Terminal)(nil)
	if c.String("log-format") == "text" {
		if tty = logging.NewTerminal(w, os.Getenv); tty != nil {
			w = tty
		}
	}
	h, err := logging.NewHandler(w, c.String("log-format"), level)
	if err != nil {
		return nil, nil, err
	}
	logger := slog.New(h)
	klog.SetSlogLogger(logger)
	return logger, tty, nil
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, commit and Go version",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintln(c.App.Writer, versionLine())
			return err
		},
	}
}
