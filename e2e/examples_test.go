package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The examples are checked by the tools that consume them: kustomize builds
// them, the real API server dry-runs them, Gatekeeper's gator runs the policy
// tests, and ssm's own --help vouches for every flag they pass.

const examplesDir = "../examples"

// crdGroups are the API groups of the custom resources in examples/. The test
// API server does not serve them, so their objects are only checked for
// shape; an object of any other group must pass the server's dry run.
var crdGroups = map[string]bool{
	"argoproj.io":                 true, // Argo CD
	"source.toolkit.fluxcd.io":    true, // Flux
	"kustomize.toolkit.fluxcd.io": true,
	"templates.gatekeeper.sh":     true, // Gatekeeper
	"constraints.gatekeeper.sh":   true,
	"test.gatekeeper.sh":          true, // gator suites
	"monitoring.coreos.com":       true, // Prometheus Operator
}

// componentBases names, for each kustomize Component under examples/, the
// objects it patches: a Component only builds on top of them.
var componentBases = map[string]string{
	"argocd/resource-exclusions": "testdata/argocd-cm-default.yaml",
}

// notManifests are the folders of examples/ whose YAML is not applied to a
// cluster.
var notManifests = map[string]bool{
	"ci":       true, // CI jobs: TestExamplesFlags checks their ssm commands
	"snapshot": true, // a remote cluster's state: input of `ssm render --from-file`
	"multi":    true, // a --config file and its clusters' snapshots: cmd/ssm's TestRenderConfigExample renders it
	"mcs":      true, // the same, of the MCS API: docs/mcs.md renders it
}

// TestExamplesKustomize builds every kustomization and component.
func TestExamplesKustomize(t *testing.T) {
	t.Parallel()
	ks := kustomizations(t)
	if len(ks) == 0 {
		t.Fatalf("no kustomization under %s", examplesDir)
	}
	for _, k := range ks {
		if out := k.build(t); len(bytes.TrimSpace(out)) == 0 {
			t.Errorf("%s builds nothing", k.dir)
		}
	}
}

// TestExamplesServerDryRun applies every object of examples/ as a GitOps agent
// would (server-side), dry-run, to a real API server: what each kustomization
// builds, and every file no kustomization uses. The restricted Pod Security
// Standard of the ssm namespace turns a weakened Deployment into a warning,
// which fails the test.
func TestExamplesServerDryRun(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	bySource := map[string][]*unstructured.Unstructured{}
	var sources []string
	namespaces := map[string]bool{}
	for _, o := range exampleObjects(t) {
		group, _, ok := strings.Cut(o.GetAPIVersion(), "/")
		if !ok {
			group = "" // the core group: "v1"
		}
		if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
			t.Errorf("%s: an object without apiVersion, kind or metadata.name: %v", o.src, o.Object)
			continue
		}
		if crdGroups[group] {
			continue // no CRD on the test server: its shape is all we check
		}
		if ns := o.GetNamespace(); ns != "" {
			namespaces[ns] = true
		}
		if bySource[o.src] == nil {
			sources = append(sources, o.src)
		}
		bySource[o.src] = append(bySource[o.src], o.Unstructured)
	}
	// Namespaced objects need their namespace to exist, even in a dry run:
	// the examples' own Namespaces are applied for real, first.
	for _, src := range sources {
		for _, o := range bySource[src] {
			if o.GetKind() == "Namespace" && o.GetAPIVersion() == "v1" {
				applyObjects(t, src, []*unstructured.Unstructured{o})
				delete(namespaces, o.GetName())
			}
		}
	}
	for ns := range namespaces {
		ensureNamespace(t, local.Client, ns)
	}
	for _, src := range sources {
		applyObjects(t, src, bySource[src], "--dry-run=server")
	}
	if len(sources) < 3 {
		t.Errorf("dry-ran objects from only %d sources: %v", len(sources), sources)
	}
}

