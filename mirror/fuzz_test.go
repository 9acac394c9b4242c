package mirror_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

const fuzzMirrorNS = "remote-mirrors"

// FuzzSnapshotRender reads arbitrary bytes as a snapshot file and renders
// whatever parses, as `ssm render --from-file` does. Every parsed state
// renders without error into files that read back as Kubernetes objects
// with valid names in the mirror namespace, listed exactly by their
// directory's kustomization.yaml; rendering is deterministic, whatever the
// order of the input, and does not modify it; a Tree of two clusters holds
// exactly what Manifests renders for each. What a remote controls is
// screened: no rendered address is one the address policy refuses (nor in
// fuzzDeny), no port, protocol, appProtocol, port name or hostname is one
// the API server would refuse, and no Endpoints object holds over 1,000
// addresses.
//
// api picks the remote endpoints API read (bit 0), the endpoints API
// rendered (bits 1-2), and whether the Tree's clusters also select their
// Services as global (bit 3); bit 4 renders NodePort mode instead
// (fuzzNodePort, which reads bits 5-7 too), and bit 5 without bit 4 the
// Multi-Cluster Services API (fuzzMCS, which reads bits 0-3 and 6-7 its
// own way).
func FuzzSnapshotRender(f *testing.F) {
	files, _ := filepath.Glob("../testdata/render/*.yaml")
	more, _ := filepath.Glob("../examples/multi/*.yaml")
	files = append(append(files, more...), "../examples/snapshot/remote.yaml")
	for i, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i))
		f.Add(b, uint8(i)^0b1011)
		f.Add(b, uint8(i)^0b0110)
		// The JSON form too (of the first document), which the decoder
		// reads without YAML's limits on characters.
		if j, err := yaml.YAMLToJSON(b); err == nil {
			f.Add(j, uint8(i)^0b0101)
		}
	}
	for _, seed := range hostileSeeds {
		for api := range uint8(16) {
			f.Add([]byte(seed), api)
		}
	}
	for _, seed := range append(nodePortSeeds, hostileSeeds...) {
		for _, api := range []uint8{16, 16 | 2, 16 | 4, 16 | 32, 16 | 64, 16 | 128, 16 | 64 | 128 | 2} {
			f.Add([]byte(seed), api)
		}
	}
	addMCSSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, api uint8) {
		switch {
		case api&16 != 0:
			fuzzNodePort(t, data, api)
			return
		case api&32 != 0:
			fuzzMCS(t, data, api)
			return
		}
		remoteAPI := []kubeapi.EndpointsAPI{kubeapi.Endpoints, kubeapi.EndpointSlices}[api&1]
		st, err := source.Parse(bytes.NewReader(data), source.Selection{EndpointsAPI: remoteAPI})
		if err != nil {
			return
		}
		state := generate.State{Services: st.Services, Endpoints: st.Endpoints, EndpointSlices: st.EndpointSlices}
		before := deepCopy(state)
		opts := generate.Options{ServicePrefix: "remote", MirrorNamespace: fuzzMirrorNS, EndpointsAPI: generate.EndpointsAPIs[int(api>>1&3)%3],
			DenyCIDRs: fuzzDeny}
		res, err := generate.Manifests(state, opts)
		if err != nil {
			t.Fatalf("Manifests refuses a parsed snapshot: %v", err)
		}
		checkRendered(t, res.Files, func(string) bool { return true })
		if got := slices.Sorted(maps.Keys(res.Files)); !slices.Equal(got, mirrorFiles(res)) {
			t.Fatalf("files %q, mirrors and kustomization %q", got, mirrorFiles(res))
		}
		if !reflect.DeepEqual(state, before) {
			t.Fatal("Manifests modified its input")
		}
		if again, err := generate.Manifests(state, opts); err != nil || !reflect.DeepEqual(again.Files, res.Files) {
			t.Fatalf("a second render differs (error %v)", err)
		}
		if rev, err := generate.Manifests(reversed(state), opts); err != nil || !reflect.DeepEqual(rev.Files, res.Files) {
			t.Fatalf("a render of the reversed input differs (error %v)", err)
		}
		checkTree(t, state, opts, api&8 != 0)
	})
}

