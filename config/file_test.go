package config

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The shape of semaphore-service-mirror's documented v0.4 configuration,
// read unchanged, including its names with capitals and underscores and
// resyncPeriod as a string or as nanoseconds.
var update = flag.Bool("update", false, "rewrite testdata/config/semaphore-doc.golden")

func TestLoadConfigSemaphoreV04(t *testing.T) {
	cfg, err := Load("../testdata/config/semaphore-v0.4.json", Overrides{})
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
	if a.Connection().APIURL != "remote_api_url" || b.Connection().KubeConfig != "/path/to/kube/config" {
		t.Errorf("connections %+v, %+v", a.Connection(), b.Connection())
	}
	if a.DNSDomain() != "cluster.clustera" || b.DNSDomain() != "cluster.remote-cluster-2" {
		t.Errorf("domains %q, %q", a.DNSDomain(), b.DNSDomain())
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
			_, err := Parse([]byte(tt.config))
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
	if _, err := Parse([]byte(`{"remoteClusters": [{"name": "a", "kubeConfigPath": "k", "mode": "nodeport"}]}`)); err != nil {
		t.Errorf("nodeport remote without prefix: %v", err)
	}
}

// TestConfigGolden reads semaphore-service-mirror's documented example,
// byte for byte as its README prints it, and compares what ssm makes of it
// with testdata/config/semaphore-doc.golden.
func TestConfigGolden(t *testing.T) {
	cfg, err := Load("../testdata/config/semaphore-doc.json", Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(struct {
		Config *File
		Notes  []string
	}{cfg, cfg.notes}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := "../testdata/config/semaphore-doc.golden"
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
		t.Errorf("configuration differs from %s (-want +got; go test ./config -run ConfigGolden -update accepts):\n%s", golden, diff)
	}
}
