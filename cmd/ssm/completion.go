package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/cmd/ssm/internal/completion"
)

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		UsageText: "source <(ssm completion bash)   # zsh: source <(ssm completion zsh); fish: ssm completion fish | source",
		Action: func(c *cli.Context) error {
			switch {
			case c.NArg() == 0:
				return fmt.Errorf("give one shell: ssm completion %s", strings.Join(completion.Shells, "|"))
			case c.NArg() > 1:
				return fmt.Errorf("unexpected argument %q: ssm completion takes one shell", c.Args().Get(1))
			}
			s, err := completion.Script(c.Args().First(), c.App)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, s)
			return err
		},
	}
}

// rootAction answers `ssm` alone with the help, and a word that names no
// command as kubectl and flux answer it: unknown command, and the commands
// it may have meant.
func rootAction(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowAppHelp(c)
	}
	return unknownCommand(c.Args().First(), c.App.Name, c.App.VisibleCommands())
}

func unknownCommand(typed, of string, cmds []*cli.Command) error {
	err := fmt.Errorf("unknown command %q for %q", typed, of)
	if near := completion.Suggest(typed, cmds); len(near) > 0 {
		return &hintErr{err, "Did you mean this?\n\t" + strings.Join(near, "\n\t")}
	}
	return &hintErr{err, fmt.Sprintf("Run '%s --help' for usage.", of)}
}

// hintErr is an error with advice printed below it, on lines of its own.
type hintErr struct {
	err  error
	hint string
}

func (e *hintErr) Error() string { return e.err.Error() }
func (e *hintErr) Unwrap() error { return e.err }
