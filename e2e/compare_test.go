package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// object is one rendered manifest, decoded.
type object map[string]any

func (o object) kind() string { return o["kind"].(string) }
func (o object) meta() map[string]any {
	return o["metadata"].(map[string]any)
}
func (o object) id() string {
	m := o.meta()
	return fmt.Sprintf("%s %s/%s", o.kind(), m["namespace"], m["name"])
}

// renderedObjects decodes every document of every YAML file under dir but
// the kustomizations.
func renderedObjects(t *testing.T, dir string) []object {
	t.Helper()
	var objs []object
	for f, b := range readTree(t, dir) {
		if !strings.HasSuffix(f, ".yaml") || filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for doc := range bytes.SplitSeq([]byte(b), []byte("---\n")) {
			var o object
			if err := yaml.Unmarshal(doc, &o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// subsetDiff lists where got does not contain want: every field of want must
// be in got with an equal value; lists must match element by element.
func subsetDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		var out []string
		for k, wv := range w {
			out = append(out, subsetDiff(path+"."+k, wv, g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d items %v, got %v", path, len(w), w, got)}
		}
		var out []string
		for i := range w {
			out = append(out, subsetDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(normalizeNumber(want), normalizeNumber(got)) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		return nil
	}
}

func normalizeNumber(v any) any {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	case int:
		return float64(n)
	}
	return v
}

// resourceOf maps a kind to the name kubectl gets it by.
func resourceOf(kind string) string {
	return map[string]string{"Service": "services", "Endpoints": "endpoints", "EndpointSlice": "endpointslices.discovery.k8s.io"}[kind]
}

// liveObjects returns the objects of the given kinds labelled sel in the
// local cluster's namespace ns, by id. The EndpointSlices that the local
// kube-controller-manager mirrors from applied Endpoints carry their labels
// but were applied by no one: they are left out.
func liveObjects(t *testing.T, s *apiServer, ns, sel string) map[string]object {
	t.Helper()
	sel += ",endpointslice.kubernetes.io/managed-by!=endpointslicemirroring-controller.k8s.io"
	out := kubectl(t, s, "get", "services,endpoints,endpointslices.discovery.k8s.io", "-n", ns, "-l", sel, "-o", "json")
	var list struct{ Items []object }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	objs := map[string]object{}
	for _, o := range list.Items {
		objs[o.id()] = o
	}
	return objs
}

// assertApplied checks that the local cluster holds exactly the rendered
// objects of dir (among those labelled sel in ns), each matching what was
// rendered.
func assertApplied(t *testing.T, s *apiServer, dir, ns, sel string) {
	t.Helper()
	live := liveObjects(t, s, ns, sel)
	var problems []string
	seen := map[string]bool{}
	for _, o := range renderedObjects(t, dir) {
		seen[o.id()] = true
		got, ok := live[o.id()]
		if !ok {
			problems = append(problems, o.id()+": not in the local cluster")
			continue
		}
		for _, field := range []string{"metadata", "spec", "subsets", "endpoints", "ports", "addressType"} {
			if w, ok := o[field]; ok {
				problems = append(problems, subsetDiff(o.id()+" ."+field, w, got[field])...)
			}
		}
	}
	for id := range live {
		if !seen[id] {
			problems = append(problems, id+": in the local cluster but not rendered (not pruned)")
		}
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		t.Fatalf("local cluster does not match %s:\n%s", dir, strings.Join(problems, "\n"))
	}
}

// assertSameTree fails unless the two directory trees hold identical files.
func assertSameTree(t *testing.T, a, b string) {
	t.Helper()
	ma, mb := readTree(t, a), readTree(t, b)
	if !reflect.DeepEqual(ma, mb) {
		var diffs []string
		for k := range ma {
			if ma[k] != mb[k] {
				diffs = append(diffs, k)
			}
		}
		for k := range mb {
			if _, ok := ma[k]; !ok {
				diffs = append(diffs, k)
			}
		}
		slices.Sort(diffs)
		t.Fatalf("%s and %s differ in %v", a, b, diffs)
	}
}

// revisionsFile is what `ssm run` records of the remote state its files
// were rendered from (mirror.RevisionsFile); render writes none, so the
// comparisons of run's output with render's leave it out.
const revisionsFile = ".ssm-revisions"

// readTree returns every file under dir by its path relative to dir, but
// revisionsFile.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == revisionsFile {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		m[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
