package generate_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// loadClusterSet reads a clusterset case as ssm run watches it: each
// cluster's Services (its label selector, when given, narrowing them),
// endpoint objects and ServiceExports; the local cluster's namespaces,
// Services, ServiceImports and MCS EndpointSlices; and the stored tree.
func loadClusterSet(t *testing.T, c goldenCase) ([]generate.Cluster, *generate.Local, map[string][]byte) {
	t.Helper()
	var clusters []generate.Cluster
	for _, tc := range c.Clusters {
		st, err := source.LoadFile(filepath.Join(goldenRoot, tc.Snapshot), source.Selection{LabelSelector: tc.LabelSelector,
			EndpointsAPI: tc.RemoteEndpointsAPI, ServiceExports: c.MCS.ServiceExports}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		gs := stateOf(st)
		gs.ServiceExports = st.ServiceExports
		clusters = append(clusters, generate.Cluster{Name: tc.Name, Mirror: gs})
	}
	var local *generate.Local
	if c.LocalSnapshot != "" {
		st, err := source.LoadFile(filepath.Join(goldenRoot, c.LocalSnapshot), source.Selection{EndpointsAPI: kubeapi.NoEndpoints, Namespaces: true, Imports: true}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		local = &generate.Local{Services: st.Services, Namespaces: st.Namespaces, ServiceImports: st.ServiceImports, EndpointSlices: st.EndpointSlices}
	}
	return clusters, local, readTree(t, c.Stored)
}

// readTree reads the files under testdata/render/<dir>, by slash path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	if dir == "" {
		return files
	}
	root := filepath.Join(goldenRoot, dir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
