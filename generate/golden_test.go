package generate_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/render")

// goldenCase is testdata/render/<case>/case.json: a snapshot (relative to
// testdata/render), how it is read, and the rendering options.
type goldenCase struct {
	Snapshot           string
	LabelSelector      string
	RemoteEndpointsAPI kubeapi.EndpointsAPI
	Nodes              bool
	LocalSnapshot      string // the local cluster: its Services (and NodePort mode's hand-written ones) and namespaces
	Options            generate.Options
	// Clusters and Global, when set, render a multi-cluster Tree instead.
	Clusters []treeCluster
	Global   generate.GlobalOptions
	// API mcs renders Clusters as a clusterset instead (ClusterSet), with
	// MCS, LocalSnapshot, and Stored: a directory (relative to
	// testdata/render) holding the tree as stored before.
	API    generate.API
	MCS    generate.MCSOptions
	Stored string
}

// treeCluster is one cluster of a Tree case: its snapshot, read once with
// the mirror selector and once with the global one, as ssm run watches it.
type treeCluster struct {
	Name, Snapshot                string
	Local                         bool
	LabelSelector, GlobalSelector string
	RemoteEndpointsAPI            kubeapi.EndpointsAPI
	Options                       generate.Options
}

const goldenRoot = "../testdata/render"

// loadCase reads a case's snapshot through the real snapshot reader, so the
// golden files show what `ssm render --from-file` writes.
func loadCase(t *testing.T, dir string) (generate.State, generate.Options) {
	t.Helper()
	c := readCase(t, dir)
	st, err := source.LoadFile(filepath.Join(goldenRoot, c.Snapshot), source.Selection{LabelSelector: c.LabelSelector, EndpointsAPI: c.RemoteEndpointsAPI, Nodes: c.Nodes}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	state := stateOf(st)
	if c.LocalSnapshot != "" {
		sel := source.Selection{EndpointsAPI: kubeapi.NoEndpoints, Namespace: c.Options.MirrorNamespace, Namespaces: c.Options.Mode == generate.ModeNodePort}
		local, err := source.LoadFile(filepath.Join(goldenRoot, c.LocalSnapshot), sel, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		state.Local = &generate.Local{Services: local.Services, Namespaces: local.Namespaces}
	}
	return state, c.Options
}

// stateOf is what cmd/ssm hands generate for a remote read by source.
func stateOf(st source.State) generate.State {
	return generate.State{Services: st.Services, Endpoints: st.Endpoints, EndpointSlices: st.EndpointSlices, Nodes: st.Nodes}
}

func readCase(t *testing.T, dir string) goldenCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return c
}

func renderCase(t *testing.T, dir string) (generate.Result, error) {
	if c := readCase(t, dir); c.API == generate.APIMCS {
		clusters, local, stored := loadClusterSet(t, c)
		return generate.ClusterSet(clusters, c.MCS, local, stored)
	}
	if c := readCase(t, dir); len(c.Clusters) > 0 {
		return generate.Tree(loadTree(t, c), c.Global, nil)
	}
	state, opts := loadCase(t, dir)
	return generate.Manifests(state, opts)
}

func loadTree(t *testing.T, c goldenCase) []generate.Cluster {
	t.Helper()
	read := func(file, sel string, api kubeapi.EndpointsAPI) generate.State {
		if sel == "" {
			return generate.State{}
		}
		st, err := source.LoadFile(filepath.Join(goldenRoot, file), source.Selection{LabelSelector: sel, EndpointsAPI: api}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		return stateOf(st)
	}
	var out []generate.Cluster
	for _, tc := range c.Clusters {
		out = append(out, generate.Cluster{Name: tc.Name, Local: tc.Local, Options: tc.Options,
			Mirror: read(tc.Snapshot, tc.LabelSelector, tc.RemoteEndpointsAPI),
			Global: read(tc.Snapshot, tc.GlobalSelector, tc.RemoteEndpointsAPI)})
	}
	return out
}

func TestGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join(goldenRoot, "*", "case.json"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases under %s: %v", goldenRoot, err)
	}
	for _, c := range cases {
		dir := filepath.Dir(c)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			res, err := renderCase(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{"skipped.txt": skippedText(res.Skipped) + skippedText(res.Warnings)}
			for p, b := range res.Files {
				got[filepath.Join("want", p)] = string(b)
			}
			if *update {
				writeGolden(t, dir, got)
			}
			want := readGolden(t, dir)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rendered files differ from %s (-want +got; run go test ./generate -update to accept):\n%s", dir, diff)
			}
		})
	}
}

func skippedText(skipped []generate.Skipped) string {
	var b strings.Builder
	for _, s := range skipped {
		if s.Cluster != "" {
			b.WriteString(s.Cluster + ": ")
		}
		fmt.Fprintf(&b, "%s %s %s: %s\n", s.Service, s.Reason, s.Mirror, s.Message)
	}
	return b.String()
}

func writeGolden(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(dir, "want")); err != nil {
		t.Fatal(err)
	}
	for p, s := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readGolden(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "case.json" {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
