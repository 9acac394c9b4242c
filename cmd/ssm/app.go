package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
	"k8s.io/klog/v2"

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
		OnUsageError:   usageError,
		Commands:       []*cli.Command{renderCommand(), runCommand(), corednsCommand(), migrateCommand(), completionCommand(), versionCommand()},
	}
	for _, c := range app.Commands {
		c.OnUsageError = usageError
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
	printError(stderr, err, code, jsonLogs(args)) // with JSON logs, a log line like the others
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

// usageError turns the parser's complaint into one line naming the flag
// and what it wants, instead of the whole help.
func usageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	see := "see ssm --help"
	if name := c.Command.Name; name != "" && name != c.App.Name {
		see = "see ssm help " + name
	}
	if m := invalidValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s %q: want %s (%s)", dashed(m[2]), m[1], wants(c, m[2]), see)
	}
	if m := undefinedFlag.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("unknown flag %s (%s)", dashed(m[1]), see)
	}
	return fmt.Errorf("%s (%s)", msg, see)
}

// dashed writes a flag as it is given: -v, --label-selector.
func dashed(name string) string {
	if name = strings.TrimLeft(name, "-"); len(name) == 1 {
		return "-" + name
	}
	return "--" + name
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

var (
	invalidValue  = regexp.MustCompile(`^invalid value "(.*)" for flag -+([^:]+):`)
	undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
)

// wants says what a flag takes, by its type.
func wants(c *cli.Context, name string) string {
	for _, f := range append(c.Command.Flags, c.App.Flags...) {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.DurationFlag:
			return "a duration such as 30s, 2m or 1h30m"
		case *cli.BoolFlag:
			return "true or false"
		case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag:
			return "a whole number"
		}
	}
	return "a valid value"
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Category: catLogging, Value: "info", Usage: "log level: debug, info, warn or error", EnvVars: env("log-level")},
		&cli.StringFlag{Name: "log-format", Category: catLogging, Value: "text", Usage: "log format: text or json (logs go to stderr)", EnvVars: env("log-format")},
	}
}

// newLogger builds the one logger of the process and routes client-go's
// klog into it.
func newLogger(c *cli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	h, err := logging.NewHandler(c.App.ErrWriter, c.String("log-format"), level)
	if err != nil {
		return nil, err
	}
	logger := slog.New(h)
	klog.SetSlogLogger(logger)
	return logger, nil
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
