package generate_test

import (
	"math/rand/v2"
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
	want, err := generate.Tree(clusters, c.Global)
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
		got, err := generate.Tree(in, c.Global)
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
		_, err := generate.Tree(cs, generate.GlobalOptions{MirrorNamespace: "m"})
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
	res, err := generate.Tree(cs, generate.GlobalOptions{MirrorNamespace: "m"})
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
	res, err := generate.Tree(cs, generate.GlobalOptions{MirrorNamespace: "m"})
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