// checkTree renders state as two clusters and compares each cluster's
// directory with what Manifests renders for it alone.
func checkTree(t *testing.T, state generate.State, opts generate.Options, global bool) {
	t.Helper()
	var clusters []generate.Cluster
	for _, name := range []string{"a", "b"} {
		o := opts
		o.ServicePrefix = name
		c := generate.Cluster{Name: name, Options: o, Mirror: state}
		if global {
			c.Global = state
		}
		clusters = append(clusters, c)
	}
	tree, err := generate.Tree(clusters, generate.GlobalOptions{MirrorNamespace: fuzzMirrorNS}, nil)
	if err != nil {
		t.Fatalf("Tree: %v", err)
	}
	// The clusters' own files are compared with Manifests' below; only
	// the global Services' are read here.
	checkRendered(t, tree.Files, func(p string) bool { return strings.HasPrefix(p, generate.GlobalDir+"/") })
	for _, c := range clusters {
		c.Options.Cluster = c.Name
		alone, err := generate.Manifests(c.Mirror, c.Options)
		if err != nil {
			t.Fatalf("Manifests for %s: %v", c.Name, err)
		}
		for p, b := range alone.Files {
			if path.Base(p) != generate.KustomizationFile && !bytes.Equal(tree.Files[path.Join(c.Name, p)], b) {
				t.Fatalf("the tree's %s/%s differs from what Manifests renders for %s", c.Name, p, c.Name)
			}
		}
		for p := range tree.Files {
			rel, ok := strings.CutPrefix(p, c.Name+"/")
			if _, alsoAlone := alone.Files[rel]; ok && path.Base(p) != generate.KustomizationFile && !alsoAlone {
				t.Fatalf("the tree holds %s, which Manifests does not render for %s", p, c.Name)
			}
		}
	}
	for p := range tree.Files {
		if top, _, _ := strings.Cut(p, "/"); !global && top == generate.GlobalDir {
			t.Fatalf("the tree holds %s without global Services", p)
		}
	}
}

// checkRendered checks a rendered file set: the manifests that read says
// to read read back as the objects ssm renders, and every directory has a
// kustomization.yaml listing exactly its files and subdirectories.
func checkRendered(t *testing.T, files map[string][]byte, read func(path string) bool) {
	t.Helper()
	dirs := map[string][]string{".": nil}
	for p := range files {
		if path.Base(p) == generate.KustomizationFile {
			continue
		}
		dir := path.Dir(p)
		dirs[dir] = append(dirs[dir], path.Base(p))
		for d := dir; d != "."; d = path.Dir(d) {
			parent := path.Dir(d)
			if !slices.Contains(dirs[parent], path.Base(d)) {
				dirs[parent] = append(dirs[parent], path.Base(d))
			}
		}
		if read(p) {
			checkManifest(t, p, files[p])
		}
	}
	for dir, entries := range dirs {
		k := path.Join(dir, generate.KustomizationFile)
		b, ok := files[k]
		if !ok {
			t.Fatalf("%s: missing", k)
		}
		var kust struct {
			APIVersion string   `json:"apiVersion"`
			Kind       string   `json:"kind"`
			Resources  []string `json:"resources"`
		}
		if !bytes.HasPrefix(b, []byte(generate.Header)) {
			t.Fatalf("%s does not start with the ownership header:\n%s", k, b)
		}
		if err := yaml.UnmarshalStrict(b, &kust); err != nil {
			t.Fatalf("%s: %v\n%s", k, err, b)
		}
		if kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || kust.Kind != "Kustomization" {
			t.Fatalf("%s: %s %s", k, kust.APIVersion, kust.Kind)
		}
		slices.Sort(entries)
		if got := slices.Sorted(slices.Values(kust.Resources)); !slices.Equal(got, entries) {
			t.Fatalf("%s lists %q, the directory holds %q", k, kust.Resources, entries)
		}
	}
	for p := range files {
		if _, ok := dirs[path.Dir(p)]; !ok {
			t.Fatalf("%s: a kustomization without anything to list", p)
		}
	}
}

