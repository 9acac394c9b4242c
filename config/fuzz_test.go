package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
)

// FuzzConfig reads arbitrary bytes as a configuration file. Parse never
// panics; what it refuses is refused with an error that names where the
// problem is. What it accepts is resolved (Resolve, on a file, with several
// combinations of overrides), and every configuration Resolve accepts must
// be one that renders: cluster names that generate.ClusterName allows,
// distinct once slugged, valid and distinct Service prefixes, options and
// selections that validate, and generate.Tree accepting the clusters.
func FuzzConfig(f *testing.F) {
	for _, p := range []string{"../testdata/config/semaphore-doc.json", "../testdata/config/semaphore-v0.4.json", "../examples/multi/config.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"remoteClusters": [{"name": "a", "kubeConfigPath": "k", "mode": "nodeport"}]}`,
		`{"global": {"mirrorNamespace": "m", "labelSelector": "x=y"}, "remoteClusters": [{"name": "a_B", "kubeConfigPath": "k", "servicePrefix": "Cluster-A"}, {"name": "a-b", "kubeConfigPath": "k", "servicePrefix": "b"}]}`,
		"global: {mirrorNamespace: m, globalSvcLabelSelector: g=true}\nlocalCluster: {kubeConfigPath: k, zones: [a, b]}\nremoteClusters:\n- {name: bm, mode: nodeport, fromFile: bm.yaml, manualEndpoints: true}\n- {name: e, servicePrefix: e, fromFile: e.yaml, labelSelector: 'a in (b, c)', endpointsAPI: both}\n",
		"remoteClusters:\n- name: x\n  remoteAPIURL: https://x\n  remoteCAURL: ca\n  remoteSATokenPath: t\n  servicePrefix: x\n  resyncPeriod: 100\n  timeout: 1m\n",
		"global: [", "~", "remoteClusters: [{name: global, servicePrefix: gl, kubeConfigPath: k}]",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			checkErrorNamesPath(t, data, err)
			return
		}
		checkKnownKeys(t, data)
		if len(file.RemoteClusters) == 0 {
			t.Fatalf("accepted a file without remote clusters: %q", data)
		}
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, ov := range fuzzOverrides {
			cfg, err := Resolve(path, ov)
			if err != nil {
				msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "config "+path), " (with flags applied)")
				if !namesPath.MatchString(msg) {
					t.Fatalf("Resolve error names no key or flag: %v\nfile: %q", err, data)
				}
				continue
			}
			checkRenders(t, cfg, data)
		}
	})
}

var fuzzOverrides = func() []Overrides {
	s := func(v string) *string { return &v }
	yes := true
	return []Overrides{
		{},
		{MirrorNamespace: s("mirrors"), LabelSelector: s("mirror=true")},
		{GlobalSvcLabelSelector: s("global=true"), LocalKubeConfig: s("local.kubeconfig"), EndpointsAPI: s("both"), MirrorNamespace: s("m")},
		{InCluster: true, ManualEndpoints: &yes, RemoteEndpointsAPI: s("endpointslices"), LabelSelector: s("a")},
	}
}()

// namesPath matches an error that says where the problem is: a key of the
// file by its path, or a flag.
var namesPath = regexp.MustCompile(`remoteClusters|global|localCluster|--[a-z]`)

// checkErrorNamesPath: a file that is not YAML may be refused with the
// parser's error; a well-formed one is refused by naming the key at fault,
// as the package promises ("Errors name the key"): the error starts with a
// path whose first key is one of the file's or one the file lacks.
func checkErrorNamesPath(t *testing.T, data []byte, err error) {
	t.Helper()
	msg := err.Error()
	if msg == "" {
		t.Fatalf("empty error for:\n%q", data)
	}
	j, yerr := yaml.YAMLToJSON(data)
	if yerr != nil {
		if !strings.Contains(msg, "yaml") && !strings.Contains(msg, "json") {
			t.Fatalf("syntax error names neither yaml nor json: %q\nfile: %q", msg, data)
		}
		return
	}
	keys := []string{"global", "localCluster", "remoteClusters", `""`, "the file"}
	var top map[string]any
	if json.Unmarshal(j, &top) == nil {
		keys = slices.AppendSeq(keys, maps.Keys(top))
	}
	for _, k := range keys {
		if rest, ok := strings.CutPrefix(msg, k); ok && k != "" && rest != "" && strings.ContainsRune(":.[", rune(rest[0])) {
			return
		}
	}
	t.Fatalf("error does not start with the path of a key: %q\nfile: %q", msg, data)
}

