package help_test

import (
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/cmd/ssm/internal/help"
)

// TestUsageError runs a real urfave/cli app with UsageError as its
// OnUsageError, as ssm's is: each complaint of the parser becomes one line
// naming the flag as given, what it takes, and the help to read.
func TestUsageError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ args, want string }{
		{"ssm --bogus", "unknown flag --bogus (see ssm --help)"},
		{"ssm -x", "unknown flag -x (see ssm --help)"},
		{"ssm run --lable-selector a", "unknown flag --lable-selector (see ssm help run)"},
		{"ssm run --debounce soon", `--debounce "soon": want a duration such as 30s, 2m or 1h30m (see ssm help run)`},
		{"ssm run -d soon", `-d "soon": want a duration such as 30s, 2m or 1h30m (see ssm help run)`},
		{"ssm run --once=maybe", `--once "maybe": want true or false (see ssm help run)`},
		{"ssm run --workers many", `--workers "many": want a whole number (see ssm help run)`},
		{"ssm run --retries -1", `--retries "-1": want a whole number (see ssm help run)`},
		{"ssm --verbosity x", `--verbosity "x": want a whole number (see ssm --help)`},
		{"ssm run --ratio x", `--ratio "x": want a valid value (see ssm help run)`},
		{"ssm run --debounce", "flag needs an argument: -debounce (see ssm help run)"},
	} {
		if got := usageError(t, tc.args); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.args, got, tc.want)
		}
	}
}

func usageError(t *testing.T, args string) string {
	t.Helper()
	run := &cli.Command{Name: "run", OnUsageError: help.UsageError, Action: func(*cli.Context) error { return nil }, Flags: []cli.Flag{
		&cli.DurationFlag{Name: "debounce", Aliases: []string{"d"}},
		&cli.BoolFlag{Name: "once"},
		&cli.IntFlag{Name: "workers"},
		&cli.UintFlag{Name: "retries"},
		&cli.Float64Flag{Name: "ratio"},
		&cli.StringFlag{Name: "label-selector"},
	}}
	app := &cli.App{
		Name: "ssm", OnUsageError: help.UsageError, Writer: io.Discard, ErrWriter: io.Discard,
		Flags:    []cli.Flag{&cli.Int64Flag{Name: "verbosity"}},
		Commands: []*cli.Command{run},
	}
	err := app.Run(strings.Fields(args))
	if err == nil {
		t.Fatalf("%s: no error", args)
	}
	return err.Error()
}
