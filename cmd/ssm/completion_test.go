package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownCommand: a mistyped command is answered as kubectl and flux
// answer it, with the commands it may have meant; not "No help topic".
func TestUnknownCommand(t *testing.T) {
	for _, tc := range []struct{ args, stderr string }{
		{"rendr", "ssm: unknown command \"rendr\" for \"ssm\"\n\nDid you mean this?\n\trender\n"},
		{"rnu", "ssm: unknown command \"rnu\" for \"ssm\"\n\nDid you mean this?\n\trun\n"},
		{"cor", "ssm: unknown command \"cor\" for \"ssm\"\n\nDid you mean this?\n\tcoredns\n"},
		{"deploy", "ssm: unknown command \"deploy\" for \"ssm\"\n\nRun 'ssm --help' for usage.\n"},
	} {
		code, stdout, stderr := ssm(t, "", strings.Fields(tc.args)...)
		if code != exitError || stdout != "" || stderr != tc.stderr {
			t.Errorf("ssm %s: exit %d, stdout %q, stderr %q; want exit %d, no stdout, stderr %q", tc.args, code, stdout, stderr, exitError, tc.stderr)
		}
	}
	t.Setenv("SSM_LOG_FORMAT", "json")
	code, _, stderr := ssm(t, "", "rendr")
	if code != exitError || !strings.Contains(stderr, `"err":"unknown command \"rendr\" for \"ssm\""`) || !strings.Contains(stderr, `"hint":"Did you mean this?\n\trender"`) {
		t.Errorf("with JSON logs: exit %d, stderr %s; want one record with err and hint", code, stderr)
	}
}

// TestUsageErrors: errors of the parser name the flag as it was given and
// the help to read; -v is not --version (which made `ssm -v 3 render`
// print the version and exit 0).
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct{ args, stderr string }{
		{"-v 3 render", "ssm: unknown flag -v (see ssm --help)\n"},
		{"--bogus", "ssm: unknown flag --bogus (see ssm --help)\n"},
		{"render --lable-selector a=b", "ssm: unknown flag --lable-selector (see ssm help render)\n"},
		{"run --debounce soon", "ssm: --debounce \"soon\": want a duration such as 30s, 2m or 1h30m (see ssm help run)\n"},
		{"render --allow-empty=maybe", "ssm: --allow-empty \"maybe\": want true or false (see ssm help render)\n"},
	} {
		code, stdout, stderr := ssm(t, "", strings.Fields(tc.args)...)
		if code != exitError || stdout != "" || stderr != tc.stderr {
			t.Errorf("ssm %s: exit %d, stdout %q, stderr %q; want exit %d, no stdout, stderr %q", tc.args, code, stdout, stderr, exitError, tc.stderr)
		}
	}
	if code, stdout, _ := ssm(t, "", "--version"); code != exitOK || !strings.HasPrefix(stdout, "ssm ") {
		t.Errorf("ssm --version: exit %d, stdout %q; want the version", code, stdout)
	}
}

// TestCompletionBash sources `ssm completion bash` in a real bash, as a
// user's .bashrc does, and completes with it: a flag from its first
// letters, a command, nothing after a flag that takes a file (bash then
// completes file names).
func TestCompletionBash(t *testing.T) {
	bash := lookShell(t, "bash")
	shim := ssmShim(t)
	script := `source <(ssm completion bash)
complete -p ssm
c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _ssm_completion; echo "$* => ${COMPREPLY[*]}"; }
c ssm render --label-s
c ssm run --git-push-o
c ssm ren
c ssm completion ''
c ssm render --from-file ''
`
	cmd := exec.CommandContext(t.Context(), bash, "--norc", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(shim)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	want := `complete -o default -F _ssm_completion ssm
ssm render --label-s => --label-selector
ssm run --git-push-o => --git-push-option
ssm ren => render
ssm completion  => ` + `
ssm render --from-file  => ` + `
`
	if string(out) != want {
		t.Errorf("bash printed:\n%s\nwant:\n%s", out, want)
	}
}

// TestCompletionZshFish: the zsh script parses (zsh -n); fish's does, and
// fish completes a flag and a command with it.
func TestCompletionZshFish(t *testing.T) {
	shim := ssmShim(t)
	env := append(os.Environ(), "PATH="+filepath.Dir(shim)+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, tc := range []struct{ shell, script, want string }{
		{"zsh", "ssm completion zsh > c.zsh && zsh -n c.zsh && grep -c 'compdef _ssm_completion ssm' c.zsh", "1\n"},
		{"fish", "ssm completion fish > c.fish; and fish -n c.fish; and source c.fish; and complete -C 'ssm render --label-s'; and complete -C 'ssm cored'",
			"--label-selector\tlabel selector of the remote Services (and their endpoints) to mirror, e.g. mirror=true (required in endpoints mode; narrows nodeport mode)\n" +
				"coredns\tprint the CoreDNS server block that answers <name>.<namespace>.svc.<remote domain> from the mirrors\n"},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), lookShell(t, tc.shell), "-c", tc.script)
			cmd.Dir, cmd.Env = t.TempDir(), env
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != tc.want {
				t.Errorf("%s: %v; printed:\n%s\nwant:\n%s", tc.shell, err, out, tc.want)
			}
		})
	}
	code, _, stderr := ssm(t, "", "completion", "tcsh")
	if code != exitError || stderr != "ssm: unknown shell \"tcsh\": want bash, zsh, fish\n" {
		t.Errorf("ssm completion tcsh: exit %d, stderr %q", code, stderr)
	}
}

// lookShell finds a shell, skipping the test without it unless the run
// requires every tool (make test installs zsh and fish: hack/deps.sh).
func lookShell(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil && os.Getenv("SSM_E2E_REQUIRED") == "1" {
		t.Fatalf("%s: %v (hack/deps.sh installs it)", name, err)
	}
	if err != nil {
		t.Skipf("%s: %v", name, err)
	}
	return p
}
