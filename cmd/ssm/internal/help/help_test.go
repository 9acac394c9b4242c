package help_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/cmd/ssm/internal/help"
)

var layout = help.Layout{
	Order:    []string{"Remote", "Output", "Required"},
	Required: "Required",
	Needs:    map[string]help.Needs{"render": {Flags: []string{"mirror-ns", "label-selector"}, Note: "in endpoints mode"}},
}

// render is a command whose flags come in categories out of order, one
// required flag in a category of its own, one with none, one hidden.
func render() *cli.Command {
	return &cli.Command{
		Name:        "render",
		HelpName:    "demo render",
		Usage:       "render once",
		UsageText:   "demo render [flags]",
		Description: "Reads every remote once.\nWrites the mirrors.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write", Category: "Output"},
			&cli.StringFlag{Name: "label-selector", Usage: "what to mirror", Category: "Remote"},
			&cli.StringFlag{Name: "api-url", Usage: "the remote's API", Category: "Remote"},
			&cli.BoolFlag{Name: "dry-run", Usage: "write nothing"},
			&cli.StringFlag{Name: "mirror-ns", Usage: "the mirrors' namespace", Category: "Output"},
			&cli.StringFlag{Name: "secret", Hidden: true, Category: "Remote"},
		},
	}
}

func names(gs []help.Group) [][]string {
	var out [][]string
	for _, g := range gs {
		row := []string{g.Title}
		for _, f := range g.Flags {
			row = append(row, f.Names()[0])
		}
		out = append(out, row)
	}
	return out
}

// TestGroups: the required flags first in the order Needs gives, whatever
// their category; then Order; then the uncategorised as Other; hidden
// flags nowhere; a category in Order but empty left out.
func TestGroups(t *testing.T) {
	t.Parallel()
	want := [][]string{
		{"Required (in endpoints mode)", "mirror-ns", "label-selector"},
		{"Remote", "api-url"},
		{"Output", "output"},
		{"Other", "dry-run"},
	}
	if diff := cmp.Diff(want, names(layout.Groups(render()))); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	// A command that requires nothing has no required group.
	run := render()
	run.Name = "run"
	want = [][]string{{"Remote", "label-selector", "api-url"}, {"Output", "output", "mirror-ns"}, {"Other", "dry-run"}}
	if diff := cmp.Diff(want, names(layout.Groups(run))); diff != "" {
		t.Errorf("run's groups (-want +got):\n%s", diff)
	}
}

// TestPrinter: a command's help as `demo help render` prints it.
func TestPrinter(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	layout.Printer(&b, cli.CommandHelpTemplate, render())
	want := `NAME:
   demo render - render once

USAGE:
   demo render [flags]

DESCRIPTION:
   Reads every remote once.
   Writes the mirrors.

OPTIONS:
   Required (in endpoints mode)

   --mirror-ns value       the mirrors' namespace
   --label-selector value  what to mirror

   Remote

   --api-url value  the remote's API

   Output

   --output value, -o value  where to write

   Other

   --dry-run  write nothing (default: false)
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("help (-want +got):\n%s", diff)
	}
}

// TestPrinterThroughApp: the printer as urfave/cli calls it, for a
// command without HelpName (named "ssm <name>") and no description, and
// for the app itself, which keeps urfave/cli's own help.
func TestPrinterThroughApp(t *testing.T) {
	var b strings.Builder
	orig := cli.HelpPrinter
	cli.HelpPrinter = layout.Printer
	t.Cleanup(func() { cli.HelpPrinter = orig })
	cmd := &cli.Command{Name: "run", Usage: "render on every change", UsageText: "ssm run", Flags: []cli.Flag{&cli.StringFlag{Name: "debounce", Usage: "wait"}}}
	app := &cli.App{Name: "ssm", Usage: "mirror Services", Writer: &b, Commands: []*cli.Command{cmd}, HideHelpCommand: true}
	if err := app.Run([]string{"ssm", "run", "--help"}); err != nil {
		t.Fatal(err)
	}
	want := "NAME:\n   ssm run - render on every change\n\nUSAGE:\n   ssm run\n\nOPTIONS:\n   Other\n\n   --debounce value  wait\n   --help, -h        show help\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("ssm run --help (-want +got):\n%s", diff)
	}
	b.Reset()
	if err := app.Run([]string{"ssm", "--help"}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.HasPrefix(got, "NAME:\n   ssm - mirror Services\n") || !strings.Contains(got, "COMMANDS:\n   run  render on every change") {
		t.Errorf("ssm --help is not urfave/cli's app help:\n%s", got)
	}
}
