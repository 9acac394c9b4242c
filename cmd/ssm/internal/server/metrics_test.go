package server

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// ownMetricNames lists the names of ssm's own metrics.
func ownMetricNames(t *testing.T) []string {
	t.Helper()
	ch := make(chan *prometheus.Desc, 64)
	for _, c := range NewMetrics("dev", "unknown").own {
		c.Describe(ch)
	}
	close(ch)
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	var names []string
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return names
}

// TestAlertsUseRealMetrics: every ssm_ metric the example alerts query is
// one ssm serves, so that a renamed metric cannot silence an alert.
func TestAlertsUseRealMetrics(t *testing.T) {
	rules, err := os.ReadFile("../../../../examples/monitoring/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := ownMetricNames(t)
	used := regexp.MustCompile(`\bssm_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) < 5 {
		t.Fatalf("the rules query %d ssm metrics", len(used))
	}
	for _, u := range used {
		if !slices.Contains(names, u) {
			t.Errorf("the alerts query %s, which ssm does not serve (it serves %v)", u, names)
		}
	}
}
