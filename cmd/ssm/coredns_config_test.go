package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCorednsConfig(t *testing.T) {
	config := writeFile(t, "config.yaml", `
global: {mirrorNamespace: semaphore}
remoteClusters:
- {name: east, kubeConfigPath: k, servicePrefix: east, domain: cluster.east}
- {name: west_1, kubeConfigPath: k, servicePrefix: west}
- {name: bm, kubeConfigPath: k, mode: nodeport}
`)
	code, stdout, stderr := ssm(t, "", "coredns", "--config", config)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var zones []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasSuffix(l, " {") && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "\t") {
			zones = append(zones, strings.TrimSuffix(l, " {"))
		}
	}
	if diff := cmp.Diff([]string{"cluster.east", "cluster.west-1"}, zones); diff != "" {
		t.Errorf("server blocks (-want +got):\n%s\n%s", diff, stdout)
	}
	for _, want := range []string{"{1}east-{3}-73736d-{2}.semaphore.svc.cluster.local.", "{1}west-{3}-73736d-{2}.semaphore.svc.cluster.local."} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	code, _, stderr = ssm(t, "", "coredns", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != exitError || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("missing config: exit %d %s", code, stderr)
	}
	code, _, stderr = ssm(t, "", "coredns", "--config", config, "--svc-prefix", "x")
	if code != exitError || !strings.Contains(stderr, "with --config") {
		t.Errorf("--config with --svc-prefix: exit %d %s", code, stderr)
	}
}
