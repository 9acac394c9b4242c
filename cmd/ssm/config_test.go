package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The shape of semaphore-service-mirror's documented v0.4 configuration,
// read unchanged, including its names with capitals and underscores and
// resyncPeriod as a string or as nanoseconds.
func TestLoadConfigSemaphoreV04(t *testing.T) {
	cfg, err := loadConfig("../../testdata/config/semaphore-v0.4.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.MirrorNamespace != "semaphore" || len(cfg.RemoteClusters) != 2 || cfg.LocalCluster.Zones[1] != "zone-b" {
		t.Fatalf("config = %+v", cfg)
	}
	a, b := cfg.RemoteClusters[0], cfg.RemoteClusters[1]
	if a.ResyncPeriod.Duration != 10*time.Second || b.ResyncPeriod.Duration != 30*time.Second {
		t.Errorf("resync periods %v, %v", a.ResyncPeriod, b.ResyncPeriod)
	}
	if a.connection().APIURL != "remote_api_url" || b.connection().KubeConfig != "/path/to/kube/config" {
		t.Errorf("connections %+v, %+v", a.connection(), b.connection())
	}
	if a.domain() != "cluster.clustera" || b.domain() != "cluster.remote-cluster-2" {
		t.Errorf("domains %q, %q", a.domain(), b.domain())
	}
}

func TestParseConfigErrors(t *testing.T) {
	remote := `{"name": "a", "kubeConfigPath": "k", "servicePrefix": "a"}`
	tests := []struct {
		name, config string
		want         []string
	}{
		{name: "unknown keys, by path", config: `{"global": {"mirrorNS": "x"}, "remoteClusters": [` + remote + `, {"name": "b", "kubeConfigPath": "k", "servicePrefix": "b", "prefix": "c"}]}`,
			want: []string{"global.mirrorNS: unknown key", "remoteClusters[1].prefix: unknown key"}},
		{name: "wrong types", config: `{"global": {"serviceSync": "yes"}, "localCluster": {"zones": "a"}, "remoteClusters": [{"name": 7}]}`,
			want: []string{"global.serviceSync: want true or false", "localCluster.zones: want a list", "remoteClusters[0].name: want a string"}},
		{name: "bad values", config: `{"global": {"mirrorNamespace": "Semaphore", "mirrorSvcLabelSelector": "a=(b"}, "remoteClusters": [{"name": "a", "servicePrefix": "cluster_a", "kubeConfigPath": "k", "domain": "-x"}]}`,
			want: []string{`global.mirrorNamespace: "Semaphore"`, "global.mirrorSvcLabelSelector:", `remoteClusters[0].servicePrefix: "cluster_a"`, `remoteClusters[0].domain: "-x"`}},
		{name: "bad duration", config: `{"remoteClusters": [{"name": "a", "servicePrefix": "a", "resyncPeriod": "10 s", "kubeConfigPath": "k"}]}`,
			want: []string{`remoteClusters[0].resyncPeriod: time: unknown unit`}},
		{name: "duplicates", config: `{"remoteClusters": [` + remote + `, ` + remote + `]}`,
			want: []string{`remoteClusters[1].name: "a" is also remoteClusters[0].name`, `remoteClusters[1].servicePrefix: "a" is also remoteClusters[0].servicePrefix`}},
		{name: "no way in", config: `{"remoteClusters": [{"name": "a", "servicePrefix": "a", "remoteAPIURL": "u"}]}`,
			want: []string{"remoteClusters[0]: set kubeConfigPath, or remoteAPIURL, remoteCAURL and remoteSATokenPath"}},
		{name: "missing prefix and bad mode", config: `{"remoteClusters": [{"name": "a", "kubeConfigPath": "k"}, {"name": "b", "kubeConfigPath": "k", "mode": "mesh"}]}`,
			want: []string{"remoteClusters[0].servicePrefix: required", `remoteClusters[1].mode: "mesh"`}},
		{name: "no remotes", config: `global: {mirrorNamespace: m}`, want: []string{"remoteClusters: at least one remote cluster is required"}},
		{name: "not YAML", config: "global: [", want: []string{"yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.config))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// NodePort mode needs no prefix.
	if _, err := parseConfig([]byte(`{"remoteClusters": [{"name": "a", "kubeConfigPath": "k", "mode": "nodeport"}]}`)); err != nil {
		t.Errorf("nodeport remote without prefix: %v", err)
	}
}

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

// TestConfigGolden reads semaphore-service-mirror's documented example,
// byte for byte as its README prints it, and compares what ssm makes of it
// with testdata/config/semaphore-doc.golden.
func TestConfigGolden(t *testing.T) {
	cfg, err := loadConfig("../../testdata/config/semaphore-doc.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(struct {
		Config *fileConfig
		Notes  []string
	}{cfg, cfg.notes}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := "../../testdata/config/semaphore-doc.golden"
	if *update {
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(b)+"\n"); diff != "" {
		t.Errorf("configuration differs from %s (-want +got; go test ./cmd/ssm -run ConfigGolden -update accepts):\n%s", golden, diff)
	}
}
