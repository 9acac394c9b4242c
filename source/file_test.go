package source_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// names lists "Kind ns/name" of everything in st, sorted.
func names(st source.State) []string {
	var out []string
	for _, s := range st.Services {
		out = append(out, "Service "+s.Namespace+"/"+s.Name)
	}
	for _, e := range st.Endpoints {
		out = append(out, "Endpoints "+e.Namespace+"/"+e.Name)
	}
	for _, e := range st.EndpointSlices {
		out = append(out, "EndpointSlice "+e.Namespace+"/"+e.Name)
	}
	slices.Sort(out)
	return out
}

const multiDoc = `
apiVersion: v1
kind: Service
metadata: {name: a, namespace: x, labels: {mirror: "true"}, managedFields: [{manager: kubectl}],
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}", tfw.io/barrelman: ignore, other: "no"}}
spec: {ports: [{port: 80}]}
---
# a comment-only document
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: x}
---
apiVersion: v1
kind: Endpoints
metadata: {name: a, namespace: x, labels: {mirror: "true"}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: a-1, namespace: x, labels: {mirror: "true", kubernetes.io/service-name: a}}
addressType: IPv4
endpoints: []
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored, namespace: x}
---
apiVersion: v1
kind: ServiceList
items:
- metadata: {name: c, namespace: yy, labels: {mirror: "true"}}
`

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		sel   source.Selection
		want  []string
	}{
		{name: "multi-document YAML, Endpoints", input: multiDoc, sel: source.Selection{LabelSelector: "mirror=true"},
			want: []string{"Endpoints x/a", "Service x/a", "Service yy/c"}},
		{name: "multi-document YAML, EndpointSlices", input: multiDoc, sel: source.Selection{LabelSelector: "mirror=true", EndpointsAPI: kubeapi.EndpointSlices},
			want: []string{"EndpointSlice x/a-1", "Service x/a", "Service yy/c"}},
		{name: "no selector selects all", input: multiDoc,
			want: []string{"Endpoints x/a", "Service x/a", "Service x/b", "Service yy/c"}},
		{name: "set-based selector", input: multiDoc, sel: source.Selection{LabelSelector: "mirror in (true,yes),!skip"},
			want: []string{"Endpoints x/a", "Service x/a", "Service yy/c"}},
		{name: "JSON v1 List", sel: source.Selection{LabelSelector: "mirror"},
			input: `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"j","namespace":"z","labels":{"mirror":""}}}]}`,
			want:  []string{"Service z/j"}},
		{name: "empty input", input: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := source.Parse(strings.NewReader(tt.input), tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, names(st)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStrips(t *testing.T) {
	t.Parallel()
	st, err := source.Parse(strings.NewReader(multiDoc), source.Selection{LabelSelector: "mirror=true"})
	if err != nil {
		t.Fatal(err)
	}
	a := st.Services[0]
	if a.ManagedFields != nil || len(a.Annotations) != 1 || a.Annotations["tfw.io/barrelman"] != "ignore" || a.Labels["mirror"] != "true" {
		t.Errorf("metadata not stripped to what ssm reads: %+v", a.ObjectMeta)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input string
		sel         source.Selection
		want        string
	}{
		{name: "malformed YAML", input: "apiVersion: v1\nkind: Service\nmetadata: [name: x\n", want: "document 1"},
		{name: "no kind", input: "apiVersion: v1\nmetadata: {name: x}\n", want: "document 1"},
		{name: "second document broken", input: "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n---\nkind: Service\nspec: {ports: 7}\n", want: "document 2"},
		{name: "broken list item", input: `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","spec":{"ports":"x"}}]}`, want: "item 0"},
		{name: "invalid selector", input: "", sel: source.Selection{LabelSelector: "a=(b"}, want: `label selector "a=(b"`},
		{name: "unknown endpoints API", input: "", sel: source.Selection{EndpointsAPI: "pods"}, want: `remote endpoints API "pods"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := source.Parse(strings.NewReader(tt.input), tt.sel)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "snap.yaml")
	if err := os.WriteFile(p, []byte(multiDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := source.LoadFile(p, source.Selection{LabelSelector: "mirror=true"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	fromStdin, err := source.LoadFile("-", source.Selection{LabelSelector: "mirror=true"}, strings.NewReader(multiDoc), 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(names(fromFile), names(fromStdin)); diff != "" || len(names(fromFile)) != 3 {
		t.Errorf("file and stdin differ or are empty: %v (-file +stdin):\n%s", names(fromFile), diff)
	}
	_, err = source.LoadFile(filepath.Join(t.TempDir(), "missing.yaml"), source.Selection{}, nil, 0)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: error = %v, want one naming the file", err)
	}
}

// TestParseNoServices: a snapshot without any Service, selected or not, is
// marked; one whose Services the selector leaves out is not.
func TestParseNoServices(t *testing.T) {
	t.Parallel()
	sel := source.Selection{LabelSelector: "mirror=true"}
	for _, tt := range []struct {
		name, doc string
		want      bool
	}{
		{name: "empty", doc: "", want: true},
		{name: "other kinds", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n", want: true},
		{name: "empty list", doc: "apiVersion: v1\nkind: List\nitems: []\n", want: true},
		{name: "empty service list", doc: "apiVersion: v1\nkind: ServiceList\nitems: []\n", want: true},
		{name: "endpoints only", doc: "apiVersion: v1\nkind: Endpoints\nmetadata: {name: a, namespace: ns, labels: {mirror: \"true\"}}\n", want: true},
		{name: "unselected Service", doc: "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\n", want: false},
		{name: "Service in a List", doc: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a, namespace: ns}\n", want: false},
	} {
		st, err := source.Parse(strings.NewReader(tt.doc), sel)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if st.NoServices != tt.want || len(st.Services) != 0 {
			t.Errorf("%s: NoServices %v, %d selected; want %v, 0", tt.name, st.NoServices, len(st.Services), tt.want)
		}
	}
}