// checkKnownKeys fails unless every key of the accepted file is one the
// file's types have: unknown keys are refused, not ignored.
func checkKnownKeys(t *testing.T, data []byte) {
	t.Helper()
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("accepted a file that is not YAML: %v\n%q", err, data)
	}
	var doc any
	if err := json.Unmarshal(j, &doc); err != nil {
		t.Fatal(err)
	}
	if path, ok := unknownKey(doc, reflect.TypeFor[File](), ""); ok {
		t.Fatalf("accepted the unknown key %q\nfile: %q", path, data)
	}
}

// unknownKey finds a key of v that the JSON form of t has no field for.
func unknownKey(v any, t reflect.Type, path string) (string, bool) {
	switch x := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[Duration]() {
			return "", false
		}
		for k, e := range x {
			f, ok := jsonField(t, k)
			if !ok {
				return strings.TrimPrefix(path+"."+k, "."), true
			}
			if p, bad := unknownKey(e, f, path+"."+k); bad {
				return p, true
			}
		}
	case []any:
		if t.Kind() != reflect.Slice {
			return "", false
		}
		for i, e := range x {
			if p, bad := unknownKey(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); bad {
				return p, true
			}
		}
	}
	return "", false
}

// jsonField is the type of the exported field that encoding/json fills
// from key, compared exactly as the file's keys are.
func jsonField(t reflect.Type, key string) (reflect.Type, bool) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && name != "-" && name != "" && name == key {
			return f.Type, true
		}
	}
	return nil, false
}

// checkRenders fails unless cfg, accepted by Resolve, is one generate can
// render.
func checkRenders(t *testing.T, cfg Config, data []byte) {
	t.Helper()
	slugs, prefixes := map[string]string{}, map[string]string{}
	var clusters []generate.Cluster
	for _, c := range cfg.Clusters {
		if !generate.ClusterName.MatchString(c.Name) {
			t.Fatalf("cluster name %q is not a generate.ClusterName\nfile: %q", c.Name, data)
		}
		if other, dup := slugs[generate.ClusterSlug(c.Name)]; dup {
			t.Fatalf("clusters %q and %q share the slug %q\nfile: %q", other, c.Name, generate.ClusterSlug(c.Name), data)
		}
		slugs[generate.ClusterSlug(c.Name)] = c.Name
		for _, r := range c.Reads {
			if err := r.Selection.Validate(); err != nil {
				t.Fatalf("cluster %s, %s read: %v\nfile: %q", c.Name, r.Role, err, data)
			}
		}
		clusters = append(clusters, generate.Cluster{Name: c.Name, Local: c.Local, Options: c.Options})
		if c.Local {
			continue
		}
		if err := c.Options.Validate(); err != nil {
			t.Fatalf("cluster %s: options: %v\nfile: %q", c.Name, err, data)
		}
		if p := c.Options.ServicePrefix; c.Options.Mode != generate.ModeNodePort {
			if errs := validation.IsDNS1035Label(p); len(errs) > 0 || p == generate.GlobalPrefix {
				t.Fatalf("cluster %s: service prefix %q: %v\nfile: %q", c.Name, p, errs, data)
			}
			if other, dup := prefixes[p]; dup {
				t.Fatalf("clusters %q and %q share the service prefix %q\nfile: %q", other, c.Name, p, data)
			}
			prefixes[p] = c.Name
		}
	}
	// Empty remote states: what fails now fails whatever the clusters hold.
	if _, err := generate.Tree(clusters, cfg.Global, nil); err != nil {
		t.Fatalf("generate.Tree refuses the resolved clusters: %v\nfile: %q", err, data)
	}
}
