package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Reading examples/ for the TestExamples* tests: its kustomizations, what
// they build, and the objects of the files no kustomization uses.

// kustomization is a kustomization.yaml under examples/: a Kustomization or
// a Component.
type kustomization struct {
	dir       string   // relative to examples/
	Kind      string   `json:"kind"`
	Resources []string `json:"resources"`
	Patches   []struct {
		Path string `json:"path"`
	} `json:"patches"`
	ConfigMapGenerator []struct {
		Files []string `json:"files"` // file, or key=file
	} `json:"configMapGenerator"`
}

func kustomizations(t *testing.T) []kustomization {
	t.Helper()
	var ks []kustomization
	err := filepath.WalkDir(examplesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		var k kustomization
		if err := yaml.Unmarshal(readExampleFile(t, path), &k); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		dir, _ := filepath.Rel(examplesDir, filepath.Dir(path))
		k.dir = filepath.ToSlash(dir)
		ks = append(ks, k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// build runs kustomize as kubectl 1.32 ships it. A Component is built on top
// of its base from componentBases, as the kustomization including it would.
func (k kustomization) build(t *testing.T) []byte {
	t.Helper()
	dir := filepath.Join(examplesDir, k.dir)
	if k.Kind == "Component" {
		base, ok := componentBases[k.dir]
		if !ok {
			t.Fatalf("%s: a Component with no base to build it on: add one to componentBases", k.dir)
		}
		tmp := t.TempDir()
		if err := os.CopyFS(filepath.Join(tmp, "component"), os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "base.yaml"), readExampleFile(t, base), 0o644); err != nil {
			t.Fatal(err)
		}
		kust := "resources: [base.yaml]\ncomponents: [component]\n"
		if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
			t.Fatal(err)
		}
		dir = tmp
	}
	r := run(t, nil, "kubectl", "kustomize", dir)
	if r.code != 0 {
		t.Fatalf("kubectl kustomize %s: exit %d\n%s", k.dir, r.code, r.stderr)
	}
	return []byte(r.stdout)
}

// exampleObject is an object of examples/ and where it came from.
type exampleObject struct {
	src string
	*unstructured.Unstructured
}

// exampleObjects returns what every kustomization builds and the objects of
// every YAML file no kustomization uses.
func exampleObjects(t *testing.T) []exampleObject {
	t.Helper()
	var objs []exampleObject
	add := func(src string, data []byte) {
		for _, o := range splitObjects(t, src, data) {
			objs = append(objs, exampleObject{src: src, Unstructured: o})
		}
	}
	used := map[string]bool{}
	for _, k := range kustomizations(t) {
		add("kubectl kustomize examples/"+k.dir, k.build(t))
		used[filepath.Join(k.dir, "kustomization.yaml")] = true
		for _, p := range k.Patches {
			used[filepath.Join(k.dir, p.Path)] = true
		}
		for _, r := range k.Resources {
			used[filepath.Join(k.dir, r)] = true
		}
		for _, g := range k.ConfigMapGenerator {
			for _, f := range g.Files {
				used[filepath.Join(k.dir, f[strings.LastIndex(f, "=")+1:])] = true
			}
		}
	}
	err := filepath.WalkDir(examplesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(examplesDir, path)
		switch {
		case d.IsDir() && notManifests[rel]:
			return filepath.SkipDir
		case d.IsDir() || used[rel] || !isYAMLFile(rel):
			return nil
		}
		add("examples/"+filepath.ToSlash(rel), readExampleFile(t, path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func isYAMLFile(path string) bool {
	return strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")
}

// splitObjects parses a multi-document YAML stream; src names it in errors.
func splitObjects(t *testing.T, src string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		o := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &o.Object); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if len(o.Object) == 0 {
			continue // a document of comments only
		}
		objs = append(objs, o)
	}
}

func readExampleFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
