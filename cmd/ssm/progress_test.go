package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderProgress: render logs each phase with counts and time; on a
// terminal (a pseudo-terminal from util-linux's script) with text logs,
// a progress bar shows the phase under way between the log lines, which
// stay whole; in CI (CI=true), with JSON logs, or without a terminal,
// nothing but the log lines.
func TestRenderProgress(t *testing.T) {
	script := lookShell(t, "script")
	shim := ssmShim(t)
	render := func(env []string, extra ...string) string {
		t.Helper()
		args := append(exampleArgs("-o", filepath.Join(t.TempDir(), "out")), extra...)
		cmd := exec.CommandContext(t.Context(), script, "-qec", shim+" "+strings.Join(args, " "), "/dev/null")
		cmd.Env = append(withoutCI(os.Environ()), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("script %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	bar := func(out string) bool {
		return strings.Contains(out, "listing (") || strings.Contains(out, "rendering (")
	}

	out := render(nil)
	for _, want := range []string{"listing (", "rendering (", "writing (",
		"level=INFO msg=listed cluster=remote services=6 endpoints=4 took=", "level=INFO msg=rendered mirrors=5 skipped=1 files=6 took=",
		"level=INFO msg=written output=", " added=6 updated=0 removed=0 took="} {
		if !strings.Contains(out, want) {
			t.Errorf("on a terminal, the output lacks %q:\n%q", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") { // every log record whole on its line, after the bar's erasure
		if i := strings.Index(line, "time="); i >= 0 && !strings.HasSuffix(strings.TrimRight(line, "\r"), "s") && !strings.Contains(line, "detail=") {
			t.Errorf("a log line cut by the bar: %q", line)
		}
	}
	if out := render([]string{"CI=true"}); bar(out) || !strings.Contains(out, "msg=written") {
		t.Errorf("with CI=true, a bar or no log:\n%q", out)
	}
	if out := render(nil, "--log-format", "json"); bar(out) || !strings.Contains(out, `"msg":"written"`) {
		t.Errorf("with JSON logs, a bar or no log:\n%q", out)
	}
	code, _, stderr := ssm(t, "", exampleArgs("-o", filepath.Join(t.TempDir(), "out"))...) // not a terminal
	if code != exitOK || bar(stderr) || !strings.Contains(stderr, "msg=listed") {
		t.Errorf("without a terminal: exit %d, a bar or no log:\n%q", code, stderr)
	}
}

func withoutCI(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "CI=") {
			out = append(out, kv)
		}
	}
	return out
}
