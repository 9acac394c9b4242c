package completion_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/cmd/ssm/internal/completion"
)

// demo is the program the scripts complete: a few commands and flags, as
// urfave/cli offers them to --generate-bash-completion.
func demo() *cli.App {
	return &cli.App{
		Name:                 "demo",
		EnableBashCompletion: true,
		Flags:                []cli.Flag{&cli.StringFlag{Name: "log-level", Usage: "how much to log"}},
		Commands: []*cli.Command{
			{Name: "render", Usage: "render once", Flags: []cli.Flag{
				&cli.StringFlag{Name: "label-selector", Usage: "what to mirror"},
				&cli.StringFlag{Name: "from-file", Usage: "a snapshot", TakesFile: true},
			}},
			{Name: "run", Usage: "render on every change"},
			{Name: "coredns", Aliases: []string{"corefile"}, Usage: "print a Corefile block"},
		},
	}
}

// TestMain runs demo instead of the tests when a script under test calls
// the test binary by demo's name.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "demo" {
		if err := demo().Run(os.Args); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// onPath puts this test binary on PATH as demo.
func onPath(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "demo")); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func script(t *testing.T, shell string) string {
	t.Helper()
	s, err := completion.Script(shell, demo())
	if err != nil {
		t.Fatalf("Script(%s): %v", shell, err)
	}
	return s
}

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

func runShell(t *testing.T, shell string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), lookShell(t, shell), args...)
	cmd.Dir, cmd.Env = t.TempDir(), env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", shell, err, out)
	}
	return string(out)
}

// TestBash sources the script in a real bash, without the bash-completion
// package, and completes as a user's Tab would: the program named in the
// script, flags from their first letters, commands and their aliases,
// nothing after a flag taking a file (bash's -o default completes names).
func TestBash(t *testing.T) {
	t.Parallel()
	s := script(t, "bash")
	if strings.Contains(s, "PROG") {
		t.Errorf("the program is not named everywhere:\n%s", s)
	}
	out := runShell(t, "bash", onPath(t), "--norc", "-c", s+`
complete -p demo
c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _demo_completion; echo "$* => ${COMPREPLY[*]}"; }
c demo ''
c demo r
c demo core
c demo --log
c demo render --label
c demo render --from-file ''
`)
	want := `complete -o default -F _demo_completion demo
demo  => render run coredns corefile help h
demo r => render run
demo core => coredns corefile
demo --log => --log-level
demo render --label => --label-selector
demo render --from-file  => ` + `
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("bash (-want +got):\n%s", diff)
	}
}

// TestZsh runs the script's function in a real zsh, compsys's _describe
// and _files played by functions that print what they are given: the words
// demo offers (_describe keeps those the word begins), or file names when
// it offers none.
func TestZsh(t *testing.T) {
	t.Parallel()
	s := script(t, "zsh")
	if !strings.HasPrefix(s, "#compdef demo\n") {
		t.Errorf("not a zsh completion file for demo:\n%s", s)
	}
	out := runShell(t, "zsh", onPath(t), "-f", "-c", `
compdef() { print -r -- "compdef $*" }
_describe() { print -rl -- "${(@P)2}" }
_files() { print -r -- "(files)" }
`+s+`
c() { words=("$@"); print -r -- "$* =>"; _demo_completion }
c demo r
c demo render --label
c demo render --from-file x
`)
	want := `compdef _demo_completion demo
demo r =>
render
run
coredns
corefile
help
h
demo render --label =>
--label-selector
demo render --from-file x =>
(files)
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("zsh (-want +got):\n%s", diff)
	}
}

// TestFish: fish parses the script and completes demo's flags and
// commands with their usage.
func TestFish(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "demo.fish")
	if err := os.WriteFile(p, []byte(script(t, "fish")), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runShell(t, "fish", onPath(t), "--no-config", "-c",
		"fish -n "+p+"; and source "+p+"; and complete -C 'demo render --label'; and complete -C 'demo cored'")
	want := "--label-selector\twhat to mirror\ncoredns\tprint a Corefile block\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("fish (-want +got):\n%s", diff)
	}
}

func TestScriptUnknownShell(t *testing.T) {
	t.Parallel()
	_, err := completion.Script("tcsh", demo())
	if err == nil || err.Error() != `unknown shell "tcsh": want bash, zsh, fish` {
		t.Errorf("err = %v", err)
	}
}

// TestSuggest is cobra's rule: within two edits, or a prefix, any name of
// the command (its aliases too), case aside; each command once.
func TestSuggest(t *testing.T) {
	t.Parallel()
	cmds := demo().Commands
	for _, tc := range []struct {
		typed string
		want  []string
	}{
		{typed: "rendr", want: []string{"render"}},
		{typed: "RENDR", want: []string{"render"}},
		{typed: "rnu", want: []string{"run"}},
		{typed: "r", want: []string{"render", "run"}},
		{typed: "cor", want: []string{"coredns"}},
		{typed: "corefil", want: []string{"corefile"}},
		{typed: "rxnxxr", want: nil},
		{typed: "deploy", want: nil},
	} {
		if diff := cmp.Diff(tc.want, completion.Suggest(tc.typed, cmds)); diff != "" {
			t.Errorf("Suggest(%q) (-want +got):\n%s", tc.typed, diff)
		}
	}
}

// TestUnknownCommand: the error as kubectl words it, and its hint below.
func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	cmds := demo().Commands
	for _, tc := range []struct{ typed, of, msg, hint string }{
		{typed: "rendr", of: "demo", msg: `unknown command "rendr" for "demo"`, hint: "Did you mean this?\n\trender"},
		{typed: "r", of: "demo migrate", msg: `unknown command "r" for "demo migrate"`, hint: "Did you mean this?\n\trender\n\trun"},
		{typed: "deploy", of: "demo", msg: `unknown command "deploy" for "demo"`, hint: "Run 'demo --help' for usage."},
	} {
		err := completion.UnknownCommand(tc.typed, tc.of, cmds)
		var h interface{ Hint() string }
		if !errors.As(err, &h) {
			t.Fatalf("UnknownCommand(%q) = %v: no hint", tc.typed, err)
		}
		if err.Error() != tc.msg || h.Hint() != tc.hint {
			t.Errorf("UnknownCommand(%q, %q) = %q, hint %q; want %q, hint %q", tc.typed, tc.of, err, h.Hint(), tc.msg, tc.hint)
		}
	}
}
