package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// The alerts of docs/metrics.md are a table made from
// examples/monitoring/prometheusrule.yaml, between these markers: the rule
// file is the one source, so the page cannot promise an alert, a
// threshold or a duration the rules do not have.
const (
	alertsFile  = "examples/monitoring/prometheusrule.yaml"
	alertsPage  = "docs/metrics.md"
	alertsBegin = "<!-- alerts: examples/monitoring/prometheusrule.yaml -->\n"
	alertsEnd   = "<!-- end alerts -->\n"
)

type ruleFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   any    `json:"metadata"`
	Spec       struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// annotationVar matches what Prometheus fills in an annotation: {{ $labels.cluster }}, {{ $value }}.
var annotationVar = regexp.MustCompile(`\{\{\s*\$(?:labels\.)?([a-z_]+)[^}]*\}\}`)

// alertsTable is the Markdown table of the rule file's alerts.
func alertsTable(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, alertsFile))
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	cell := func(s string) string {
		s = annotationVar.ReplaceAllString(strings.TrimSpace(s), "*$1*")
		return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
	}
	var out strings.Builder
	out.WriteString("| alert | severity | fires when | for | what it means |\n|---|---|---|---|---|\n")
	n := 0
	for _, g := range f.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			fmt.Fprintf(&out, "| `%s` | %s | `%s` | %s | **%s.** %s |\n", r.Alert, r.Labels["severity"], strings.ReplaceAll(strings.Join(strings.Fields(r.Expr), " "), "|", `\|`),
				r.For, cell(r.Annotations["summary"]), cell(r.Annotations["description"]))
		}
	}
	if n == 0 {
		t.Fatalf("%s holds no alert", alertsFile)
	}
	return out.String()
}

// TestDocsAlerts: docs/metrics.md lists exactly the alerts of the rule
// file, with their expressions and durations (go test ./cmd/ssm -run Docs
// -update rewrites the table).
func TestDocsAlerts(t *testing.T) {
	path := filepath.Join(root, alertsPage)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	i, j := strings.Index(page, alertsBegin), strings.Index(page, alertsEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q … %q", alertsPage, alertsBegin, alertsEnd)
	}
	got := page[:i+len(alertsBegin)] + alertsTable(t) + page[j:]
	switch {
	case got == page:
	case *updateDocs:
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: alerts table rewritten", alertsPage)
	default:
		t.Errorf("%s: the alerts differ from %s (go test ./cmd/ssm -run Docs -update rewrites them; -want +got):\n%s", alertsPage, alertsFile, cmp.Diff(got, page))
	}
}
