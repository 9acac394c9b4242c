package config

import (
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

func ptr[T any](v T) *T { return &v }

func TestResolveFlat(t *testing.T) {
	cfg, err := Resolve("", Overrides{LabelSelector: ptr("mirror=true"), ServicePrefix: ptr("east"), MirrorNamespace: ptr("mirrors"),
		KubeConfig: ptr("k"), UserAgent: "ssm/test", SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Layout: Flat, SkipInvalid: true, MaxRemovals: RemovalLimit{N: 50, Percent: true}, Clusters: []Cluster{{
		Name:  "east",
		Conn:  source.Connection{KubeConfig: "k", UserAgent: "ssm/test", Timeout: DefaultTimeout},
		Reads: []Read{{Role: RoleMirrored, Selection: source.Selection{LabelSelector: "mirror=true", EndpointsAPI: kubeapi.Endpoints}}},
		Options: generate.Options{Mode: generate.ModeEndpoints, Cluster: "east", ServicePrefix: "east", MirrorNamespace: "mirrors",
			EndpointsAPI: kubeapi.EndpointSlices},
	}}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if cfg.Remotes() != "east" || cfg.Local() != -1 {
		t.Errorf("remotes %q, local %d", cfg.Remotes(), cfg.Local())
	}
}

func TestResolveFlatNodePort(t *testing.T) {
	cfg, err := Resolve("", Overrides{Mode: ptr("nodeport"), Name: ptr("bm"), IgnoreNamespaces: ptr([]string{"a", "b"}),
		NodePortService: ptr(true), LocalKubeConfig: ptr("local.kubeconfig"), Timeout: ptr(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Clusters) != 2 || cfg.Local() != 1 || !cfg.Clusters[0].Options.ManualEndpoints {
		t.Fatalf("config = %+v", cfg)
	}
	remote, local := cfg.Clusters[0], cfg.Clusters[1]
	if sel, ok := remote.Selection(RoleMirrored); !ok || !sel.Nodes || sel.EndpointsAPI != kubeapi.NoEndpoints {
		t.Errorf("remote selection %+v", sel)
	}
	if o := remote.Options; !o.NodePortService || o.ExcludeUnschedulable || !cmp.Equal(o.IgnoreNamespaces, []string{"a", "b"}) {
		t.Errorf("remote options %+v", o)
	}
	// Every Service and namespace: a remote Service keeps its name, which
	// may be any local Service's.
	if sel, ok := local.Selection(RoleLocal); !ok || sel.LabelSelector != "" || sel.Namespace != "" || !sel.Namespaces ||
		local.Conn.KubeConfig != "local.kubeconfig" || local.Conn.Timeout != 5*time.Second || !strings.Contains(local.Hint, "NodePort mode reads the local cluster") {
		t.Errorf("local cluster %+v", local)
	}
	if _, ok := local.Selection(RoleGlobal); ok {
		t.Error("the local cluster is read for global Services in flat mode")
	}
	// Defaults; without manual endpoints the local cluster is read all the
	// same, in-cluster when no kubeconfig is given.
	cfg, err = Resolve("", Overrides{Mode: ptr("nodeport"), ManualEndpoints: ptr(false)})
	if err != nil || len(cfg.Clusters) != 2 || !cmp.Equal(cfg.Clusters[0].Options.IgnoreNamespaces, []string{"kube-system"}) ||
		cfg.Clusters[0].Options.ManualEndpoints || cfg.Clusters[1].Conn.Describe() != "in-cluster service account" {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	if _, err := Resolve("", Overrides{Mode: ptr("nodeport"), ReadLocal: ptr(false)}); err == nil || !strings.Contains(err.Error(), "--read-local=false") {
		t.Errorf("nodeport mode without the local cluster: %v", err)
	}
}

// Endpoints mode reads the local mirror namespace when the local cluster
// is named or ssm runs in one, unless told not to.
func TestResolveFlatLocal(t *testing.T) {
	base := Overrides{LabelSelector: ptr("mirror=true"), ServicePrefix: ptr("east"), MirrorNamespace: ptr("mirrors")}
	with := func(f func(*Overrides)) Overrides { o := base; f(&o); return o }
	for _, tc := range []struct {
		name string
		ov   Overrides
		read bool
	}{
		{name: "nothing named", ov: base},
		{name: "kubeconfig", ov: with(func(o *Overrides) { o.LocalKubeConfig = ptr("k") }), read: true},
		{name: "snapshot", ov: with(func(o *Overrides) { o.LocalFromFile = ptr("l.yaml") }), read: true},
		{name: "in a cluster", ov: with(func(o *Overrides) { o.InCluster = true }), read: true},
		{name: "in a cluster, told not to", ov: with(func(o *Overrides) { o.InCluster, o.ReadLocal = true, ptr(false) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Resolve("", tc.ov)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Local() >= 0; got != tc.read {
				t.Fatalf("local cluster read: %v, want %v", got, tc.read)
			}
			if !tc.read {
				return
			}
			sel, ok := cfg.Clusters[cfg.Local()].Selection(RoleLocal)
			if !ok || sel.Namespace != "mirrors" || sel.Namespaces || sel.LabelSelector != "" {
				t.Errorf("local selection %+v", sel)
			}
		})
	}
	if _, err := Resolve("", with(func(o *Overrides) { o.AdoptServices = ptr([]string{"mirrors"}) })); err == nil || !strings.Contains(err.Error(), "--adopt-service") {
		t.Errorf("--adopt-service without a name: %v", err)
	}
	cfg, err := Resolve("", with(func(o *Overrides) { o.AdoptServices = ptr([]string{"mirrors/east-a-73736d-b"}) }))
	if err != nil || !cmp.Equal(cfg.Clusters[0].Options.Adopt, []string{"mirrors/east-a-73736d-b"}) {
		t.Errorf("--adopt-service: %+v, %v", cfg.Clusters[0].Options, err)
	}
}

func TestResolveFlatErrors(t *testing.T) {
	base := Overrides{LabelSelector: ptr("mirror=true"), ServicePrefix: ptr("east"), MirrorNamespace: ptr("mirrors")}
	with := func(f func(*Overrides)) Overrides { o := base; f(&o); return o }
	tests := []struct {
		name string
		ov   Overrides
		want string
	}{
		{name: "required", ov: Overrides{}, want: "required flags not set: --label-selector, --svc-prefix, --mirror-ns"},
		{name: "some required", ov: Overrides{LabelSelector: ptr("a")}, want: "required flags not set: --svc-prefix, --mirror-ns"},
		{name: "global selector", ov: with(func(o *Overrides) { o.GlobalSvcLabelSelector = ptr("g") }), want: "--global-svc-label-selector: global Services merge several clusters"},
		{name: "routing label", ov: with(func(o *Overrides) { o.GlobalSvcRoutingStrategyLabel = ptr("r") }), want: "--global-svc-routing-strategy-label:"},
		{name: "selector", ov: with(func(o *Overrides) { o.LabelSelector = ptr("a=(b") }), want: `--label-selector "a=(b"`},
		{name: "remote endpoints API", ov: with(func(o *Overrides) { o.RemoteEndpointsAPI = ptr("slices") }), want: `--remote-endpoints-api "slices": want endpoints or endpointslices`},
		{name: "snapshot and remote", ov: with(func(o *Overrides) { o.FromFile, o.KubeConfig = ptr("f"), ptr("k") }), want: "--from-file reads a snapshot"},
		{name: "stdin twice", ov: Overrides{Mode: ptr("nodeport"), FromFile: ptr("-"), LocalFromFile: ptr("-")}, want: "cannot both read stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve("", tt.ov)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestResolveTree reads examples/multi: remotes in file order, then the
// local cluster read for global Services; snapshot paths relative to the
// file; overrides over the file.
func TestResolveTree(t *testing.T) {
	const path = "../examples/multi/config.yaml"
	cfg, err := Resolve(path, Overrides{MirrorNamespace: ptr("elsewhere"), EndpointsAPI: ptr("both"), Timeout: ptr(time.Minute), UserAgent: "ssm/test"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cfg.Clusters {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"east", "west", "local"}, names); diff != "" {
		t.Fatalf("clusters (-want +got):\n%s", diff)
	}
	east, west, local := cfg.Clusters[0], cfg.Clusters[1], cfg.Clusters[2]
	if east.FromFile != filepath.Join("../examples/multi", "east.yaml") || east.Resync != 10*time.Minute || east.Conn.Timeout != time.Minute {
		t.Errorf("east = %+v", east)
	}
	if east.Options.MirrorNamespace != "elsewhere" || east.Options.EndpointsAPI != kubeapi.Both || cfg.Global.MirrorNamespace != "elsewhere" {
		t.Errorf("overrides not applied: %+v, %+v", east.Options, cfg.Global)
	}
	if sel, _ := west.Selection(RoleMirrored); sel.EndpointsAPI != kubeapi.EndpointSlices || sel.LabelSelector != "mirror.semaphore.uw.io/mirror-service=true" {
		t.Errorf("west mirror selection %+v", sel)
	}
	if sel, ok := west.Selection(RoleGlobal); !ok || sel.LabelSelector != "mirror.semaphore.uw.io/global-service=true" {
		t.Errorf("west global selection %+v", sel)
	}
	if sel, ok := local.Selection(RoleGlobal); !local.Local || !ok || sel.EndpointsAPI != kubeapi.EndpointSlices {
		t.Errorf("local = %+v", local)
	}
	if cfg.Layout != Tree || cfg.Remotes() != "east, west" || cfg.Local() != 2 || !cmp.Equal(cfg.Global.LocalZones, []string{"europe-west2-a", "europe-west2-b"}) {
		t.Errorf("config = %+v", cfg)
	}
}

func TestResolveTreeNodePort(t *testing.T) {
	path := writeConfig(t, `
global: {mirrorNamespace: m, mirrorSvcLabelSelector: a=b}
localCluster: {kubeConfigPath: local.kubeconfig}
remoteClusters:
- {name: east, servicePrefix: east, kubeConfigPath: k, labelSelector: only=east}
- {name: bm, kubeConfigPath: k, mode: nodeport, ignoreNamespaces: [x], excludeUnschedulableNodes: true}
`)
	cfg, err := Resolve(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Clusters[1].Options.ManualEndpoints || len(cfg.Clusters) != 3 {
		t.Fatalf("config = %+v", cfg)
	}
	if sel, _ := cfg.Clusters[0].Selection(RoleMirrored); sel.LabelSelector != "only=east" {
		t.Errorf("east's own selector not used: %+v", sel)
	}
	bm := cfg.Clusters[1].Options
	if !cmp.Equal(bm.IgnoreNamespaces, []string{"x"}) || !bm.ExcludeUnschedulable || bm.NodePortService {
		t.Errorf("bm options %+v", bm)
	}
	if sel, ok := cfg.Clusters[2].Selection(RoleLocal); !ok || sel.Namespace != "" || !sel.Namespaces {
		t.Error("the local cluster's Services and namespaces are not read")
	}
	// Flags win over the file.
	cfg, err = Resolve(path, Overrides{IgnoreNamespaces: ptr([]string{"y"}), ExcludeUnschedulable: ptr(false), ManualEndpoints: ptr(false)})
	if err != nil || !cmp.Equal(cfg.Clusters[1].Options.IgnoreNamespaces, []string{"y"}) || cfg.Clusters[1].Options.ExcludeUnschedulable || cfg.Clusters[1].Options.ManualEndpoints {
		t.Errorf("overrides: %+v, %v", cfg, err)
	}
}

func TestResolveTreeErrors(t *testing.T) {
	tests := []struct {
		name, config string
		ov           Overrides
		want         string
	}{
		{name: "per-remote flag", config: `remoteClusters: [{name: a, servicePrefix: a, kubeConfigPath: k}]`, ov: Overrides{ServicePrefix: ptr("x")},
			want: "--svc-prefix names one remote: with --config set remoteClusters[].servicePrefix in the file"},
		{name: "no selector", config: `{global: {mirrorNamespace: m}, remoteClusters: [{name: a, servicePrefix: a, kubeConfigPath: k}]}`,
			want: "remoteClusters[0]: no label selector: set global.mirrorSvcLabelSelector, remoteClusters[0].labelSelector or --label-selector"},
		{name: "no namespace", config: `{global: {mirrorSvcLabelSelector: a}, remoteClusters: [{name: a, servicePrefix: a, kubeConfigPath: k}]}`,
			want: "global.mirrorNamespace: required (or --mirror-ns)"},
		{name: "nodeport without local", config: `remoteClusters: [{name: a, mode: nodeport, kubeConfigPath: k, manualEndpoints: false}]`,
			want: "localCluster: the local cluster is not read: set localCluster.kubeConfigPath"},
		{name: "stdin", config: `{global: {mirrorNamespace: m, mirrorSvcLabelSelector: a}, remoteClusters: [{name: a, servicePrefix: a, fromFile: "-"}]}`,
			want: "cluster a: fromFile - (stdin) cannot be used with --config"},
		{name: "override checked", config: `{global: {mirrorSvcLabelSelector: a}, remoteClusters: [{name: a, servicePrefix: a, kubeConfigPath: k}]}`,
			ov: Overrides{MirrorNamespace: ptr("Bad")}, want: `(with flags applied): global.mirrorNamespace: "Bad"`},
		{name: "missing file", want: "read config:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.yaml")
			if tt.config != "" {
				path = writeConfig(t, tt.config)
			}
			_, err := Resolve(path, tt.ov)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestResolveTreeNotes: global Services without a readable local cluster
// get remote endpoints only, and the user is told.
func TestResolveTreeNotes(t *testing.T) {
	cfg, err := Resolve(writeConfig(t, `
global: {mirrorNamespace: m, mirrorSvcLabelSelector: a, globalSvcLabelSelector: g}
remoteClusters: [{name: a, servicePrefix: Cluster-A, kubeConfigPath: k}]
`), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Notes) != 2 || !strings.Contains(cfg.Notes[0], `is used as "cluster-a"`) || !strings.Contains(cfg.Notes[1], "localCluster is not read") {
		t.Errorf("notes = %q", cfg.Notes)
	}
	if cfg.Local() != -1 {
		t.Error("an unreadable local cluster is read")
	}
	cfg, err = Resolve(writeConfig(t, `
global: {mirrorNamespace: m, mirrorSvcLabelSelector: a, globalSvcLabelSelector: g}
remoteClusters: [{name: a, servicePrefix: a, kubeConfigPath: k}]
`), Overrides{InCluster: true})
	if err != nil || cfg.Local() != 1 || cfg.Clusters[1].Conn.KubeConfig != "" {
		t.Errorf("in a cluster, the local cluster is read in-cluster: %+v, %v", cfg, err)
	}
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRemovalLimit(t *testing.T) {
	for _, tt := range []struct {
		in      string
		stored  int
		allowed int
	}{
		{in: "50%", stored: 5, allowed: 2}, {in: "50%", stored: 1, allowed: 0}, {in: "50%", stored: 3, allowed: 1},
		{in: "100%", stored: 7, allowed: 7}, {in: "0", stored: 7, allowed: 0}, {in: "3", stored: 1, allowed: 3}, {in: " 10% ", stored: 50, allowed: 5},
	} {
		l, err := ParseRemovalLimit(tt.in)
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if got := l.Allowed(tt.stored); got != tt.allowed {
			t.Errorf("%q of %d allows %d, want %d", tt.in, tt.stored, got, tt.allowed)
		}
	}
	for _, bad := range []string{"", "-1", "101%", "half", "5 %x"} {
		if _, err := ParseRemovalLimit(bad); err == nil || !strings.Contains(err.Error(), "--max-removals") {
			t.Errorf("%q: err %v", bad, err)
		}
	}
	cfg, err := Resolve("", Overrides{LabelSelector: ptr("a"), ServicePrefix: ptr("p"), MirrorNamespace: ptr("m")})
	if err != nil || cfg.MaxRemovals.String() != "50%" {
		t.Errorf("default limit %v, %v", cfg.MaxRemovals, err)
	}
	if _, err := Resolve("", Overrides{MaxRemovals: ptr("x")}); err == nil || !strings.Contains(err.Error(), `--max-removals "x"`) {
		t.Errorf("bad limit: %v", err)
	}
}

func TestResolveLayout(t *testing.T) {
	ov := Overrides{LabelSelector: ptr("a"), ServicePrefix: ptr("p"), MirrorNamespace: ptr("m"), Layout: ptr("namespaces")}
	cfg, err := Resolve("", ov)
	if err != nil || !cfg.Clusters[0].Options.ByNamespace {
		t.Errorf("--layout namespaces: %+v, %v", cfg.Clusters[0].Options, err)
	}
	cfg, err = Resolve("../examples/multi/config.yaml", Overrides{Layout: ptr("namespaces")})
	if err != nil || !cfg.Clusters[0].Options.ByNamespace || !cfg.Clusters[1].Options.ByNamespace {
		t.Errorf("--layout namespaces with --config: %v", err)
	}
	ov.Layout = ptr("deep")
	if _, err := Resolve("", ov); err == nil || !strings.Contains(err.Error(), `--layout "deep"`) {
		t.Errorf("--layout deep: %v", err)
	}
}

// TestEndpointsAPIDefault: mirrors are rendered with EndpointSlices, as
// Kubernetes has it since v1 Endpoints were deprecated (1.33), unless a
// semaphore-service-mirror configuration file says nothing of it: then
// with the v1 Endpoints semaphore-service-mirror v0.4 writes, so that
// moving over replaces its objects. endpointsAPI or the flag decide over
// both.
func TestEndpointsAPIDefault(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	write := func(extra string) {
		conf := "global: {mirrorSvcLabelSelector: mirror=true, mirrorNamespace: m}\nlocalCluster: {name: local}\nremoteClusters:\n- {name: east, servicePrefix: east, kubeConfigPath: k" + extra + "}\n"
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flags := Overrides{LabelSelector: ptr("mirror=true"), ServicePrefix: ptr("east"), MirrorNamespace: ptr("m"), KubeConfig: ptr("k")}
	for _, tc := range []struct {
		name, file, extra string
		ov                Overrides
		want              kubeapi.EndpointsAPI
	}{
		{name: "flags", ov: flags, want: kubeapi.EndpointSlices},
		{name: "flags, --endpoints-api endpoints", ov: func() Overrides { o := flags; o.EndpointsAPI = ptr("endpoints"); return o }(), want: kubeapi.Endpoints},
		{name: "file without endpointsAPI", file: file, want: kubeapi.Endpoints},
		{name: "file with endpointsAPI", file: file, extra: ", endpointsAPI: endpointslices", want: kubeapi.EndpointSlices},
		{name: "file and --endpoints-api", file: file, ov: Overrides{EndpointsAPI: ptr("both")}, want: kubeapi.Both},
	} {
		write(tc.extra)
		cfg, err := Resolve(tc.file, tc.ov)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := cfg.Clusters[0].Options.EndpointsAPI; got != tc.want {
			t.Errorf("%s: EndpointsAPI %s, want %s", tc.name, got, tc.want)
		}
	}
}
