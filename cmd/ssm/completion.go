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
	return completion.UnknownCommand(c.Args().First(), c.App.Name, c.App.VisibleCommands())
}
