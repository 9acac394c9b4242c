package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorWording: messages say each thing once, in the user's words:
// not "yaml: yaml: line 1", not "create : mkdir :" for an empty --output.
func TestErrorWording(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "a: [\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"render", "--config", bad}, "ssm: config " + bad + ": yaml: line 1: did not find expected node content\n"},
		{exampleArgs("--output="), "ssm: --output \"\": want a directory, or - for a YAML stream on stdout\n"},
		{exampleArgs("--from-file", bad), "ssm: read snapshot " + bad + ": document 1: yaml: line 1: did not find expected node content\n"},
	} {
		code, stdout, stderr := ssm(t, "", tc.args...)
		if code != exitError || stdout != "" || stderr != tc.want {
			t.Errorf("ssm %s: exit %d, stdout %q, stderr %q; want exit %d, stderr %q", strings.Join(tc.args, " "), code, stdout, stderr, exitError, tc.want)
		}
	}
}

// TestCheckRefusesDirectoryNotOurs: render --check applies the protection
// a write applies: a directory without ssm's kustomization.yaml is
// refused (exit 2, no diff), where it printed a diff deleting its files.
func TestCheckRefusesDirectoryNotOurs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "notmine")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, check := range [][]string{{"--check"}, nil} {
		code, stdout, stderr := ssm(t, "", exampleArgs(append([]string{"-o", dir}, check...)...)...)
		if code != exitError || stdout != "" || !strings.Contains(stderr, "ssm: refusing to ") || !strings.Contains(stderr, dir+": it is not empty and has no kustomization.yaml") {
			t.Errorf("render -o %s %s: exit %d, stdout %.200q, stderr %q; want exit %d refusing it", dir, check, code, stdout, stderr, exitError)
		}
	}
}
