// Package help prints a command's help with its flags in groups, the
// required ones first, instead of urfave/cli's groups sorted by name; the
// docs' flag tables are made from the same groups. What the groups are is
// cmd/ssm's to say (Layout). It imports none of ssm's packages.
package help

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// Layout says how a command's flags are grouped.
type Layout struct {
	// Order is the order of the flag categories; flags of a category not
	// in it come last, as "Other".
	Order []string
	// Required is the title of the group of required flags, which comes
	// first whatever their category.
	Required string
	// Needs names, per command, the flags it requires, and a note saying
	// when (unless another way is given).
	Needs map[string]Needs
}

// Needs are the flags a command requires, in the order to show them.
type Needs struct {
	Flags []string
	Note  string
}

// Group is a titled list of flags.
type Group struct {
	Title string
	Flags []cli.Flag
}

// Groups sorts a command's visible flags into l.Order, the required ones
// first whatever their category.
func (l Layout) Groups(c *cli.Command) []Group {
	req := l.Needs[c.Name]
	byCat := map[string][]cli.Flag{}
	for _, f := range c.VisibleFlags() {
		cat := ""
		if vf, ok := f.(cli.CategorizableFlag); ok {
			cat = vf.GetCategory()
		}
		if slices.Contains(req.Flags, f.Names()[0]) {
			cat = l.Required
		}
		byCat[cat] = append(byCat[cat], f)
	}
	var out []Group
	for _, cat := range append([]string{l.Required}, append(slices.Clone(l.Order), "")...) {
		fs := byCat[cat]
		delete(byCat, cat) // the required category may be in Order too
		if len(fs) == 0 {
			continue
		}
		title := cat
		switch cat {
		case l.Required:
			title += " (" + req.Note + ")"
			slices.SortStableFunc(fs, func(a, b cli.Flag) int {
				return slices.Index(req.Flags, a.Names()[0]) - slices.Index(req.Flags, b.Names()[0])
			})
		case "":
			title = "Other"
		}
		out = append(out, Group{title, fs})
	}
	return out
}

// Printer is urfave/cli's help printer, but for a command's flags: they
// come in l's groups.
func (l Layout) Printer(w io.Writer, templ string, data any) {
	c, ok := data.(*cli.Command)
	if !ok || len(c.Flags) == 0 {
		cli.HelpPrinterCustom(w, templ, data, nil)
		return
	}
	var b strings.Builder
	name := c.HelpName // "ssm render", "ssm migrate semaphore-service-mirror"
	if name == "" {
		name = "ssm " + c.Name
	}
	fmt.Fprintf(&b, "NAME:\n   %s - %s\n\nUSAGE:\n   %s\n", name, c.Usage, c.UsageText)
	if c.Description != "" {
		fmt.Fprintf(&b, "\nDESCRIPTION:\n   %s\n", strings.ReplaceAll(c.Description, "\n", "\n   "))
	}
	b.WriteString("\nOPTIONS:")
	for _, g := range l.Groups(c) {
		fmt.Fprintf(&b, "\n   %s\n\n", g.Title)
		// urfave/cli writes a flag as "names\tusage": aligned as it aligns them.
		tw := tabwriter.NewWriter(&b, 1, 8, 2, ' ', 0)
		for _, f := range g.Flags {
			fmt.Fprintf(tw, "   %s\n", strings.ReplaceAll(f.String(), "\n", "\n   "))
		}
		_ = tw.Flush()
	}
	_, _ = io.WriteString(w, b.String())
}
