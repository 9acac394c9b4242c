package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

const (
	catRequired = "Required"
	catLogging  = "Logging"
)

// categoryOrder is the order of flag groups in help and docs: what a
// command cannot run without first.
var categoryOrder = []string{catRequired, catRemote, catRender, catOutput, catGit, catRun, catConfig, catLocal, catNodePort, catMCS, catLogging}

// required names, per command, the flags it needs unless another way is
// given, and says which way.
var required = map[string]struct {
	flags []string
	note  string
}{
	"render":  {[]string{"label-selector", "svc-prefix", "mirror-ns"}, "endpoints mode, unless --config gives them"},
	"run":     {[]string{"label-selector", "svc-prefix", "mirror-ns", "git-url", "git-path"}, "endpoints mode, unless --config gives the first three; --output DIR instead of --git-url and --git-path"},
	"coredns": {[]string{"svc-prefix", "mirror-ns", "domain"}, "unless --config gives them"},
}

// flagGroup is a titled list of flags.
type flagGroup struct {
	title string
	flags []cli.Flag
}

// groups sorts a command's visible flags into categoryOrder, the required
// ones first whatever their category.
func groups(c *cli.Command) []flagGroup {
	req := required[c.Name]
	byCat := map[string][]cli.Flag{}
	for _, f := range c.VisibleFlags() {
		cat := ""
		if vf, ok := f.(cli.CategorizableFlag); ok {
			cat = vf.GetCategory()
		}
		if slices.Contains(req.flags, f.Names()[0]) {
			cat = catRequired
		}
		byCat[cat] = append(byCat[cat], f)
	}
	var out []flagGroup
	for _, cat := range append(slices.Clone(categoryOrder), "") {
		if fs := byCat[cat]; len(fs) > 0 {
			title := cat
			switch {
			case cat == catRequired:
				title += " (" + req.note + ")"
				slices.SortStableFunc(fs, func(a, b cli.Flag) int {
					return slices.Index(req.flags, a.Names()[0]) - slices.Index(req.flags, b.Names()[0])
				})
			case cat == "":
				title = "Other"
			}
			out = append(out, flagGroup{title, fs})
		}
	}
	return out
}

// printHelp is urfave/cli's help printer, but for a command's flags: they
// come in groups, required ones first, instead of sorted by group name.
func printHelp(w io.Writer, templ string, data any) {
	c, ok := data.(*cli.Command)
	if !ok || len(c.Flags) == 0 {
		cli.HelpPrinterCustom(w, templ, data, nil)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "NAME:\n   ssm %s - %s\n\nUSAGE:\n   %s\n", c.Name, c.Usage, c.UsageText)
	if c.Description != "" {
		fmt.Fprintf(&b, "\nDESCRIPTION:\n   %s\n", strings.ReplaceAll(c.Description, "\n", "\n   "))
	}
	b.WriteString("\nOPTIONS:")
	for _, g := range groups(c) {
		fmt.Fprintf(&b, "\n   %s\n\n", g.title)
		// urfave/cli writes a flag as "names\tusage": aligned as it aligns them.
		tw := tabwriter.NewWriter(&b, 1, 8, 2, ' ', 0)
		for _, f := range g.flags {
			fmt.Fprintf(tw, "   %s\n", strings.ReplaceAll(f.String(), "\n", "\n   "))
		}
		_ = tw.Flush()
	}
	_, _ = io.WriteString(w, b.String())
}