func applyObjects(t *testing.T, src string, objs []*unstructured.Unstructured, args ...string) {
	t.Helper()
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	file := filepath.Join(t.TempDir(), "objects.yaml")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// One field manager per source: the same Namespace in two sources (one
	// per cluster, in truth) must not take the other's fields away.
	manager := "ssm-examples-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, src)
	args = append([]string{"--kubeconfig", local.KubeConfig, "apply", "--server-side", "--field-manager=" + manager, "-f", file}, args...)
	r := run(t, nil, "kubectl", args...)
	if r.code != 0 || strings.Contains(r.stderr, "Warning:") {
		t.Errorf("%s: kubectl %s: exit %d\n%s%s", src, strings.Join(args[2:], " "), r.code, r.stdout, r.stderr)
	}
}

// TestExamplesArgoCDExclusions requires the argocd-cm patch to keep every
// default exclusion of Argo CD but the one of Endpoints and EndpointSlices.
func TestExamplesArgoCDExclusions(t *testing.T) {
	t.Parallel()
	base := readExclusions(t, "testdata/argocd-cm-default.yaml", readExampleFile(t, "testdata/argocd-cm-default.yaml"))
	var want []exclusion
	for _, e := range base {
		if !e.excludes("Endpoints") && !e.excludes("EndpointSlice") {
			want = append(want, e)
		}
	}
	if len(want) == len(base) {
		t.Fatal("testdata/argocd-cm-default.yaml does not exclude Endpoints: not Argo CD 3's defaults")
	}
	k := kustomization{dir: "argocd/resource-exclusions", Kind: "Component"}
	got := readExclusions(t, k.dir, k.build(t))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resource.exclusions after the patch: Argo CD's defaults without Endpoints and EndpointSlice (-want +got):\n%s", diff)
	}
}

type exclusion struct {
	APIGroups []string `json:"apiGroups"`
	Kinds     []string `json:"kinds"`
	Clusters  []string `json:"clusters,omitempty"`
}

func (e exclusion) excludes(kind string) bool {
	return slices.Contains(e.Kinds, kind) || slices.Contains(e.Kinds, "*")
}

// readExclusions reads resource.exclusions of the argocd-cm ConfigMap in data.
func readExclusions(t *testing.T, src string, data []byte) []exclusion {
	t.Helper()
	for _, o := range splitObjects(t, src, data) {
		if o.GetKind() != "ConfigMap" || o.GetName() != "argocd-cm" {
			continue
		}
		if o.GetLabels()["app.kubernetes.io/part-of"] != "argocd" {
			t.Errorf("%s: argocd-cm lost its labels: %v", src, o.GetLabels())
		}
		value, _, _ := unstructured.NestedString(o.Object, "data", "resource.exclusions")
		var list []exclusion
		if err := yaml.UnmarshalStrict([]byte(value), &list); err != nil || len(list) == 0 {
			t.Fatalf("%s: resource.exclusions is not a list of exclusions (%v):\n%s", src, err, value)
		}
		return list
	}
	t.Fatalf("%s: no argocd-cm ConfigMap", src)
	return nil
}

