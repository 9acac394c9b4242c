package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// mcsFlags are the flags of a plain --api mcs render.
func mcsOverrides(f func(*Overrides)) Overrides {
	o := Overrides{API: ptr("mcs"), Name: ptr("east"), KubeConfig: ptr("east.kubeconfig"), LocalKubeConfig: ptr("local.kubeconfig"),
		ClusterSetIPRanges: ptr([]string{"10.96.240.0/24", "fd00:96::f000/116"}), UserAgent: "ssm/test"}
	if f != nil {
		f(&o)
	}
	return o
}

func TestResolveFlatMCS(t *testing.T) {
	cfg, err := Resolve("", mcsOverrides(func(o *Overrides) { o.Layout = ptr("namespaces"); o.TrafficDistribution = ptr("PreferClose") }))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Layout: Tree, API: generate.APIMCS, MaxRemovals: RemovalLimit{N: 50, Percent: true},
		MCS: generate.MCSOptions{ClusterSetIPRanges: []netip.Prefix{netip.MustParsePrefix("10.96.240.0/24"), netip.MustParsePrefix("fd00:96::f000/116")},
			ServiceExports: true, TrafficDistribution: "PreferClose", ByNamespace: true},
		Clusters: []Cluster{
			{Name: "east", Conn: source.Connection{KubeConfig: "east.kubeconfig", UserAgent: "ssm/test", Timeout: DefaultTimeout},
				Reads:   []Read{{Role: RoleMirrored, Selection: source.Selection{EndpointsAPI: kubeapi.EndpointSlices, ServiceExports: true}}},
				Options: generate.Options{ByNamespace: true}},
			{Name: "local", Local: true, Conn: source.Connection{KubeConfig: "local.kubeconfig", UserAgent: "ssm/test", Timeout: DefaultTimeout},
				Reads:   []Read{{Role: RoleLocal, Selection: source.Selection{EndpointsAPI: kubeapi.NoEndpoints, Namespaces: true, Imports: true}}},
				Options: generate.Options{ByNamespace: true}, Hint: mcsLocalHint},
		}}
	if diff := cmp.Diff(want, cfg, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	// The label selector alone, as semaphore-style mirrors select them.
	cfg, err = Resolve("", mcsOverrides(func(o *Overrides) { o.ServiceExports = ptr(false); o.LabelSelector = ptr("mirror=true") }))
	if sel, _ := cfg.Clusters[0].Selection(RoleMirrored); err != nil || sel.ServiceExports || sel.LabelSelector != "mirror=true" || cfg.MCS.ServiceExports {
		t.Errorf("label selection: %+v, %v", sel, err)
	}
}

func TestResolveFlatMCSErrors(t *testing.T) {
	for _, tc := range []struct {
		ov   Overrides
		want string
	}{
		{ov: mcsOverrides(func(o *Overrides) { o.API = ptr("smi") }), want: `--api "smi": want mirrors`},
		{ov: mcsOverrides(func(o *Overrides) { o.Name = nil }), want: "--remote-name: required with --api mcs"},
		{ov: mcsOverrides(func(o *Overrides) { o.Timeout = ptr(-5 * time.Second) }), want: "--timeout -5s: must not be negative"},
		{ov: mcsOverrides(func(o *Overrides) { o.Name = ptr("East_1") }), want: "--remote-name: cluster name \"East_1\": the Multi-Cluster Services API names clusters by a DNS label"},
		{ov: mcsOverrides(func(o *Overrides) { o.Name = ptr("imports") }), want: "holds the ServiceImports"},
		{ov: mcsOverrides(func(o *Overrides) { o.ServicePrefix = ptr("east") }), want: "--svc-prefix is for --api mirrors"},
		{ov: mcsOverrides(func(o *Overrides) { o.MirrorNamespace = ptr("m") }), want: "--mirror-ns is for --api mirrors"},
		{ov: mcsOverrides(func(o *Overrides) { o.EndpointsAPI = ptr("endpoints") }), want: "--endpoints-api is for --api mirrors"},
		{ov: mcsOverrides(func(o *Overrides) { o.Mode = ptr("nodeport") }), want: `--mode "nodeport": the MCS API imports endpoints`},
		{ov: mcsOverrides(func(o *Overrides) { o.ClusterSetIPRanges = nil }), want: "--clusterset-ip-range: required with the MCS API"},
		{ov: mcsOverrides(func(o *Overrides) { o.ClusterSetIPRanges = ptr([]string{"10.96.240.0"}) }), want: `--clusterset-ip-range: "10.96.240.0": want a CIDR`},
		{ov: mcsOverrides(func(o *Overrides) { o.ClusterSetIPRanges = ptr([]string{"10.96.240.0/24", "10.96.241.0/24"}) }), want: "at most one range of each IP family"},
		{ov: mcsOverrides(func(o *Overrides) { o.TrafficDistribution = ptr("PreferSameNode") }), want: "traffic distribution \"PreferSameNode\""},
		{ov: mcsOverrides(func(o *Overrides) { o.ServiceExports = ptr(false) }), want: "--label-selector: required with --service-exports=false"},
		{ov: mcsOverrides(func(o *Overrides) { o.LabelSelector = ptr("a b") }), want: `--label-selector "a b"`},
		{ov: mcsOverrides(func(o *Overrides) { o.RemoteEndpointsAPI = ptr("none") }), want: `--remote-endpoints-api "none"`},
		{ov: mcsOverrides(func(o *Overrides) { o.ReadLocal = ptr(false) }), want: "--read-local=false: the MCS API reads the local cluster"},
		{ov: mcsOverrides(func(o *Overrides) { o.LocalKubeConfig = nil }), want: "the local cluster is not read: give --kube-config"},
		{ov: mcsOverrides(func(o *Overrides) {
			o.KubeConfig = nil
			o.FromFile = ptr("-")
			o.LocalKubeConfig = nil
			o.LocalFromFile = ptr("-")
		}), want: "cannot both read stdin"},
		{ov: mcsOverrides(func(o *Overrides) { o.AdoptServices = ptr([]string{"x"}) }), want: "--adopt-service"},
	} {
		_, err := Resolve("", tc.ov)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.ov, err, tc.want)
		}
	}
	// In a cluster, the local cluster is read without a kubeconfig.
	if _, err := Resolve("", mcsOverrides(func(o *Overrides) { o.LocalKubeConfig, o.InCluster = nil, true })); err != nil {
		t.Errorf("in a cluster: %v", err)
	}
}

