package main

// The documentation is tested like code, so that it cannot go stale:
//
//   - The flag tables of README.md and docs/*.md, between
//     <!-- flags: COMMAND --> and <!-- end flags -->, are flagTables of the
//     commands newApp builds. `go test ./cmd/ssm -run Docs -update` rewrites
//     them.
//   - Every fenced block with the info string sh is run, in page order, by
//     /bin/sh -e in one working directory per page that holds a copy of
//     examples/. There, ssm (and `go run ./cmd/ssm`) is this package's run,
//     in this test binary. A block must exit 0, or N when it holds the
//     comment "# exit N". An output block right after it holds what it
//     prints, stdout and stderr together: a line "..." stands for any lines,
//     "..." within a line for any text, and log timestamps are left out.
//   - Blocks that need a cluster, a git server, a container engine or
//     secrets are console (or text) blocks: not run, but every flag they
//     give ssm must exist.
//   - Every relative link between the pages, and to the repository's files,
//     must name a file or directory that exists, and a #fragment a heading
//     of its page.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"
)

var updateDocs = flag.Bool("update", false, "rewrite the flag tables in README.md and docs/*.md")

// runAsSSM makes this test binary ssm itself when the docs test runs it
// for a block (see ssmShim): the code of this tree, without a build.
const runAsSSM = "SSM_DOCS_TEST_RUN_SSM"

func init() {
	if os.Getenv(runAsSSM) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, append([]string{"ssm"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// root is the repository, seen from this package.
const root = "../.."

// page is one Markdown file of the docs.
type page struct {
	name string // slash path from the repository's root
	text string
}

func docPages(t *testing.T) []page {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	names = append([]string{filepath.Join(root, "README.md")}, names...)
	var out []page
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, n)
		out = append(out, page{name: filepath.ToSlash(rel), text: string(b)})
	}
	if len(out) < 2 {
		t.Fatalf("no pages under %s/docs", root)
	}
	return out
}

// block is a fenced code block.
type block struct {
	line int    // of its opening fence, from 1
	info string // the info string's first word
	text string // its content, without the fence's indentation
}

func (b block) String() string { return fmt.Sprintf("the %s block at line %d", b.info, b.line) }

// blocks returns the fenced code blocks of a page.
func blocks(text string) []block {
	var out []block
	var cur *block
	var fence, indent string
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if cur == nil {
			if f := fenceOf(trimmed); f != "" {
				info, _, _ := strings.Cut(strings.TrimSpace(trimmed[len(f):]), " ")
				cur, fence, indent = &block{line: i + 1, info: info}, f, line[:len(line)-len(trimmed)]
			}
			continue
		}
		if strings.HasPrefix(trimmed, fence) && strings.TrimSpace(strings.TrimLeft(trimmed, fence[:1])) == "" {
			out = append(out, *cur)
			cur = nil
			continue
		}
		cur.text += strings.TrimPrefix(line, indent) + "\n"
	}
	return out
}

// fenceOf returns the fence a line opens with: ``` or ~~~ or longer.
func fenceOf(trimmed string) string {
	for _, c := range []string{"`", "~"} {
		n := len(trimmed) - len(strings.TrimLeft(trimmed, c))
		if n >= 3 {
			return trimmed[:n]
		}
	}
	return ""
}

// prose is a page with its code blocks blanked, for links and headings.
func prose(text string) []string {
	lines := strings.Split(text, "\n")
	in := ""
	out := make([]string, len(lines))
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " ")
		f := fenceOf(trimmed)
		switch {
		case in == "" && f != "":
			in = f
		case in != "" && strings.HasPrefix(trimmed, in) && strings.TrimSpace(strings.TrimLeft(trimmed, in[:1])) == "":
			in = ""
		case in == "":
			out[i] = line
		}
	}
	return out
}

var inlineCode = regexp.MustCompile("`+[^`]*`+")