// TestExamplesGatekeeper runs the Gatekeeper policy's test suites with
// Gatekeeper's own gator, then checks that they catch an off-by-one in the
// template.
func TestExamplesGatekeeper(t *testing.T) {
	t.Parallel()
	gator := gatorBin(t)
	dir, err := filepath.Abs(filepath.Join(examplesDir, "gatekeeper"))
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, gator, "verify", "--verbose", dir+"/...")
	if r.code != 0 || !strings.Contains(r.stdout, "suite.yaml") {
		t.Fatalf("gator verify %s/...: exit %d\n%s%s", dir, r.code, r.stdout, r.stderr)
	}

	broken := t.TempDir()
	if err := os.CopyFS(broken, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	template := filepath.Join(broken, "template.yaml")
	src := readExampleFile(t, template)
	mutant := bytes.Replace(src, []byte("max_length := 63"), []byte("max_length := 64"), 1)
	if bytes.Equal(src, mutant) {
		t.Fatal("template.yaml no longer sets max_length := 63: update this test")
	}
	if err := os.WriteFile(template, mutant, 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, gator, "verify", broken+"/...")
	if r.code == 0 || !strings.Contains(r.stdout, "64-characters-with-one-prefix") {
		t.Errorf("gator verify passed a template allowing 64 characters: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// gatorBin is SSM_GATOR, or gator next to kube-apiserver (make test builds
// both into .cache/bin).
func gatorBin(t *testing.T) string {
	t.Helper()
	path := os.Getenv("SSM_GATOR")
	if path == "" {
		path = filepath.Join(testbin, "gator")
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("SSM_E2E_REQUIRED") != "" {
			t.Fatalf("no gator (run hack/gator/build.sh): %v", err)
		}
		t.Skipf("no gator at %s: run `make test`, which builds it", path)
	}
	return path
}

// TestExamplesFlags requires every flag the examples pass to ssm, commented-out
// alternatives included, to be one ssm's --help lists.
func TestExamplesFlags(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	flags := map[string]map[string]bool{"run": helpFlags(t, "run"), "render": helpFlags(t, "render")}
	check := func(where, cmd string, args []string) {
		t.Helper()
		for _, a := range args {
			name, _, _ := strings.Cut(a, "=")
			if strings.HasPrefix(name, "-") && !flags[cmd][name] {
				t.Errorf("%s: ssm %s has no flag %s", where, cmd, name)
			}
		}
	}

	deployment := filepath.Join(examplesDir, "deploy", "deployment.yaml")
	var args []string
	for _, o := range splitObjects(t, deployment, readExampleFile(t, deployment)) {
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			a, _, _ := unstructured.NestedStringSlice(c.(map[string]any), "args")
			args = append(args, a...)
		}
	}
	for _, m := range commentedArg.FindAllSubmatch(readExampleFile(t, deployment), -1) {
		args = append(args, string(m[1]))
	}
	if len(args) < 10 || args[0] != "run" || !slices.Contains(args, "--git-url=ssh://git@git.example.com/platform/cluster-config.git") {
		t.Fatalf("%s: not the `ssm run` arguments this test expects: %q", deployment, args)
	}
	check(deployment, "run", args[1:])

	ci := filepath.Join(examplesDir, "ci")
	files, err := os.ReadDir(ci)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		file := filepath.Join(ci, f.Name())
		var doc any
		if err := yaml.Unmarshal(readExampleFile(t, file), &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		commands := renderCommands(doc)
		if len(commands) == 0 {
			t.Errorf("%s runs no `ssm render`", file)
		}
		for _, c := range commands {
			if !slices.Contains(c, "--check") {
				t.Errorf("%s: ssm render without --check: %q", file, c)
			}
			check(file, "render", c)
		}
	}
}

// commentedArg matches an argument offered as a commented-out alternative.
var commentedArg = regexp.MustCompile(`(?m)^\s*#\s*- (--[a-z0-9-]+\S*)`)

// helpOption matches an option line of urfave/cli's help: its names come
// before the first run of two spaces ("--output value, -o value  …").
var helpOption = regexp.MustCompile(`(?m)^\s+(-[^ ].*?)(?:\s{2,}|$)`)

func helpFlags(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	r := ssm(t, nil, cmd, "--help")
	if r.code != 0 {
		t.Fatalf("ssm %s --help: exit %d\n%s", cmd, r.code, r.stderr)
	}
	flags := map[string]bool{}
	for _, m := range helpOption.FindAllStringSubmatch(r.stdout, -1) {
		for name := range strings.SplitSeq(m[1], ", ") {
			flags[strings.Fields(name)[0]] = true
		}
	}
	if !flags["--label-selector"] || !flags["--log-level"] {
		t.Fatalf("ssm %s --help: no flags found; has its format changed?\n%s", cmd, r.stdout)
	}
	return flags
}

// renderCommands finds `ssm render …` in every string of a CI file, and
// returns the arguments of each.
func renderCommands(doc any) [][]string {
	var out [][]string
	switch v := doc.(type) {
	case map[string]any:
		for _, e := range v {
			out = append(out, renderCommands(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, renderCommands(e)...)
		}
	case string:
		for line := range strings.SplitSeq(strings.ReplaceAll(v, "\\\n", " "), "\n") {
			if _, rest, ok := strings.Cut(line, "ssm render "); ok {
				out = append(out, strings.Fields(rest))
			}
		}
	}
	return out
}
