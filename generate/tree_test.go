package generate_test

import (
	"math/rand/v2"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/ssm-dev/ssm/generate"
)

// TestTreeDeterministic shuffles every cluster's objects and the order of
// the clusters themselves.
func TestTreeDeterministic(t *testing.T) {
	t.Parallel()
	c := readCase(t, filepath.Join(goldenRoot, "tree"))
	clusters := loadTree(t, c)
	want, err := generate.Tree(clusters, c.Global, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 5))
	for i := range 50 {
		in := make([]generate.Cluster, len(clusters))
		for j, cl := range clusters {
			cl.Mirror, cl.Global = shuffled(cl.Mirror, r), shuffled(cl.Global, r)
			in[j] = cl
		}
		shuffle(r, in)
		got, err := generate.Tree(in, c.Global, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("shuffle %d rendered differently (-first +shuffled):\n%s", i, diff)
		}
	}
}

func TestTreeClusterNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{names: []string{"a", "A"}, want: `cluster names "a" and "A"`},
		{names: []string{"x_y", "x-y"}, want: `cluster names "x_y" and "x-y"`},
		{names: []string{"Global"}, want: "directory of global Services"},
		{names: []string{"-a"}, want: `cluster name "-a"`},
		{names: []string{"a/b"}, want: `cluster name "a/b"`},
	} {
		var cs []generate.Cluster
		for _, n := range tc.names {
			cs = append(cs, generate.Cluster{Name: n, Options: opts})
		}
		_, err := generate.Tree(cs, generate.GlobalOptions{MirrorNamespace: "m"}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Tree(%v) = %v, want an error with %q", tc.names, err, tc.want)
		}
	}
}

