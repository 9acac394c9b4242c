package server

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/mirror"
)

// TestObserver: what mirror.Run reports becomes the metrics docs/metrics.md
// lists, and readiness.
func TestObserver(t *testing.T) {
	m, h := NewMetrics("dev", "unknown"), &Health{}
	o := Observer(m, h)
	check := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	o.RemoteUp("east", true)
	o.RemoteUp("west", false)
	check("remote_up{east}", value(t, m, "remote_up", "east"), 1)
	check("remote_up{west}", value(t, m, "remote_up", "west"), 0)
	o.WatchEvent("east", "services", "add")
	o.WatchEvent("east", "services", "add")
	check("watch_events_total", value(t, m, "watch_events_total", "east", "services", "add"), 2)
	o.WatchError("east", "services", errors.New("refused"))
	check("watch_errors_total", value(t, m, "watch_errors_total", "east", "services"), 1)
	if err := h.ready(); err == nil || !strings.Contains(err.Error(), "cluster east, services: refused") {
		t.Errorf("ready before the caches synced: %v", err)
	}
	o.CachesSynced()
	o.Removals([]mirror.Removal{{Cluster: "east", Files: []string{"a.yaml", "b.yaml"}, Verdict: mirror.HeldBack},
		{Cluster: "west", Files: []string{"c.yaml"}, Verdict: mirror.Allowed}})
	check("held_removals{east}", value(t, m, "held_removals", "east"), 2)
	check("removal_decisions_total{west,allowed}", value(t, m, "removal_decisions_total", "west", mirror.Allowed), 1)
	o.Removals(nil)
	check("held_removals{east} after a render that holds nothing", value(t, m, "held_removals", "east"), -1)
	o.Behind([]string{"east services=5 endpoints=7"})
	check("renders_behind_total{east}", value(t, m, "renders_behind_total", "east"), 1)
	o.Rendered(generate.Result{ClusterObjects: map[string]map[string]int{"east": {"Service": 3}},
		Skipped: []generate.Skipped{{Cluster: "east", Reason: generate.ReasonInvalidName}}}, time.Millisecond)
	check("mirrored_objects{east,Service}", value(t, m, "mirrored_objects", "east", "Service"), 3)
	check("skipped_services{east,InvalidName}", value(t, m, "skipped_services", "east", generate.ReasonInvalidName), 1)
	o.Synced(fileset.Result{}, errors.New("push rejected"), time.Millisecond)
	check("sync_failures_total", value(t, m, "sync_failures_total"), 1)
	if err := h.ready(); err == nil || !strings.Contains(err.Error(), "push rejected") {
		t.Errorf("ready after a failed sync: %v", err)
	}
	o.Synced(fileset.Result{Changed: true, Retries: 2}, nil, time.Millisecond)
	check("commits_total", value(t, m, "commits_total"), 1)
	check("push_retries_total", value(t, m, "push_retries_total"), 2)
	if err := h.ready(); err != nil {
		t.Errorf("ready after a sync: %v", err)
	}
	if value(t, m, "last_successful_sync_timestamp_seconds") <= 0 {
		t.Error("no last successful sync time")
	}
}

// value is what the series of metric name whose label values are those
// given (in any order) holds; -1 when there is no such series.
func value(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(labels))
	for _, f := range families {
		if f.GetName() != "ssm_"+name {
			continue
		}
		for _, s := range f.GetMetric() {
			var got []string
			for _, l := range s.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Sort(got); slices.Equal(got, want) {
				return s.GetCounter().GetValue() + s.GetGauge().GetValue()
			}
		}
	}
	return -1
}