// TestDocsFlagTables: the flag tables are what flagTables makes of the
// commands, so that a new or changed flag shows up in the docs.
func TestDocsFlagTables(t *testing.T) {
	app := newApp(nil, nil, nil)
	want := map[string]string{}
	for _, c := range app.Commands {
		for _, c := range append([]*cli.Command{c}, c.Subcommands...) { // ssm migrate semaphore-service-mirror
			if len(c.Flags) > 0 {
				want[c.Name] = flagTables(c)
			}
		}
	}
	found := map[string]string{}
	for _, p := range docPages(t) {
		got, names, err := withFlagTables(p.text, want)
		if err != nil {
			t.Errorf("%s: %v", p.name, err)
			continue
		}
		for _, n := range names {
			if other, ok := found[n]; ok {
				t.Errorf("%s: the flags of %s are in %s already", p.name, n, other)
			}
			found[n] = p.name
		}
		if got == p.text {
			continue
		}
		if *updateDocs {
			if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(p.name)), []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: flag tables rewritten", p.name)
			continue
		}
		t.Errorf("%s: the flag tables differ from the commands (go test ./cmd/ssm -run Docs -update rewrites them; -want +got):\n%s",
			p.name, cmp.Diff(got, p.text))
	}
	for _, n := range []string{"render", "run", "coredns", "semaphore-service-mirror"} {
		if _, ok := found[n]; !ok {
			t.Errorf("no page holds the flags of %s between <!-- flags: %s --> and <!-- end flags -->", n, n)
		}
	}
}

var flagsMarker = regexp.MustCompile(`(?m)^<!-- flags: ([a-z-]+) -->\n`)

const endFlags = "<!-- end flags -->\n"

// withFlagTables returns text with the tables between its markers made
// anew, and the commands it holds tables of.
func withFlagTables(text string, tables map[string]string) (string, []string, error) {
	var b strings.Builder
	var names []string
	for {
		m := flagsMarker.FindStringSubmatchIndex(text)
		if m == nil {
			b.WriteString(text)
			return b.String(), names, nil
		}
		name := text[m[2]:m[3]]
		table, ok := tables[name]
		if !ok {
			return "", nil, fmt.Errorf("<!-- flags: %s -->: no command %s has flags", name, name)
		}
		end := strings.Index(text[m[1]:], endFlags)
		if end < 0 {
			return "", nil, fmt.Errorf("<!-- flags: %s --> has no %q after it", name, strings.TrimSpace(endFlags))
		}
		b.WriteString(text[:m[1]])
		b.WriteString("\n" + table)
		b.WriteString(endFlags)
		text = text[m[1]+end+len(endFlags):]
		names = append(names, name)
	}
}

// TestDocsLinks: every relative link names a file or directory of the
// repository, and every #fragment a heading of the page it points into.
func TestDocsLinks(t *testing.T) {
	pages := docPages(t)
	anchors := map[string]map[string]bool{}
	for _, p := range pages {
		anchors[p.name] = headingAnchors(prose(p.text))
	}
	for _, p := range pages {
		for i, line := range prose(p.text) {
			for _, target := range linkTargets(line) {
				if err := checkLink(p.name, target, anchors); err != nil {
					t.Errorf("%s:%d: link %s: %v", p.name, i+1, target, err)
				}
			}
		}
	}
}

var (
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
)

// linkTargets returns the targets of a line's links, not counting what
// inline code shows.
func linkTargets(line string) []string {
	line = inlineCode.ReplaceAllString(line, "")
	var out []string
	for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
		out = append(out, m[1])
	}
	if m := refLink.FindStringSubmatch(line); m != nil {
		out = append(out, m[1])
	}
	return out
}