// checkManifest reads each document of the file at p as the kind it says,
// strictly, and checks names and namespace: a Service and its Endpoints
// are named as the file, a valid Service name (a DNS-1035 label, at most
// 63 characters); an EndpointSlice's name is a DNS-1123 subdomain (what
// the API server requires of it) and its service-name label a Service name.
func checkManifest(t *testing.T, p string, b []byte) {
	t.Helper()
	if !strings.HasSuffix(p, ".yaml") {
		t.Fatalf("%s: not a .yaml file", p)
	}
	stem := strings.TrimSuffix(path.Base(p), ".yaml")
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for n := 0; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				t.Fatalf("%s: no document", p)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("%s, document %d: %v\n%s", p, n+1, err, doc)
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(j, &head); err != nil {
			t.Fatalf("%s, document %d: %v\n%s", p, n+1, err, doc)
		}
		var name, ns string
		switch head.Kind {
		case "Service":
			var o corev1.Service
			strict(t, p, j, &o)
			name, ns = o.Name, o.Namespace
			if errs := validation.IsDNS1035Label(name); len(errs) > 0 || name != stem {
				t.Fatalf("%s: Service %q in file %s: %v", p, name, stem, errs)
			}
			checkServicePorts(t, p, o.Spec.Ports)
		case "Endpoints":
			var o corev1.Endpoints
			strict(t, p, j, &o)
			name, ns = o.Name, o.Namespace
			if name != stem {
				t.Fatalf("%s: Endpoints %q in file %s", p, name, stem)
			}
			checkEndpoints(t, p, &o)
		case "EndpointSlice":
			var o discoveryv1.EndpointSlice
			strict(t, p, j, &o)
			name, ns = o.Name, o.Namespace
			svc := o.Labels[discoveryv1.LabelServiceName]
			if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
				t.Fatalf("%s: EndpointSlice name %q: %v", p, name, errs)
			}
			if errs := validation.IsDNS1035Label(svc); len(errs) > 0 || svc != stem {
				t.Fatalf("%s: EndpointSlice %q of Service %q in file %s: %v", p, name, svc, stem, errs)
			}
			checkSlice(t, p, &o)
		default:
			t.Fatalf("%s, document %d: kind %q\n%s", p, n+1, head.Kind, doc)
		}
		if ns != fuzzMirrorNS {
			t.Fatalf("%s: %s %q in namespace %q", p, head.Kind, name, ns)
		}
	}
}

// strict decodes the JSON form of a document into obj, refusing fields
// obj does not have.
func strict(t *testing.T, p string, j []byte, obj any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		t.Fatalf("%s: %v\n%s", p, err, j)
	}
}

// mirrorFiles lists, sorted, the files a flat Result says it rendered.
func mirrorFiles(res generate.Result) []string {
	out := []string{generate.KustomizationFile}
	for _, m := range res.Mirrors {
		out = append(out, m.File)
	}
	slices.Sort(out)
	return out
}

func reversed(st generate.State) generate.State {
	out := generate.State{Services: slices.Clone(st.Services), Endpoints: slices.Clone(st.Endpoints), EndpointSlices: slices.Clone(st.EndpointSlices)}
	slices.Reverse(out.Services)
	slices.Reverse(out.Endpoints)
	slices.Reverse(out.EndpointSlices)
	return out
}

func deepCopy(st generate.State) generate.State {
	var out generate.State
	for _, s := range st.Services {
		out.Services = append(out.Services, s.DeepCopy())
	}
	for _, e := range st.Endpoints {
		out.Endpoints = append(out.Endpoints, e.DeepCopy())
	}
	for _, s := range st.EndpointSlices {
		out.EndpointSlices = append(out.EndpointSlices, s.DeepCopy())
	}
	return out
}
