package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubectlFlip: with kubectl applying ssm's output, a remote Service
// turning headless and back converges with the command docs/flux.md gives
// for it, kubectl replace --force on the mirror's file: an apply alone
// fails one way and changes nothing the other way.
func TestKubectlFlip(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const app, mirrors = "kflip", "kflip-mirrors"
	ensureNamespace(t, local.Client, mirrors)
	sel := map[string]string{"mirror.e2e/kflip": "true"}
	ports := []corev1.ServicePort{tcp("http", 80)}
	subsets := []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.81.0.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}
	out := filepath.Join(t.TempDir(), "mirrors")
	file := filepath.Join(out, "kf-kflip-73736d-svc.yaml")
	render := func(spec corev1.ServiceSpec) {
		t.Helper()
		deleteServiceIfExists(t, app, "svc")
		service{ns: app, name: "svc", labels: sel, spec: spec, subsets: subsets}.apply(ctx, t, remote.Client)
		if r := ssm(t, nil, "render", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/kflip=true",
			"--svc-prefix", "kf", "--mirror-ns", mirrors, "-o", out); r.code != 0 {
			t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
		}
	}
	clusterIP := func() string {
		t.Helper()
		s, err := local.Client.CoreV1().Services(mirrors).Get(ctx, "kf-kflip-73736d-svc", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Spec.ClusterIP
	}

	render(corev1.ServiceSpec{Ports: ports})
	kubectl(t, local, "apply", "-k", out)
	if ip := clusterIP(); ip == "" || ip == corev1.ClusterIPNone {
		t.Fatalf("mirror clusterIP = %q, want an allocated one", ip)
	}

	render(corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: ports})
	if r := run(t, nil, "kubectl", "--kubeconfig", local.KubeConfig, "apply", "-k", out); r.code == 0 || !strings.Contains(r.stderr, "may not change once set") {
		t.Fatalf("kubectl apply of the headless mirror: exit %d, %s; want the immutable clusterIP refused", r.code, r.stderr)
	}
	kubectl(t, local, "replace", "--force", "-f", file)
	if ip := clusterIP(); ip != corev1.ClusterIPNone {
		t.Fatalf("mirror clusterIP after kubectl replace --force = %q, want None", ip)
	}

	render(corev1.ServiceSpec{Ports: ports})
	kubectl(t, local, "apply", "-k", out)
	if ip := clusterIP(); ip != corev1.ClusterIPNone {
		t.Errorf("mirror clusterIP after kubectl apply = %q; Kubernetes used to keep None here, update docs/flux.md", ip)
	}
	kubectl(t, local, "replace", "--force", "-f", file)
	if ip := clusterIP(); ip == "" || ip == corev1.ClusterIPNone {
		t.Errorf("mirror clusterIP after kubectl replace --force = %q, want an allocated one", ip)
	}
}

func deleteServiceIfExists(t *testing.T, ns, name string) {
	t.Helper()
	if _, err := remote.Client.CoreV1().Services(ns).Get(t.Context(), name, metav1.GetOptions{}); err == nil {
		deleteService(t, remote.Client, ns, name)
	}
}