// checkLink checks a link of the page from: anything with a scheme is
// left alone.
func checkLink(from, target string, anchors map[string]map[string]bool) error {
	if scheme := regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`); scheme.MatchString(target) {
		return nil
	}
	p, frag, _ := strings.Cut(target, "#")
	to := from
	if p != "" {
		if strings.HasPrefix(p, "/") {
			return fmt.Errorf("absolute path: make it relative to %s", path.Dir(from))
		}
		to = path.Clean(path.Join(path.Dir(from), p))
		if strings.HasPrefix(to, "../") {
			return fmt.Errorf("%s is outside the repository", to)
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(to))); err != nil {
			return fmt.Errorf("%s does not exist", to)
		}
	}
	if frag == "" {
		return nil
	}
	a, ok := anchors[to]
	if !ok {
		if strings.HasSuffix(to, ".md") {
			return fmt.Errorf("%s is not a page of the docs", to)
		}
		return nil // a line of a source file, say
	}
	if !a[frag] {
		return fmt.Errorf("%s has no heading #%s", to, frag)
	}
	return nil
}

var (
	heading  = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	linkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	htmlTag  = regexp.MustCompile(`<[^>]*>`)
)

// headingAnchors returns the fragments GitHub gives a page's headings.
func headingAnchors(lines []string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range lines {
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := githubSlug(htmlTag.ReplaceAllString(linkText.ReplaceAllString(m[1], "$1"), ""))
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// githubSlug is GitHub's anchor of a heading: lower case, punctuation
// dropped, spaces as hyphens.
func githubSlug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// TestDocsCommands runs every sh block of the docs and checks its exit
// status and output; of the blocks not run, it checks the flags given to
// ssm.
func TestDocsCommands(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run the docs' commands")
	}
	flags := commandFlags()
	shim := ssmShim(t)
	for _, p := range docPages(t) {
		bs := blocks(p.text)
		for i, b := range bs {
			switch b.info {
			case "":
				t.Errorf("%s: the block at line %d has no info string: sh (run by this test), console (not run), output, text, yaml, …", p.name, b.line)
			case "bash", "shell", "zsh", "shell-session", "sh-session":
				t.Errorf("%s: %s: use sh (run by this test) or console (needs a cluster: not run)", p.name, b)
			case "output":
				if i == 0 || bs[i-1].info != "sh" {
					t.Errorf("%s: %s follows no sh block", p.name, b)
				}
			}
			if b.info == "sh" || b.info == "console" {
				for _, err := range checkFlags(b.text, flags) {
					t.Errorf("%s: %s: %v", p.name, b, err)
				}
			}
		}
		t.Run(strings.ReplaceAll(p.name, "/", "_"), func(t *testing.T) {
			t.Parallel()
			runPage(t, p, bs, shim)
		})
	}
}

// runPage runs a page's sh blocks in order in one working directory.
func runPage(t *testing.T, p page, bs []block, shim string) {
	dir := filepath.Join(t.TempDir(), "work")
	if err := os.CopyFS(filepath.Join(dir, "examples"), os.DirFS(filepath.Join(root, "examples"))); err != nil {
		t.Fatal(err)
	}
	env := blockEnv(filepath.Dir(dir), shim)
	for i, b := range bs {
		if b.info != "sh" {
			continue
		}
		want, err := wantExit(b.text)
		if err != nil {
			t.Errorf("%s: %s: %v", p.name, b, err)
			continue
		}
		got, code := runBlock(t, dir, env, b.text)
		if code != want {
			t.Errorf("%s: %s exited %d, want %d:\n%s\n%s", p.name, b, code, want, b.text, got)
			continue
		}
		if i+1 < len(bs) && bs[i+1].info == "output" {
			if err := matchOutput(bs[i+1].text, got); err != nil {
				t.Errorf("%s: %s printed what its output block at line %d does not show: %v\n--- printed:\n%s", p.name, b, bs[i+1].line, err, normalize(got))
			}
		}
	}
}

// prelude runs before every block: go run ./cmd/ssm is ssm.
const prelude = `go() {
	if [ "$1" = run ] && [ "$2" = ./cmd/ssm ]; then shift 2; ssm "$@"; return; fi
	echo "docs test: only go run ./cmd/ssm runs in a block" >&2; return 127
}
`

func runBlock(t *testing.T, dir string, env []string, script string) (string, int) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-e", "-c", prelude+script)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("run sh: %v", err)
	}
	return out.String(), 0
}

// blockEnv is the environment of the blocks: this process's without
// anything that would change ssm's behaviour, with ssm first on PATH.
func blockEnv(home, shim string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SSM_") || k == "KUBECONFIG" || k == "HOME" || k == "PATH" || strings.HasPrefix(k, "LC_") || k == "LANG" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "LC_ALL=C", "PATH="+filepath.Dir(shim)+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// ssmShim writes an ssm that runs this test binary as ssm (see init).
func ssmShim(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ssm")
	script := fmt.Sprintf("#!/bin/sh\n%s=1 exec '%s' \"$@\"\n", runAsSSM, strings.ReplaceAll(self, "'", `'\''`))
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

var exitComment = regexp.MustCompile(`#\s*exit (\d+)\b`)

// wantExit is the status a block must exit with: 0, or the N of its
// "# exit N".
func wantExit(script string) (int, error) {
	m := exitComment.FindAllStringSubmatch(script, -1)
	switch len(m) {
	case 0:
		return 0, nil
	case 1:
		return strconv.Atoi(m[0][1])
	}
	return 0, fmt.Errorf("%d \"# exit N\" comments: a block exits once", len(m))
}

var logTime = regexp.MustCompile(`time=\S+ |"time":"[^"]*",`)

// normalize drops log timestamps and trailing blanks.
func normalize(s string) string {
	lines := strings.Split(logTime.ReplaceAllString(s, ""), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// matchOutput matches what a block printed against its output block.
func matchOutput(want, got string) error {
	var re strings.Builder
	re.WriteString(`^`)
	for _, l := range strings.Split(normalize(want), "\n") {
		if l == "..." {
			re.WriteString(`(?:.*\n)*?`)
			continue
		}
		parts := strings.Split(l, "...")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re.WriteString(strings.Join(parts, `.*`) + `\n`)
	}
	re.WriteString(`$`)
	if !regexp.MustCompile(re.String()).MatchString(normalize(got) + "\n") {
		return fmt.Errorf("want:\n%s", normalize(want))
	}
	return nil
}

// commandFlags names, by command, every flag ssm takes.
func commandFlags() map[string][]string {
	out := map[string][]string{}
	for _, c := range newApp(nil, nil, nil).Commands {
		for _, sc := range append([]*cli.Command{c}, c.Subcommands...) {
			names := []string{"help", "h"}
			for _, f := range sc.Flags {
				names = append(names, f.Names()...)
			}
			if sc == c {
				out[c.Name] = names
			} else {
				out[c.Name+" "+sc.Name] = names // ssm migrate semaphore-service-mirror
			}
		}
	}
	return out
}

// checkFlags returns the flags given to ssm in a block that its command
// does not take. ssm is a command's first word, after variable
// assignments: ssm, a path ending in /ssm, or go run ./cmd/ssm.
func checkFlags(script string, flags map[string][]string) []error {
	var errs []error
	for _, words := range shellCommands(script) {
		for len(words) > 0 && assignment.MatchString(words[0]) {
			words = words[1:]
		}
		var args []string
		switch {
		case len(words) > 1 && path.Base(words[0]) == "ssm":
			args = words[1:]
		case len(words) > 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/ssm":
			args = words[3:]
		default:
			continue
		}
		cmd := args[0]
		if len(args) > 1 && flags[cmd+" "+args[1]] != nil {
			cmd, args = cmd+" "+args[1], args[1:]
		}
		known, ok := flags[cmd]
		if !ok {
			if !slices.Contains([]string{"help", "--help", "-h", "--version"}, cmd) {
				errs = append(errs, fmt.Errorf("ssm has no command %q", cmd))
			}
			continue
		}
		for _, a := range args[1:] {
			if a == "--" {
				break
			}
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if strings.HasPrefix(a, "-") && a != "-" && !slices.Contains(known, name) {
				errs = append(errs, fmt.Errorf("ssm %s has no flag %s", cmd, a))
			}
		}
	}
	return errs
}

var (
	assignment   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	hereDocument = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)
)

// shellCommands splits a script into simple commands, roughly as sh does:
// continuation lines joined, quotes removed, comments and a "$ " prompt
// dropped, here-documents skipped, split at pipes, lists and redirections.
func shellCommands(script string) [][]string {
	var out [][]string
	var words []string
	var word strings.Builder
	inWord, quote := false, rune(0)
	flushWord := func() {
		if inWord {
			words = append(words, word.String())
		}
		word.Reset()
		inWord = false
	}
	flushCmd := func() {
		flushWord()
		if len(words) > 0 {
			out = append(out, words)
		}
		words = nil
	}
	script = strings.ReplaceAll(script, "\\\n", " ")
	heredoc := ""
	for _, line := range strings.Split(script, "\n") {
		if heredoc != "" { // a here-document's body is data
			if strings.TrimLeft(line, "\t") == heredoc {
				heredoc = ""
			}
			continue
		}
		if m := hereDocument.FindStringSubmatch(line); m != nil {
			heredoc = m[1]
		}
		line = strings.TrimPrefix(strings.TrimLeft(line, " \t"), "$ ")
		rs := []rune(line)
		for i := 0; i < len(rs); i++ {
			r := rs[i]
			switch {
			case quote != 0 && r == quote:
				quote = 0
			case quote != 0:
				word.WriteRune(r)
			case r == '\'' || r == '"':
				quote, inWord = r, true
			case r == '#' && !inWord:
				i = len(rs)
			case r == ' ' || r == '\t':
				flushWord()
			case strings.ContainsRune("|;&<>()", r):
				flushCmd()
			default:
				word.WriteRune(r)
				inWord = true
			}
		}
		if quote == 0 {
			flushCmd()
		}
	}
	flushCmd()
	return out
}

// TestDocsHelpers checks the parsing the docs tests rely on.
func TestDocsHelpers(t *testing.T) {
	md := "a\n```sh\nssm render \\\n  --label-selector 'a in (b)' -o x | wc -l # exit 3\n```\n\n  ```output\n  x\n  ```\n[l](docs/run.md#flags) `[no](x.md)`\n"
	bs := blocks(md)
	if len(bs) != 2 || bs[0].info != "sh" || bs[1].info != "output" || bs[1].text != "x\n" || bs[0].line != 2 {
		t.Fatalf("blocks: %+v", bs)
	}
	if code, err := wantExit(bs[0].text); code != 3 || err != nil {
		t.Errorf("wantExit: %d, %v", code, err)
	}
	cmds := shellCommands(bs[0].text)
	if want := [][]string{{"ssm", "render", "--label-selector", "a in (b)", "-o", "x"}, {"wc", "-l"}}; !cmp.Equal(cmds, want) {
		t.Errorf("shellCommands: %q, want %q", cmds, want)
	}
	flags := map[string][]string{"render": {"label-selector", "o"}}
	if errs := checkFlags("ssm render --label-selector=a -o x\n", flags); len(errs) != 0 {
		t.Errorf("checkFlags: %v", errs)
	}
	if errs := checkFlags("go run ./cmd/ssm render --nope\nSSM_X=1 bin/ssm rendre\nkubectl -n ssm get pods\ngo test ./cmd/ssm -run X\ncat > f <<'EOF'\nssm render --data\nit's\nEOF\nssm render --nope2\n", flags); len(errs) != 3 {
		t.Errorf("checkFlags found %v, want two unknown flags and an unknown command, none in the here-document", errs)
	}
	var links []string
	for _, l := range prose(md) {
		links = append(links, linkTargets(l)...)
	}
	if want := []string{"docs/run.md#flags"}; !cmp.Equal(links, want) {
		t.Errorf("links: %q, want %q", links, want)
	}
	if a := headingAnchors([]string{"## `ssm render`: once", "## Flags", "## Flags", "### [Go](x) 1.26!"}); !cmp.Equal(a, map[string]bool{"ssm-render-once": true, "flags": true, "flags-1": true, "go-126": true}) {
		t.Errorf("anchors: %v", a)
	}
	for _, tt := range []struct {
		want, got string
		ok        bool
	}{
		{want: "a\n...\nd", got: "a\nb\nc\nd\n", ok: true},
		{want: "level=INFO msg=x n=...", got: "time=2026-01-02T03:04:05Z level=INFO msg=x n=5\n", ok: true},
		{want: "a\nb", got: "a\nb\nc\n", ok: false},
		{want: "a\n...", got: "a\n", ok: true},
	} {
		if err := matchOutput(tt.want, tt.got); (err == nil) != tt.ok {
			t.Errorf("matchOutput(%q, %q): %v, want ok %v", tt.want, tt.got, err, tt.ok)
		}
	}
}

// flagTables writes a command's flags as Markdown tables, one per group,
// as the docs hold them (TestDocsFlagTables keeps them equal).
func flagTables(c *cli.Command) string {
	var b strings.Builder
	for _, g := range flagLayout.Groups(c) {
		fmt.Fprintf(&b, "**%s**\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n", g.Title)
		for _, f := range g.Flags {
			name := "`--" + strings.Join(f.Names(), "`, `--") + "`"
			var envs []string
			if ef, ok := f.(interface{ GetEnvVars() []string }); ok {
				for _, e := range ef.GetEnvVars() {
					envs = append(envs, "`"+e+"`")
				}
			}
			def := ""
			if df, ok := f.(cli.DocGenerationFlag); ok && df.GetDefaultText() != "" && df.GetValue() != "" {
				def = "`" + df.GetDefaultText() + "`"
			}
			if bf, ok := f.(*cli.BoolFlag); ok && bf.Value {
				def = "`true`"
			}
			usage := ""
			if df, ok := f.(cli.DocGenerationFlag); ok {
				usage = markdownEscaper.Replace(df.GetUsage())
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", strings.ReplaceAll(name, "`--o`", "`-o`"), strings.Join(envs, " "), def, usage)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// markdownEscaper keeps a usage text as it reads on GitHub: <prefix> is
// not an HTML tag, | does not end a cell.
var markdownEscaper = strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;")
