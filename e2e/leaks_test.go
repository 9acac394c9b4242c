package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// printed keeps everything the ssm binary printed during the e2e run, and
// the secrets the tests gave it, so that TestMain can fail the run if any
// secret was ever printed: in a log line, an error or a final message.
var printed struct {
	mu      sync.Mutex
	file    *os.File          // every output of ssm, each headed by its test
	secrets map[string]string // secret → the test that gave it to ssm
}

// collectOutput starts keeping ssm's output in dir.
func collectOutput(dir string) error {
	f, err := os.Create(filepath.Join(dir, "ssm-output.log"))
	if err != nil {
		return err
	}
	printed.mu.Lock()
	defer printed.mu.Unlock()
	printed.file, printed.secrets = f, map[string]string{}
	return nil
}

// registerSecret records secrets a test gives ssm (in a URL, a file): no
// output of ssm may ever show them.
func registerSecret(t *testing.T, secrets ...string) {
	t.Helper()
	printed.mu.Lock()
	defer printed.mu.Unlock()
	for _, s := range secrets {
		if len(s) < 6 {
			t.Fatalf("secret %q is too short to be looked for reliably", s)
		}
		if printed.secrets != nil {
			printed.secrets[s] = t.Name()
		}
	}
}

// recordOutput keeps what ssm printed for the final check.
func recordOutput(t *testing.T, what string, out []byte) {
	printed.mu.Lock()
	defer printed.mu.Unlock()
	if printed.file == nil || len(out) == 0 {
		return
	}
	fmt.Fprintf(printed.file, "=== %s: %s\n", t.Name(), what)
	_, _ = printed.file.Write(out)
	_, _ = printed.file.WriteString("\n")
}

// recordLog keeps the log file of a background ssm.
func recordLog(t *testing.T, what, path string) {
	if b, err := os.ReadFile(path); err == nil {
		recordOutput(t, what, b)
	}
}

// checkPrinted reports every registered secret that some output of ssm
// shows, with the test whose output it was; nil when none does.
func checkPrinted() error {
	printed.mu.Lock()
	defer printed.mu.Unlock()
	if printed.file == nil {
		return nil
	}
	b, err := os.ReadFile(printed.file.Name())
	if err != nil {
		return err
	}
	var found []string
	for _, section := range bytes.Split(b, []byte("\n=== ")) {
		// The head names the test and the command, secrets included.
		head, body, _ := bytes.Cut(bytes.TrimPrefix(section, []byte("=== ")), []byte("\n"))
		for secret, by := range printed.secrets {
			if i := bytes.Index(body, []byte(secret)); i >= 0 {
				line := body[bytes.LastIndexByte(body[:i], '\n')+1:]
				line, _, _ = bytes.Cut(line, []byte("\n"))
				found = append(found, fmt.Sprintf("secret %q (given by %s) printed by %s:\n\t%s", secret, by, head, line))
			}
		}
	}
	sort.Strings(found)
	if len(found) > 0 {
		return fmt.Errorf("ssm printed %d secret(s) it was given:\n%s", len(found), strings.Join(found, "\n"))
	}
	fmt.Fprintf(os.Stderr, "e2e: none of %d secrets given to ssm appears in its %d bytes of output\n", len(printed.secrets), len(b))
	return nil
}
