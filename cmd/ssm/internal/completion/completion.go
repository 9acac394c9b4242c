// Package completion holds the shell completion scripts `ssm completion`
// prints. The bash and zsh scripts ask the ssm they complete for the words
// (urfave/cli's --generate-bash-completion), so they offer exactly the
// commands and flags of that binary, as kubectl's and flux's scripts ask
// theirs (cobra's __complete); fish takes urfave/cli's own script, which
// lists every command and flag with its usage. It imports none of ssm's
// packages.
package completion

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xrash/smetrics"
)

// Shells are the shells Script writes for.
var Shells = []string{"bash", "zsh", "fish"}

// Script is the completion script of app for shell.
func Script(shell string, app *cli.App) (string, error) {
	switch shell {
	case "bash":
		return strings.ReplaceAll(bash, "PROG", app.Name), nil
	case "zsh":
		return strings.ReplaceAll(zsh, "PROG", app.Name), nil
	case "fish":
		s, err := app.ToFishCompletion()
		if err != nil {
			return "", fmt.Errorf("fish completion: %w", err)
		}
		return s, nil
	}
	return "", fmt.Errorf("unknown shell %q: want %s", shell, strings.Join(Shells, ", "))
}

// Suggest names the commands within two edits of typed, or beginning with
// it: cobra's rule, which kubectl and flux follow.
func Suggest(typed string, cmds []*cli.Command) []string {
	var near []string
	for _, c := range cmds {
		for _, n := range c.Names() {
			if smetrics.WagnerFischer(strings.ToLower(typed), n, 1, 1, 1) <= 2 || strings.HasPrefix(n, strings.ToLower(typed)) {
				near = append(near, n)
				break
			}
		}
	}
	return near
}

// UnknownCommand is the error of a word of ssm's command line (of: "ssm",
// "ssm migrate") that names none of cmds, as kubectl and flux word it,
// with a hint naming the commands it may have meant.
func UnknownCommand(typed, of string, cmds []*cli.Command) error {
	err := &unknownCommand{fmt.Sprintf("unknown command %q for %q", typed, of), fmt.Sprintf("Run '%s --help' for usage.", of)}
	if near := Suggest(typed, cmds); len(near) > 0 {
		err.hint = "Did you mean this?\n\t" + strings.Join(near, "\n\t")
	}
	return err
}

type unknownCommand struct{ msg, hint string }

func (e *unknownCommand) Error() string { return e.msg }

// Hint is what to print below the error, on lines of its own.
func (e *unknownCommand) Hint() string { return e.hint }

// bash needs no bash-completion package: it reads COMP_WORDS itself. The
// word being completed is passed on when it is a flag, so that ssm offers
// the flags it begins; after a flag that takes a value, ssm offers nothing
// and bash completes file names (-o default).
const bash = `# bash completion for PROG. Load it with:
#   source <(PROG completion bash)
# or for every shell: PROG completion bash > /etc/bash_completion.d/PROG
_PROG_completion() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
	[[ $cur == -* ]] && words+=("$cur")
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o default -F _PROG_completion PROG
`

// zsh is urfave/cli's zsh script (autocomplete/zsh_autocomplete), its
// program named.
const zsh = `#compdef PROG
# zsh completion for PROG. Load it with (compinit first):
#   source <(PROG completion zsh)
_PROG_completion() {
	local -a opts
	local cur=${words[-1]}
	if [[ $cur == -* ]]; then
		opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
	else
		opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
	fi
	if [[ "${opts[1]}" != "" ]]; then
		_describe 'values' opts
	else
		_files
	fi
}
compdef _PROG_completion PROG
`
