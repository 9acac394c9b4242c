package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// yamlWordNamespaces are valid namespace names that YAML reads as
// something else than a string when written plain: booleans (YAML 1.1's
// words, which kustomize's decoder still reads), null, numbers, a date.
var yamlWordNamespaces = []string{"on", "no", "y", "true", "null", "0123", "1e3", "2001-12-14"}

// TestLayoutNamespacesYAMLWords renders, with --layout namespaces, a remote
// whose Services are in namespaces YAML reads as booleans, null or
// numbers when plain: every kustomization.yaml must still list them as
// names, or kustomize (kubectl's, Flux's, Argo CD's) refuses the whole
// tree, and one remote namespace stops every mirror from being applied.
func TestLayoutNamespacesYAMLWords(t *testing.T) {
	if ssmBin == "" {
		t.Skip("no ssm binary")
	}
	tmp := t.TempDir()
	var items []string
	for i, ns := range yamlWordNamespaces {
		items = append(items, fmt.Sprintf(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":%q,"labels":{"mirror":"true"}},"spec":{"clusterIP":"10.0.0.%d","ports":[{"name":"http","port":80}]}}`, ns, i+1),
			fmt.Sprintf(`{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"web","namespace":%q,"labels":{"mirror":"true"}},"subsets":[{"addresses":[{"ip":"10.1.0.%d"}],"ports":[{"name":"http","port":8080}]}]}`, ns, i+1))
	}
	snapshot := filepath.Join(tmp, "remote.json")
	if err := os.WriteFile(snapshot, []byte(`{"apiVersion":"v1","kind":"List","items":[`+strings.Join(items, ",\n")+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(tmp, "local.json") // a cluster of none of those namespaces
	if err := os.WriteFile(local, []byte(`{"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"v1","kind":"Service","metadata":{"name":"kubernetes","namespace":"default"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":443}]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // what kustomize builds once per namespace
	}{
		{"mirrors", []string{"--svc-prefix", "east", "--mirror-ns", "mirrors"}, "kind: Service\n"},
		{"mcs", []string{"--api", "mcs", "--remote-name", "east", "--service-exports=false", "--clusterset-ip-range", "10.96.0.128/25",
			"--local-from-file", local}, "kind: ServiceImport\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(tmp, tc.name)
			args := append([]string{"render", "--from-file", snapshot, "--label-selector", "mirror=true", "--layout", "namespaces", "-o", out}, tc.args...)
			if r := ssm(t, nil, args...); r.code != 0 {
				t.Fatalf("ssm %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
			}
			r := run(t, nil, "kubectl", "kustomize", out)
			if r.code != 0 {
				t.Fatalf("kubectl kustomize of the rendered tree: exit %d\n%s", r.code, r.stderr)
			}
			if n := strings.Count(r.stdout, tc.want); n != len(yamlWordNamespaces) {
				t.Fatalf("kubectl kustomize built %d of %q, want one per namespace (%d):\n%s", n, tc.want, len(yamlWordNamespaces), r.stdout)
			}
		})
	}
}
