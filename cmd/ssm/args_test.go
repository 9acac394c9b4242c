package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestStrayArguments: urfave/cli stops reading flags at the first
// argument, so `ssm render … oops -o out --check` would render to stdout
// and exit 0 with --check never read. Every command refuses arguments it
// does not take, whatever follows them.
//
// Not in parallel: the CLI shares urfave/cli's global help flag, which
// every run writes (go test -race).
func TestStrayArguments(t *testing.T) {
	for _, c := range newApp(nil, nil, nil).Commands {
		t.Run(c.Name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			var args []string
			switch c.Name {
			case "render":
				args = exampleArgs("oops", "-o", out, "--check")
			case "run":
				args = []string{"run", "--label-selector", "mirror=true", "oops", "--output", out}
			case "coredns":
				args = []string{"coredns", "--svc-prefix", "east", "--mirror-ns", "m", "oops", "--domain", "cluster.east"}
			case "migrate":
				args = []string{"migrate", "semaphore-service-mirror", "--config", "x.yaml", "oops", "-o", "list"}
			case "completion":
				args = []string{"completion", "bash", "oops"}
			default:
				args = []string{c.Name, "oops"}
			}
			code, stdout, stderr := ssm(t, "", args...)
			if code != exitError {
				t.Errorf("ssm %s: exit %d, want %d; stdout:\n%.300s", strings.Join(args, " "), code, exitError, stdout)
			}
			want := `unexpected argument "oops"`
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr = %q, want it to say %s", stderr, want)
			}
			if stdout != "" {
				t.Errorf("stdout = %.300q, want nothing: a refused command does nothing", stdout)
			}
		})
	}
}
