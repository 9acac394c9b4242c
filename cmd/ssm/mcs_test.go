package main

import (
	"strings"
	"testing"
)

// A full ClusterSetIP range is an error naming the Service and the range:
// the rest is written, and render exits 3, as for a Service that cannot be
// named.
func TestRenderMCSRangeFull(t *testing.T) {
	t.Parallel()
	// A /31 holds one ClusterSetIP, 10.96.240.1, which a local Service
	// holds: shop/web gets none; db/pg is Headless and needs none.
	out := t.TempDir()
	code, _, stderr := ssm(t, "", "render", "--api", "mcs", "--from-file", "../../examples/mcs/east.yaml", "--remote-name", "east",
		"--local-from-file", "../../testdata/render/mcs-local.yaml", "--clusterset-ip-range", "10.96.240.0/31", "-o", out)
	if code != exitInvalid || !strings.Contains(stderr, "level=ERROR") || !strings.Contains(stderr, "reason=ClusterSetIPRangeFull") ||
		!strings.Contains(stderr, "service=shop/web") || !strings.Contains(stderr, "--clusterset-ip-range 10.96.240.0/31") {
		t.Errorf("a full range: exit %d, want %d, an error naming shop/web and the range:\n%s", code, exitInvalid, stderr)
	}
	code, stdout, stderr := ssm(t, "", "render", "--api", "mcs", "--from-file", "../../examples/mcs/east.yaml", "--remote-name", "east",
		"--local-from-file", "../../testdata/render/mcs-local.yaml", "--clusterset-ip-range", "10.96.240.0/31", "--skip-invalid", "-o", "-")
	if code != exitOK || !strings.Contains(stdout, "kind: ServiceImport\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: ssm\n  name: pg\n") ||
		strings.Contains(stdout, "name: web\n") {
		t.Errorf("--skip-invalid: exit %d, want the rest rendered, db/pg and not shop/web:\n%s%s", code, stdout, stderr)
	}
}
