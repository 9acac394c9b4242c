package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"

	"github.com/urfave/cli/v2"
	"k8s.io/klog/v2"
)

// Exit statuses, documented in README.md and `ssm --help`.
const (
	exitOK      = 0 // success
	exitDrift   = 1 // render --check: the directory differs from the remote state
	exitError   = 2 // bad input, unreachable remote, failed write: nothing was written
	exitInvalid = 3 // some remote Services could not be mirrored (invalid names); the rest were written
	exitHeld    = 4 // the render would remove more mirrors of a cluster than --max-removals allows: nothing was written
)

// Set by the linker: -X main.version=… -X main.commit=….
var (
	version = "dev"
	commit  = "unknown"
)

// exitErr carries an exit status other than exitError up to run.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "ssm",
		Usage: "mirror Services of remote Kubernetes clusters, the GitOps way",
		Description: "ssm reads label-selected Services and their endpoints from a remote cluster and renders\n" +
			"selector-less mirror Services <prefix>-<namespace>-73736d-<name> with their Endpoints or\n" +
			"EndpointSlices, as files for Argo CD or Flux to apply.\n\n" +
			"Every flag can also be set as SSM_<FLAG_NAME> (flags win).\n\n" +
			"Exit status: 0 success; 1 render --check found drift; 2 error (nothing written);\n" +
			"3 some remote Services could not be mirrored (invalid mirror names), the rest were written;\n" +
			"4 the render would remove more mirrors of a cluster than --max-removals allows (nothing written).",
		Version:         version,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// Only main exits: errors come back from Run and become exit statuses in run.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       []*cli.Command{renderCommand(), runCommand(), versionCommand(), corednsCommand()},
	}
}

// run executes the CLI and maps its outcome to an exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := newApp(stdin, stdout, stderr).RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != exitDrift {
			fmt.Fprintf(stderr, "ssm: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "ssm: %v\n", err)
	return exitError
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn or error", EnvVars: env("log-level")},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json", EnvVars: env("log-format")},
	}
}

// newLogger builds the one logger of the process and routes client-go's
// klog into it.
func newLogger(c *cli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch c.String("log-format") {
	case "text":
		h = slog.NewTextHandler(c.App.ErrWriter, opts)
	case "json":
		h = slog.NewJSONHandler(c.App.ErrWriter, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", c.String("log-format"))
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
			_, err := fmt.Fprintf(c.App.Writer, "ssm %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
