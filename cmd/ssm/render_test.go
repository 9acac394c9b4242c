package main

import (
	"bytes"
	"encoding/pem"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/gittest"
)

const example = "../../examples/snapshot/remote.yaml"

// ssm runs the CLI in-process and returns its exit status and output.
func ssm(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	// urfave/cli's help flag (and run's printers) are package globals that
	// every App writes as it runs: parallel tests take turns in the CLI.
	cliMu.Lock()
	defer cliMu.Unlock()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"ssm"}, args...), strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

var cliMu sync.Mutex

func exampleArgs(extra ...string) []string {
	return append([]string{"render", "--from-file", example, "--label-selector", "mirror=true", "--svc-prefix", "remote", "--mirror-ns", "mirrors"}, extra...)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRenderBadInput(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	ca := writeFile(t, "ca.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	unreachable := srv.URL
	srv.Close()
	token := writeFile(t, "token", "t")
	malformed := writeFile(t, "bad.yaml", "apiVersion: v1\nkind: Service\nmetadata: [\n")
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "precious.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"render", "--label-selector", "mirror=true", "--svc-prefix", "remote", "--mirror-ns", "mirrors"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "missing required flags", args: []string{"render", "--from-file", example}, want: "required flags not set: --label-selector, --svc-prefix, --mirror-ns"},
		{name: "invalid selector", args: append(base[:1:1], "--label-selector", "a=(b", "--svc-prefix", "p", "--mirror-ns", "m", "--from-file", example), want: `--label-selector "a=(b"`},
		{name: "prefix not a DNS label", args: append(base[:1:1], "--label-selector", "a", "--svc-prefix", "East", "--mirror-ns", "m", "--from-file", example), want: `--svc-prefix "East"`},
		{name: "unknown endpoints API", args: append(base, "--endpoints-api", "slices", "--from-file", example), want: `--endpoints-api "slices"`},
		{name: "unreadable file", args: append(base, "--from-file", "/nonexistent/snap.yaml"), want: "/nonexistent/snap.yaml"},
		{name: "malformed YAML", args: append(base, "--from-file", malformed), want: "bad.yaml: document 1"},
		{name: "check to stdout", args: append(base, "--from-file", example, "--check"), want: "--check compares against a directory"},
		{name: "snapshot and live remote", args: append(base, "--from-file", example, "--target-kube-config", "k"), want: "--from-file reads a snapshot"},
		{name: "API URL without CA", args: append(base, "--remote-api-url", unreachable, "--remote-sa-token-path", token), want: "needs a remote CA"},
		{name: "missing kubeconfig", args: append(base, "--target-kube-config", "/nonexistent/kubeconfig"), want: "/nonexistent/kubeconfig"},
		{name: "unreachable API", args: append(base, "--remote-api-url", unreachable, "--remote-ca-url", ca, "--remote-sa-token-path", token, "--timeout", "5s"),
			want: "read remote " + unreachable},
		{name: "bad log level", args: append(base, "--from-file", example, "--log-level", "loud"), want: `--log-level "loud"`},
		{name: "directory not written by ssm", args: append(base, "--from-file", example, "-o", foreign), want: "refusing to write " + foreign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := tt.args
			if !strings.Contains(strings.Join(args, " "), " -o ") && !strings.Contains(strings.Join(args, " "), "--check") {
				args = append(args, "-o", out)
			}
			code, _, stderr := ssm(t, "", args...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written despite the error: %v", err)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(foreign, "precious.txt")); err != nil || string(b) != "keep" {
		t.Errorf("a foreign directory was touched: %q, %v", b, err)
	}
}

func TestRenderAndCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mirrors")
	if code, _, stderr := ssm(t, "", exampleArgs("-o", dir)...); code != exitOK {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := ssm(t, "", exampleArgs("-o", dir, "--check")...)
	if code != exitOK || stdout != "" {
		t.Fatalf("check right after render: exit %d, stdout %q\n%s", code, stdout, stderr)
	}
	web := filepath.Join(dir, "remote-shop-73736d-web.yaml")
	b, err := os.ReadFile(web)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(web, bytes.Replace(b, []byte("10.1.0.1"), []byte("10.1.0.99"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stray.yaml"), []byte("kind: Secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = ssm(t, "", exampleArgs("-o", dir, "--check")...)
	if code != exitDrift {
		t.Fatalf("check after edits: exit %d, want %d", code, exitDrift)
	}
	for _, want := range []string{"--- a/remote-shop-73736d-web.yaml", "-  - 10.1.0.99", "+  - 10.1.0.1", "+++ /dev/null", "-kind: Secret"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, stdout)
		}
	}
	if b2, _ := os.ReadFile(web); bytes.Equal(b2, b) {
		t.Error("--check rewrote a file")
	}
}

func TestRenderStdoutAndEnv(t *testing.T) {
	t.Setenv("SSM_SVC_PREFIX", "fromenv")
	t.Setenv("SSM_MIRROR_NS", "ns-from-env")
	code, stdout, stderr := ssm(t, "", "render", "--from-file", "-", "--label-selector", "mirror=true", "--mirror-ns", "flag-wins", "--allow-empty")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout != "" {
		t.Fatalf("empty stdin rendered %q", stdout)
	}
	snapshot, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cliMu.Lock()
	code = run(t.Context(), []string{"ssm", "render", "--from-file", "-", "--label-selector", "mirror=true", "--mirror-ns", "flag-wins"},
		bytes.NewReader(snapshot), &out, &bytes.Buffer{})
	cliMu.Unlock()
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	s := out.String()
	if got := strings.Count(s, "kind: Service\n"); got != 5 {
		t.Errorf("%d Services in the stream, want 5", got)
	}
	if !strings.Contains(s, "name: fromenv-shop-73736d-web\n  namespace: flag-wins\n") {
		t.Errorf("environment or flag precedence not applied:\n%s", s)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := ssm(t, "", "version")
	if code != exitOK || !strings.HasPrefix(stdout, "ssm dev (commit unknown, go1.") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestRenderNodePortMode(t *testing.T) {
	remote, local := "../../testdata/render/nodeport-snapshot.yaml", "../../testdata/render/nodeport-local.yaml"
	code, stdout, stderr := ssm(t, "", "render", "--mode", "nodeport", "--from-file", remote, "--local-from-file", local)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"kind: Namespace", "name: bar\n  namespace: foo", "targetPort: 30080", "tfw.io/barrelman: managed-resource"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(stderr, "NamedTargetPort") || !strings.Contains(stderr, "kube-system") && strings.Contains(stdout, "namespace: kube-system") {
		t.Errorf("warnings or ignored namespaces wrong:\n%s", stderr)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "prefix in nodeport mode", args: []string{"--svc-prefix", "p"}, want: "--svc-prefix and --mirror-ns are for endpoints mode"},
		{name: "unknown mode", args: []string{"--mode", "mesh"}, want: `--mode "mesh"`},
		{name: "no local cluster", args: []string{"--kube-config", "/nonexistent/kubeconfig"}, want: "NodePort mode reads the local cluster"},
		{name: "not reading the local cluster", args: []string{"--read-local=false"}, want: "--read-local=false: NodePort mode renders remote Services under their own names"},
		{name: "adopting a namespace", args: []string{"--local-from-file", local, "--adopt-service", "foo"}, want: `--adopt-service "foo": want namespace/name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"render", "--mode", "nodeport", "--from-file", remote}, tt.args...)
			code, _, stderr := ssm(t, "", args...)
			if code != exitError || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, exitError, tt.want, stderr)
			}
		})
	}
	// Without manual endpoints, only the remote's Services are rendered.
	code, stdout, _ = ssm(t, "", "render", "--mode", "nodeport", "--from-file", remote, "--local-from-file", local, "--manual-endpoints=false")
	if code != exitOK || strings.Contains(stdout, "name: baz") {
		t.Errorf("--manual-endpoints=false: exit %d, manual Service rendered: %v", code, strings.Contains(stdout, "name: baz"))
	}
}

// TestRenderNodePortTakeover: a remote NodePort or LoadBalancer Service
// named as a local Service that ssm did not render (ingress-nginx's
// controller, the API server's own) is skipped, said so, and counted;
// Services are rendered with Flux's force annotation only where ssm
// created them. On main before the fix, the render held
// ingress-nginx/ingress-nginx-controller with the force annotation.
func TestRenderNodePortTakeover(t *testing.T) {
	remote, local := "../../testdata/render/owners-remote.yaml", "../../testdata/render/owners-local.yaml"
	out := filepath.Join(t.TempDir(), "np")
	code, _, stderr := ssm(t, "", "render", "--mode", "nodeport", "--from-file", remote, "--local-from-file", local, "-o", out,
		"--adopt-service", "argocd/argocd-server")
	if code != exitInvalid { // ../.. and kustomization cannot be named; the rest is written
		t.Fatalf("exit %d, want %d\n%s", code, exitInvalid, stderr)
	}
	for _, want := range []string{`service=ingress-nginx/ingress-nginx-controller mirror=ingress-nginx-controller reason=LocalServiceExists`,
		`service=default/kubernetes mirror=kubernetes reason=LocalServiceExists`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	files := readTree(t, out)
	for p := range files {
		if strings.Contains(p, "ingress-nginx") || strings.Contains(p, "kubernetes") {
			t.Errorf("rendered %s over a local Service ssm does not own", p)
		}
	}
	for p, force := range map[string]bool{"mirrors/argocd.argocd-server.yaml": false, "mirrors/shop.legacy.yaml": false,
		"mirrors/shop.web.yaml": true, "mirrors/fresh.api.yaml": true} {
		b, ok := files[p]
		if !ok {
			t.Errorf("%s not rendered", p)
		} else if got := strings.Contains(string(b), generate.AnnotationFluxForce); got != force {
			t.Errorf("%s: force annotation %v, want %v", p, got, force)
		}
	}
	ns := string(files["namespaces/namespaces.yaml"])
	if strings.Contains(ns, "name: argocd") || strings.Contains(ns, "name: ingress-nginx") || !strings.Contains(ns, "name: fresh") {
		t.Errorf("namespaces: want only those the local cluster lacks or ssm made:\n%s", ns)
	}
}

// TestRenderGuard: an input that would remove a cluster's mirrors, all or
// most of them, writes nothing and says what it would remove; routine
// deletions and an explicit limit go through.
func TestRenderGuard(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mirrors")
	if code, _, stderr := ssm(t, "", exampleArgs("-o", dir)...); code != exitOK {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	before := readTree(t, dir)
	if len(before) != 6 {
		t.Fatalf("%d files rendered, want 5 mirrors and a kustomization", len(before))
	}
	configMaps := writeFile(t, "other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x}\n")
	base := []string{"render", "--label-selector", "mirror=true", "--svc-prefix", "remote", "--mirror-ns", "mirrors", "-o", dir}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{name: "no Service at all", args: []string{"--from-file", configMaps}, code: exitError, want: []string{"other.yaml", "holds no Service at all", "--allow-empty"}},
		{name: "nothing on stdin", args: []string{"--from-file", "-"}, code: exitError, want: []string{"the snapshot on stdin", "holds no Service at all"}},
		{name: "allowed empty, every mirror gone", args: []string{"--from-file", configMaps, "--allow-empty"}, code: exitHeld,
			want: []string{"removals held, nothing written", "would remove 5 of its 5 mirrors (at most 2 at once)", "remote-shop-73736d-cart.yaml"}},
		{name: "a selector matching nothing", args: []string{"--from-file", example, "--label-selector", "mirror=nope"}, code: exitHeld,
			want: []string{"would remove 5 of its 5 mirrors"}},
		{name: "three of five", args: []string{"--from-file", without(t, "cart", "pg", "dns")}, code: exitHeld, want: []string{"would remove 3 of its 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := ssm(t, "", append(base, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if got := readTree(t, dir); !maps.EqualFunc(got, before, bytes.Equal) {
				t.Errorf("the directory changed on exit %d", code)
			}
		})
	}
	for _, step := range []struct {
		args  []string
		files int
	}{
		{args: []string{"--from-file", without(t, "cart")}, files: 5},                                     // one of five: routine
		{args: []string{"--from-file", without(t, "cart", "pg", "dns"), "--max-removals", "2"}, files: 3}, // two of four: a count
		{args: []string{"--from-file", configMaps, "--allow-empty", "--max-removals", "100%"}, files: 1},  // the guard off
	} {
		if code, _, stderr := ssm(t, "", append(base, step.args...)...); code != exitOK || len(readTree(t, dir)) != step.files {
			t.Errorf("%v: exit %d, %d files, want %d\n%s", step.args, code, len(readTree(t, dir)), step.files, stderr)
		}
	}
}

// without writes the example snapshot without the named Services.
func without(t *testing.T, names ...string) string {
	t.Helper()
	var list struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Items      []map[string]any `json:"items"`
	}
	if err := yaml.Unmarshal([]byte(readFileString(t, example)), &list); err != nil {
		t.Fatal(err)
	}
	list.Items = slices.DeleteFunc(list.Items, func(o map[string]any) bool {
		name, _ := o["metadata"].(map[string]any)["name"].(string)
		return slices.Contains(names, name)
	})
	b, err := yaml.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "without.yaml", string(b))
}

// readTree reads every file below dir, by slash path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readFileString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCheckDiffApplies: what --check prints is a diff git apply takes,
// run where the user ran ssm (a repository's root); applied, it makes the
// directory equal to the render.
func TestCheckDiffApplies(t *testing.T) {
	repo := t.TempDir()
	example, _ := filepath.Abs(example)
	t.Chdir(repo)
	gittest.Git(t, repo, "init", "-q")
	args := []string{"render", "--from-file", example, "--label-selector", "mirror=true", "--svc-prefix", "remote", "--mirror-ns", "mirrors", "-o", "clusters/mirrors"}
	if code, _, stderr := ssm(t, "", args...); code != exitOK {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	want := readTree(t, "clusters/mirrors")
	web := "clusters/mirrors/remote-shop-73736d-web.yaml"
	b, err := os.ReadFile(web)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte("10.1.0.1"), []byte("10.1.0.99"), 1)
	edited = append([]byte("# a hand edit at the top\n"), edited...)
	if err := os.WriteFile(web, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("clusters/mirrors/stray.yaml", []byte("kind: Secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove("clusters/mirrors/remote-db-73736d-pg.yaml"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := ssm(t, "", append(args, "--check")...)
	if code != exitDrift {
		t.Fatalf("--check: exit %d\n%s", code, stderr)
	}
	if strings.Count(stdout, "@@ ") < 3 || !strings.Contains(stdout, "--- a/clusters/mirrors/remote-shop-73736d-web.yaml") {
		t.Errorf("not a unified diff with hunks:\n%s", stdout)
	}
	patch := filepath.Join(t.TempDir(), "drift.patch")
	if err := os.WriteFile(patch, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, repo, "apply", "--check", patch)
	gittest.Git(t, repo, "apply", patch)
	if got := readTree(t, "clusters/mirrors"); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Error("the applied diff did not restore the render")
	}
}
