package help

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// UsageError turns the parser's complaint into one line naming the flag
// and what it wants, instead of the whole help.
func UsageError(c *cli.Context, err error, _ bool) error {
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

var (
	// The flag package words a bool's bad value apart: "invalid boolean
	// value %q for -%s: %v".
	invalidValue  = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-+([^:]+):`)
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
