package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMonitoringRules loads examples/monitoring's alerts with Prometheus's
// own rule parser (hack/promrules): YAML, PromQL and templates; a broken
// expression must fail it. cmd/ssm's TestAlertsUseRealMetrics checks the
// metric names.
func TestMonitoringRules(t *testing.T) {
	bin := filepath.Join(testbin, "promrules")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("SSM_E2E_REQUIRED") != "" {
			t.Fatalf("no promrules in %s (make test builds it: hack/promrules)", testbin)
		}
		t.Skip("no promrules: run make test")
	}
	rules := filepath.Join(examplesDir, "monitoring", "prometheusrule.yaml")
	out, err := exec.Command(bin, rules).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": 8 rules") {
		t.Fatalf("promrules %s: %v\n%s", rules, err, out)
	}
	b, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(b), "ssm_remote_up == 0", "ssm_remote_up == (0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, broken).CombinedOutput(); err == nil {
		t.Errorf("a broken expression passed:\n%s", out)
	}
}
