package main

import (
	"bytes"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const example = "../../examples/snapshot/remote.yaml"

// ssm runs the CLI in-process and returns its exit status and output.
func ssm(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"ssm"}, args...), strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

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
		{name: "missing required flags", args: []string{"render", "--from-file", example}, want: `Required flags "label-selector, svc-prefix, mirror-ns" not set`},
		{name: "invalid selector", args: append(base[:1:1], "--label-selector", "a=(b", "--svc-prefix", "p", "--mirror-ns", "m", "--from-file", example), want: `label selector "a=(b"`},
		{name: "prefix not a DNS label", args: append(base[:1:1], "--label-selector", "a", "--svc-prefix", "East", "--mirror-ns", "m", "--from-file", example), want: `service prefix "East"`},
		{name: "unknown endpoints API", args: append(base, "--endpoints-api", "slices", "--from-file", example), want: `endpoints API "slices"`},
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
	for _, want := range []string{"--- a/" + web, "-  - ip: 10.1.0.99", "+  - ip: 10.1.0.1", "+++ /dev/null", "-kind: Secret"} {
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
	code, stdout, stderr := ssm(t, "", "render", "--from-file", "-", "--label-selector", "mirror=true", "--mirror-ns", "flag-wins")
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
	code = run(t.Context(), []string{"ssm", "render", "--from-file", "-", "--label-selector", "mirror=true", "--mirror-ns", "flag-wins"},
		bytes.NewReader(snapshot), &out, &bytes.Buffer{})
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
		{name: "prefix in nodeport mode", args: []string{"--svc-prefix", "p"}, want: "nodeport mode keeps namespaces and names"},
		{name: "unknown mode", args: []string{"--mode", "mesh"}, want: `--mode "mesh"`},
		{name: "no local cluster", args: []string{"--kube-config", "/nonexistent/kubeconfig"}, want: "--manual-endpoints=false skips it"},
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
	// Without the local cluster, only the remote's Services are rendered.
	code, stdout, _ = ssm(t, "", "render", "--mode", "nodeport", "--from-file", remote, "--manual-endpoints=false")
	if code != exitOK || strings.Contains(stdout, "name: baz") {
		t.Errorf("--manual-endpoints=false: exit %d, manual Service rendered: %v", code, strings.Contains(stdout, "name: baz"))
	}
}
