package mirror

import (
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

// exports is a remote's state exporting the Services ns/name given.
func exports(names ...[2]string) clusterState {
	var st source.State
	for _, n := range names {
		st.Services = append(st.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: n[0], Name: n[1]},
			Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
		st.ServiceExports = append(st.ServiceExports, &mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: n[0], Name: n[1],
			CreationTimestamp: metav1.NewTime(time.Unix(1, 0))}})
	}
	return clusterState{config.RoleMirrored: st}
}

type storedFiles fileset.Files

func (s storedFiles) Files() fileset.Files { return fileset.Files(s) }
func (storedFiles) Message() string        { return "" }

// A cluster whose last export goes is held by the guard as a whole: its
// EndpointSlices, the import only it feeds, and that import's namespace
// stay as stored, not the slices alone.
func TestGuardRenderHoldsClusterSet(t *testing.T) {
	cfg := config.Config{Layout: config.Tree, API: generate.APIMCS, MaxRemovals: config.RemovalLimit{N: 50, Percent: true},
		MCS:      generate.MCSOptions{ClusterSetIPRanges: []netip.Prefix{netip.MustParsePrefix("10.96.0.16/28")}, ServiceExports: true},
		Clusters: []config.Cluster{{Name: "east"}, {Name: "west"}, {Name: "local", Local: true, Reads: []config.Read{{Role: config.RoleLocal}}}}}
	local := clusterState{config.RoleLocal: source.State{}}
	first := input{cfg: cfg, states: []clusterState{exports([2]string{"a", "web"}), exports([2]string{"b", "api"}), local}}
	res, err := first.render(storedFiles{})
	if err != nil {
		t.Fatal(err)
	}
	stored := storedFiles(res.Files)
	for _, p := range []string{"west/b.api.yaml", "imports/b.api.yaml", "namespaces/namespaces.yaml"} {
		if _, ok := stored[p]; !ok {
			t.Fatalf("first render lacks %s", p)
		}
	}
	// West's export goes: all of west's mirrors at once.
	second := input{cfg: cfg, states: []clusterState{exports([2]string{"a", "web"}), exports(), local}, revisions: make([]source.Revisions, 3)}
	res, err = second.render(stored)
	if err != nil {
		t.Fatal(err)
	}
	gi := guardInput{stored: fileset.Files(stored), files: res.Files, tree: true, names: func(g string) string { return g },
		limit: cfg.MaxRemovals, approved: func(Removal) bool { return false }, mirrorOf: guardMirrorOf(cfg)}
	in, files, decisions, err := guardRender(second, gi, stored)
	if err != nil {
		t.Fatal(err)
	}
	if len(decisions) != 1 || decisions[0].Cluster != "west" || decisions[0].Verdict != HeldBack {
		t.Fatalf("decisions %+v, want west's removal held", decisions)
	}
	for p, b := range stored {
		if string(files[p]) != string(b) {
			t.Errorf("%s: not as stored while west's removal is held", p)
		}
	}
	if in.states[1] != nil {
		t.Error("the held cluster's state is recorded as rendered")
	}
	// Approved, it goes with its import and namespace.
	gi.approved = func(Removal) bool { return true }
	_, files, _, err = guardRender(second, gi, stored)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"west/b.api.yaml", "imports/b.api.yaml"} {
		if _, ok := files[p]; ok {
			t.Errorf("%s kept once approved", p)
		}
	}
}
