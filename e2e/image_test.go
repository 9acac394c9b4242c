package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// podman runs podman with a configuration of the test's own: runc as the
// runtime and no default ulimits, as this kernel's hybrid cgroups refuse
// crun and the defaults.
type podman struct{ conf string }

func newPodman(t *testing.T) podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("SSM_E2E_REQUIRED") != "" {
			t.Fatal("podman is required (Debian packages podman and runc; make test installs them: hack/deps.sh)")
		}
		t.Skip("no podman")
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return podman{conf}
}

func (p podman) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command("podman", args...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	return cmd
}

func (p podman) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.cmd(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestImage builds the image from the Dockerfile as `make image` does,
// with local stand-ins for its base images (hack/image/bases.sh), and runs
// it as uid 65532 with a read-only root file system: ssm version, ssm
// render of the example snapshot into a mounted directory, and ssm run
// against the test API server committing into a mounted bare repository.
func TestImage(t *testing.T) {
	requireEnv(t)
	p := newPodman(t)
	bases := exec.Command("../hack/image/bases.sh", "podman")
	bases.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	if out, err := bases.CombinedOutput(); err != nil {
		t.Fatalf("bases: %v\n%s", err, out)
	}
	const image = "localhost/ssm:e2e"
	start := time.Now()
	p.run(t, "build", "--pull=never", "--network=host", "--build-arg", "VERSION=e2e", "--build-arg", "COMMIT=test", "-t", image, "..")
	t.Logf("image built in %s", time.Since(start).Round(time.Second))
	t.Cleanup(func() { _ = p.cmd("rmi", "-f", image).Run() })
	run := func(extra []string, args ...string) string {
		t.Helper()
		base := []string{"run", "--rm", "--read-only", "--user", "65532:65532", "--network", "host"}
		return p.run(t, append(append(append(base, extra...), image), args...)...)
	}
	if out := run(nil, "version"); !strings.HasPrefix(out, "ssm e2e (commit test, go1.") {
		t.Errorf("version: %q", out)
	}

	out := t.TempDir()
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	examples, _ := filepath.Abs("../examples")
	run([]string{"-v", examples + ":/examples:ro", "-v", out + ":/out"}, "render", "--from-file", "/examples/snapshot/remote.yaml",
		"--label-selector", "mirror=true", "--svc-prefix", "remote", "--mirror-ns", "remote-mirrors", "-o", "/out/mirrors")
	want := filepath.Join(t.TempDir(), "want")
	if r := ssm(t, nil, "render", "--from-file", "../examples/snapshot/remote.yaml", "--label-selector", "mirror=true",
		"--svc-prefix", "remote", "--mirror-ns", "remote-mirrors", "-o", want); r.code != 0 {
		t.Fatalf("render: %s", r.stderr)
	}
	assertSameTree(t, want, filepath.Join(out, "mirrors"))

	imageRun(t, p, image)
}

// imageRun runs `ssm run` in the image against the remote test API server,
// into a bare repository it may write as uid 65532, and stops it with
// SIGTERM.
func imageRun(t *testing.T, p podman, image string) {
	sel := map[string]string{"mirror.e2e/image": "true"}
	service{ns: "imageshop", name: "web", labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
		subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.80.0.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}.apply(t.Context(), t, remote.Client)
	bare := bareRepo(t)
	if out, err := exec.Command("chown", "-R", "65532:65532", bare).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("ssm-e2e-%d", port)
	// The remote's credentials, readable by the container's user, as a
	// Secret mounted with fsGroup would be.
	conf := t.TempDir()
	ca, err := os.ReadFile(remote.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string][]byte{"ca.crt": ca, "kubeconfig": []byte(kubeconfig(remote.URL, "/config/ca.crt", adminToken))} {
		if err := os.WriteFile(filepath.Join(conf, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	p.run(t, "run", "-d", "--name", name, "--read-only", "--user", "65532:65532", "--network", "host",
		"-v", conf+":/config:ro", "-v", bare+":"+bare,
		image, "run", "--target-kube-config", "/config/kubeconfig", "--label-selector", "mirror.e2e/image=true", "--svc-prefix", "img",
		"--mirror-ns", "image-mirrors", "--git-url", bare, "--git-path", "clusters/local/image", "--debounce", "200ms",
		"--listen-address", fmt.Sprintf("127.0.0.1:%d", port), "--admin-address=")
	t.Cleanup(func() {
		out, _ := p.cmd("logs", name).CombinedOutput()
		recordOutput(t, "ssm in its image", out)
		if t.Failed() {
			t.Logf("container log:\n%s", out)
		}
		_ = p.cmd("rm", "-f", name).Run()
	})
	eventually(t, 60*time.Second, "the container's commit", func() bool {
		return strings.Contains(strings.Join(lsPath(t, bare, "clusters/local/image"), " "), "img-imageshop-73736d-web.yaml")
	})
	start := time.Now()
	p.run(t, "stop", "--time", "20", name)
	if state := strings.TrimSpace(p.run(t, "inspect", "--format", "{{.State.ExitCode}}", name)); state != "0" {
		t.Errorf("ssm run in the container exited %s on SIGTERM\n%s", state, p.run(t, "logs", name))
	}
	t.Logf("the container stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	git(t, bare, "fsck", "--strict")
}