// TestGlobalHeadlessTie: with as many headless as ClusterIP Services, the
// global Service is a ClusterIP one and the headless clusters are named.
func TestGlobalHeadlessTie(t *testing.T) {
	t.Parallel()
	headless := svc("n", "s", port("p", 1))
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	cs := []generate.Cluster{
		{Name: "b", Options: opts, Global: generate.State{Services: []*corev1.Service{headless}}},
		{Name: "a", Options: opts, Global: generate.State{Services: []*corev1.Service{svc("n", "s", port("p", 1))}}},
	}
	res, err := generate.Tree(cs, generate.GlobalOptions{MirrorNamespace: "m"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := string(res.Files["global/gl-n-73736d-s.yaml"])
	if !strings.Contains(b, "global-svc-clusters: a\n") || strings.Contains(b, "clusterIP: None") {
		t.Errorf("global Service:\n%s\nwant a ClusterIP Service from cluster a only", b)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].Cluster != "b" || res.Warnings[0].Reason != generate.ReasonHeadless {
		t.Errorf("warnings = %+v, want cluster b left out as headless", res.Warnings)
	}
}

// TestGlobalNameLimit: "gl-n-73736d-" is 12 characters, so 51 more fit.
func TestGlobalNameLimit(t *testing.T) {
	t.Parallel()
	fits, over := strings.Repeat("a", 51), strings.Repeat("a", 52)
	cs := []generate.Cluster{{Name: "c", Options: opts, Global: generate.State{Services: []*corev1.Service{svc("n", fits), svc("n", over)}}}}
	res, err := generate.Tree(cs, generate.GlobalOptions{MirrorNamespace: "m"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Files["global/gl-n-73736d-"+fits+".yaml"]; !ok || len(res.Mirrors) != 1 {
		t.Errorf("mirrors = %+v, want the 63-character global Service", res.Mirrors)
	}
	if inv := res.Invalid(); len(inv) != 1 || inv[0].Cluster != "c" || inv[0].Service != "n/"+over {
		t.Errorf("invalid = %+v, want n/%s of cluster c", inv, over)
	}
}

// TestTreeUnread: cluster b has not been read: its directory and its
// global slices stay as stored, and so does the global Service only b
// contributed to; a's changes go through, and nothing rendered for b (it
// has no state) appears. The kustomizations list what was kept.
func TestTreeUnread(t *testing.T) {
	t.Parallel()
	c := readCase(t, filepath.Join(goldenRoot, "tree"))
	clusters := loadTree(t, c)
	full, err := generate.Tree(clusters, c.Global, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The stored tree: the full render, plus a file b had before, minus one
	// a no longer renders.
	stored := map[string][]byte{}
	for p, b := range full.Files {
		stored[p] = b
	}
	var unread *generate.Cluster
	for i := range clusters {
		if !clusters[i].Local && unread == nil {
			unread = &clusters[i]
		}
	}
	name := unread.Name
	stored[name+"/old-mirror.yaml"] = []byte("kept\n")
	stored["global/"+name+"/gl-only-"+name+".yaml"] = []byte("slice\n")
	stored["global/gl-only-"+name+".yaml"] = []byte("service\n")
	stored["global/gl-gone.yaml"] = []byte("no cluster feeds it\n")
	unread.Unread, unread.Stored = true, stored
	unread.Mirror, unread.Global = generate.State{}, generate.State{}
	got, err := generate.Tree(clusters, c.Global, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range stored {
		kept := strings.HasPrefix(p, name+"/") || strings.HasPrefix(p, "global/"+name+"/") || p == "global/gl-only-"+name+".yaml"
		if strings.HasSuffix(p, "kustomization.yaml") || !kept {
			continue
		}
		if string(got.Files[p]) != string(b) {
			t.Errorf("%s = %q, want it kept as stored %q", p, got.Files[p], b)
		}
	}
	if _, ok := got.Files["global/gl-gone.yaml"]; ok {
		t.Error("a global Service fed by no kept slice was kept")
	}
	if k := string(got.Files[name+"/kustomization.yaml"]); !strings.Contains(k, "- old-mirror.yaml\n") {
		t.Errorf("%s/kustomization.yaml does not list the kept file:\n%s", name, k)
	}
	if k := string(got.Files["global/kustomization.yaml"]); !strings.Contains(k, "- gl-only-"+name+".yaml\n") {
		t.Errorf("global/kustomization.yaml does not list the kept Service:\n%s", k)
	}
	for p, b := range full.Files {
		if !strings.HasPrefix(p, name+"/") && !strings.HasPrefix(p, "global/") && string(got.Files[p]) != string(b) {
			t.Errorf("%s of a cluster read changed", p)
		}
	}
}

func TestMirrorOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		path  string
		tree  bool
		group string
		ok    bool
	}{
		{path: "east-shop-73736d-web.yaml", ok: true},
		{path: "mirrors/shop.web.yaml", ok: true},
		{path: "namespaces/namespaces.yaml"},
		{path: "kustomization.yaml"},
		{path: "mirrors/kustomization.yaml"},
		{path: "east/east-shop-73736d-web.yaml", tree: true, group: "east", ok: true},
		{path: "bm/mirrors/shop.web.yaml", tree: true, group: "bm", ok: true},
		{path: "bm/namespaces/namespaces.yaml", tree: true},
		{path: "global/gl-shop-73736d-web.yaml", tree: true, group: "global", ok: true},
		{path: "global/west/gl-shop-73736d-web.yaml", tree: true, group: "west", ok: true},
		{path: "global/kustomization.yaml", tree: true},
		{path: "stray.yaml", tree: true, ok: true},
		{path: ".ssm-revisions"},
		{path: "east/README.md", tree: true},
		{path: ".east-shop-73736d-web.yaml.tmp-0123456789ab"},
	} {
		group, ok := generate.MirrorOf(tt.path, tt.tree)
		if group != tt.group || ok != tt.ok {
			t.Errorf("MirrorOf(%q, %v) = %q, %v; want %q, %v", tt.path, tt.tree, group, ok, tt.group, tt.ok)
		}
	}
	// Every mirror of the golden trees belongs to a cluster.
	for _, c := range []string{"tree", "nodeport", "endpoints"} {
		res, err := renderCase(t, filepath.Join(goldenRoot, c))
		if err != nil {
			t.Fatal(err)
		}
		for p := range res.Files {
			if _, ok := generate.MirrorOf(p, c == "tree"); !ok && path.Base(p) != generate.KustomizationFile && !strings.HasPrefix(p, "namespaces/") {
				t.Errorf("%s: %s is not counted as a mirror", c, p)
			}
		}
	}
}
