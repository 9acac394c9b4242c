package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderConfigExample renders examples/multi offline, and checks that
// flags override the file and that per-remote flags are refused.
func TestRenderConfigExample(t *testing.T) {
	const config = "../../examples/multi/config.yaml"
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := ssm(t, "", "render", "--config", config, "-o", out, "--mirror-ns", "elsewhere")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, f := range []string{"kustomization.yaml", "east/east-shop-73736d-payments.yaml", "global/gl-shop-73736d-cart.yaml",
		"global/east/gl-shop-73736d-cart.yaml", "global/west/gl-shop-73736d-cart.yaml", "global/local/gl-shop-73736d-cart.yaml"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if f != "kustomization.yaml" && !strings.Contains(string(b), "namespace: elsewhere\n") {
			t.Errorf("%s is not in the --mirror-ns namespace:\n%s", f, b)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "west")); !os.IsNotExist(err) {
		t.Errorf("west mirrors nothing but has a directory: %v", err)
	}
	code, _, stderr = ssm(t, "", "render", "--config", config, "--check", "-o", out, "--mirror-ns", "elsewhere")
	if code != exitOK {
		t.Errorf("--check right after rendering: exit %d\n%s", code, stderr)
	}
	code, _, stderr = ssm(t, "", "render", "--config", config, "--svc-prefix", "x")
	if code != exitError || !strings.Contains(stderr, "remoteClusters[].servicePrefix") {
		t.Errorf("--svc-prefix with --config: exit %d\n%s", code, stderr)
	}
	code, _, stderr = ssm(t, "", "render", "--global-svc-label-selector", "a=b", "--from-file", "x")
	if code != exitError || !strings.Contains(stderr, "give them in --config") {
		t.Errorf("--global-svc-label-selector without --config: exit %d\n%s", code, stderr)
	}
}
