package server

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssm-dev/ssm/generate"
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

// TestDroppedAddressesMetric: ssm_dropped_addresses counts a render's
// dropped addresses by cluster and why, the last render's only.
func TestDroppedAddressesMetric(t *testing.T) {
	m := NewMetrics("dev", "unknown")
	o := &observer{m: m, h: &Health{}}
	o.Rendered(generate.Result{Warnings: []generate.Skipped{
		{Cluster: "east", Service: "a/b", Reason: generate.ReasonAddressDropped, Dropped: map[string]int{generate.AddressLoopback: 2, generate.AddressDenied: 1}},
		{Cluster: "east", Service: "a/c", Reason: generate.ReasonAddressDropped, Dropped: map[string]int{generate.AddressLoopback: 1}},
		{Cluster: "west", Reason: generate.ReasonAddressDropped, Dropped: map[string]int{generate.AddressLinkLocal: 4}},
		{Cluster: "west", Service: "a/d", Reason: generate.ReasonNoNodePort},
	}}, 0)
	want := []string{`east Denied 1`, `east Loopback 3`, `west LinkLocal 4`}
	if got := droppedSeries(t, m); !slices.Equal(got, want) {
		t.Errorf("ssm_dropped_addresses %q, want %q", got, want)
	}
	o.Rendered(generate.Result{}, 0)
	if got := droppedSeries(t, m); len(got) != 0 {
		t.Errorf("ssm_dropped_addresses %q after a render that dropped nothing, want none", got)
	}
}

// droppedSeries lists ssm_dropped_addresses as "cluster reason value", sorted.
func droppedSeries(t *testing.T, m *Metrics) []string {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != "ssm_dropped_addresses" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out = append(out, fmt.Sprintf("%s %s %v", labels["cluster"], labels["reason"], s.GetGauge().GetValue()))
		}
	}
	slices.Sort(out)
	return out
}
