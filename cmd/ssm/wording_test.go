package main

import (
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
