package source

import (
	"strings"
	"testing"
)

// TestSnapshotErrorsInYAMLWords: a snapshot of the wrong shape is
// reported by its path and the kinds of YAML values, not by Go types
// (before: "cannot unmarshal string into Go struct field
// ServiceSpec.spec.ports of type []v1.ServicePort").
func TestSnapshotErrorsInYAMLWords(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"list wanted", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: a}, spec: {ports: x}}\n",
			"document 1: item 0: spec.ports: want a list, got a string"},
		{"number wanted", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: x}]}\n", "document 1: spec.ports.port: want a number, got a string"},
		{"named string type", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 1, protocol: 3}]}\n",
			"document 1: spec.ports.protocol: a number is not a valid value here"},
		{"no object", `"x"`, "document 1: want a Kubernetes object (with apiVersion and kind), got a string"},
		{"no kind", "items: 3\n", "document 1: kind is missing: want a Kubernetes object (with apiVersion and kind)"},
		{"bad YAML", "a: [\n", "document 1: yaml: line 1: did not find expected node content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc), Selection{LabelSelector: "a=b"})
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse: %v, want %s", err, tc.want)
			}
			for _, goWords := range []string{"Go ", "v1.", "json:", "converting"} {
				if err != nil && strings.Contains(err.Error(), goWords) {
					t.Errorf("Parse: %v: says %q", err, goWords)
				}
			}
		})
	}
}