const semaphoreFile = `
global:
  mirrorNamespace: remote-mirrors
  mirrorSvcLabelSelector: mirror=true
  globalSvcLabelSelector: global=true
localCluster:
  name: local
  kubeConfigPath: local.kubeconfig
remoteClusters:
- name: east
  kubeConfigPath: east.kubeconfig
  servicePrefix: east
- name: west
  kubeConfigPath: west.kubeconfig
  servicePrefix: west
  labelSelector: export=yes
  denyCIDRs: [10.0.0.0/24]
`

// One semaphore-service-mirror file serves both APIs: --api mcs renders
// its remotes' exports, ignoring what is for mirrors alone.
func TestResolveFileMCS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(semaphoreFile), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Resolve(path, Overrides{API: ptr("mcs"), ClusterSetIPRanges: ptr([]string{"10.96.240.0/24"}), ServiceExports: ptr(false),
		DenyCIDRs: []string{"10.96.0.0/16"}})
	if err != nil {
		t.Fatal(err)
	}
	// The address policy's ranges, the file's and the flag's, apply to
	// what the remotes export.
	if d := cfg.Clusters[1].Options.DenyCIDRs; len(d) != 2 || d[0].String() != "10.96.0.0/16" && d[1].String() != "10.96.0.0/16" {
		t.Errorf("west's deny ranges %v, want the file's and --deny-cidr's", d)
	}
	if cfg.API != generate.APIMCS || cfg.Layout != Tree || len(cfg.Clusters) != 3 || cfg.Local() != 2 || cfg.MCS.ServiceExports {
		t.Fatalf("config %+v", cfg)
	}
	for i, want := range []string{"mirror=true", "export=yes"} {
		sel, _ := cfg.Clusters[i].Selection(RoleMirrored)
		if sel.LabelSelector != want || sel.EndpointsAPI != kubeapi.EndpointSlices || sel.ServiceExports {
			t.Errorf("%s: %+v, want %s", cfg.Clusters[i].Name, sel, want)
		}
		if _, ok := cfg.Clusters[i].Selection(RoleGlobal); ok {
			t.Errorf("%s: read for global Services", cfg.Clusters[i].Name)
		}
	}
	if sel, _ := cfg.Clusters[2].Selection(RoleLocal); !sel.Imports || !sel.Namespaces {
		t.Errorf("local: %+v", sel)
	}
	if len(cfg.Notes) != 1 || !strings.Contains(cfg.Notes[0], "global.globalSvcLabelSelector is not read") {
		t.Errorf("notes %q", cfg.Notes)
	}

	// The file's own keys, and their errors by path.
	mcsFile := strings.Replace(semaphoreFile, "  globalSvcLabelSelector: global=true\n", "  api: mcs\n  mcs:\n    clusterSetIPRanges: [10.96.240.0/24, nope]\n    keepZones: true\n", 1)
	mcsFile = strings.Replace(mcsFile, "- name: west", "- name: West_2\n  mode: nodeport", 1)
	if err := os.WriteFile(path, []byte(mcsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Resolve(path, Overrides{})
	for _, want := range []string{`global.mcs.clusterSetIPRanges[1]: "nope"`, `remoteClusters[1].name: cluster name "West_2"`, `remoteClusters[1].mode: "nodeport"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v, want %q", err, want)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Replace(semaphoreFile, "  mirrorNamespace", "  api: smi\n  mirrorNamespace", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(path, Overrides{}); err == nil || !strings.Contains(err.Error(), `global.api: "smi"`) {
		t.Errorf("global.api smi: %v", err)
	}
}

// A clusterset cannot be sharded: its imports merge every cluster's
// exports, and its ClusterSetIPs are allocated across all of them.
func TestResolveMCSRefusesShards(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(semaphoreFile), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve(path, Overrides{API: ptr("mcs"), ClusterSetIPRanges: ptr([]string{"10.96.240.0/24"}), Shards: ptr(2), ShardIndex: ptr(1)})
	if err == nil || !strings.Contains(err.Error(), "--shards: a ServiceImport merges every cluster's export") {
		t.Errorf("sharded MCS API: %v", err)
	}
}
