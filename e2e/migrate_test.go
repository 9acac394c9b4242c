package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMigrateSemaphoreServiceMirror: a local API server holds what
// semaphore-service-mirror v0.4 wrote (created here with its names and
// labels); `ssm migrate semaphore-service-mirror` with the same
// configuration file lists what ssm does not render, each with why, and
// nothing it renders; the script it prints, run with kubectl, deletes
// exactly those; run again, it lists nothing. With endpointsAPI:
// endpointslices, the Endpoints of a mirror ssm renders go too.
func TestMigrateSemaphoreServiceMirror(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const ns = "mig-mirrors"
	service{ns: "mig", name: "web", labels: map[string]string{"mirror.e2e/mig": "true"}, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
		subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.80.0.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}.
		apply(ctx, t, remote.Client)
	service{ns: "mig", name: "cart", labels: map[string]string{"mirror.e2e/mig-global": "true"}, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
		subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.80.0.2")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}.
		apply(ctx, t, remote.Client)

	// What v0.4 wrote: a mirror and global Service ssm renders too, and
	// leftovers of every kind; and what is not v0.4's.
	kubectl(t, local, "create", "namespace", ns)
	mirror := map[string]string{"mirrored-svc": "true", "mirror-svc-prefix-sync": "mig"}
	svcs := []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "mig-mig-73736d-web", Labels: mirror}},
		{ObjectMeta: metav1.ObjectMeta{Name: "mig-mig-73736d-gone", Labels: mirror}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gl-mig-73736d-cart", Labels: map[string]string{"global-svc": "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gl-mig-73736d-old", Labels: map[string]string{"global-svc": "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses"}},
	}
	for _, s := range svcs {
		s.Spec.Ports = []corev1.ServicePort{tcp("http", 80)}
		if _, err := local.Client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"mig-mig-73736d-web", "mig-mig-73736d-gone"} {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: mirror},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.80.0.9")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
		if _, err := local.Client.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "gl-cart-x7k2p", Labels: map[string]string{"mirrored-endpoint-slice": "true",
		"mirror-endpointslice-sync-name": "mig", discoveryv1.LabelServiceName: "gl-mig-73736d-cart", discoveryv1.LabelManagedBy: "semaphore-service-mirror"}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.80.0.9"}}}}
	if _, err := local.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	conf := filepath.Join(dir, "config.yaml")
	write := func(extra string) {
		if err := os.WriteFile(conf, []byte(`global:
  mirrorSvcLabelSelector: mirror.e2e/mig=true
  globalSvcLabelSelector: mirror.e2e/mig-global=true
  globalSvcRoutingStrategyLabel: mirror.e2e/mig-routing=local-first
  mirrorNamespace: `+ns+`
  serviceSync: true
localCluster:
  name: local
  kubeConfigPath: `+local.KubeConfig+`
remoteClusters:
- name: mig
  servicePrefix: mig
  kubeConfigPath: `+remote.KubeConfig+extra+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	r := ssm(t, nil, "migrate", "semaphore-service-mirror", "--config", conf)
	if r.code != 0 {
		t.Fatalf("migrate: exit %d\n%s", r.code, r.stderr)
	}
	want := []string{
		"services mig-mig-73736d-gone", "endpoints mig-mig-73736d-gone", "services gl-mig-73736d-old", "endpointslices gl-cart-x7k2p",
	}
	if got := deleted(r.stdout); !slices.Equal(got, want) {
		t.Errorf("the script deletes %q, want %q:\n%s", got, want, r.stdout)
	}
	for _, why := range []string{"# a mirror Service ssm does not render: its remote Service is gone", "named after the remote slice it copied"} {
		if !strings.Contains(r.stdout, why) {
			t.Errorf("the script does not say %q:\n%s", why, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "ssm migrate semaphore-service-mirror lists") || !strings.Contains(r.stderr, "leftovers=4") {
		t.Errorf("log:\n%s", r.stderr)
	}

	// With slices, the Endpoints of the mirror ssm renders go too; as a List.
	write("\n  endpointsAPI: endpointslices")
	r = ssm(t, nil, "migrate", "semaphore-service-mirror", "--config", conf, "-o", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "ssm.dev/migrate-reason: 'the Endpoints of a mirror ssm renders with EndpointSlices") ||
		strings.Count(r.stdout, "- apiVersion:") != 5 || strings.Count(r.stdout, "name: mig-mig-73736d-web\n") != 1 {
		t.Fatalf("migrate -o list with endpointsAPI: endpointslices: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	list := filepath.Join(dir, "list.yaml")
	if err := os.WriteFile(list, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, local, "delete", "--dry-run=server", "-f", list) // what kubectl takes

	write("")
	script := filepath.Join(dir, "cleanup.sh")
	r = ssm(t, nil, "migrate", "semaphore-service-mirror", "--config", conf)
	if err := os.WriteFile(script, []byte(r.stdout), 0o700); err != nil {
		t.Fatal(err)
	}
	if out := run(t, []string{"KUBECONFIG=" + local.KubeConfig}, "sh", script); out.code != 0 {
		t.Fatalf("sh cleanup.sh: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	left := kubectl(t, local, "get", "services,endpoints", "-n", ns, "-o", "name")
	for _, gone := range []string{"service/mig-mig-73736d-gone", "endpoints/mig-mig-73736d-gone", "service/gl-mig-73736d-old"} {
		if strings.Contains(left, gone+"\n") {
			t.Errorf("%s is still there:\n%s", gone, left)
		}
	}
	for _, kept := range []string{"service/mig-mig-73736d-web", "endpoints/mig-mig-73736d-web", "service/gl-mig-73736d-cart", "service/someone-elses"} {
		if !strings.Contains(left, kept+"\n") {
			t.Errorf("%s was deleted:\n%s", kept, left)
		}
	}
	if s := kubectl(t, local, "get", "endpointslices", "-n", ns, "gl-cart-x7k2p", "--ignore-not-found", "-o", "name"); s != "" {
		t.Errorf("the global slice is still there: %s", s)
	}
	r = ssm(t, nil, "migrate", "semaphore-service-mirror", "--config", conf)
	if r.code != 0 || len(deleted(r.stdout)) != 0 || !strings.Contains(r.stdout, "0 object(s)") {
		t.Errorf("migrate after the cleanup: exit %d, deletes %q", r.code, deleted(r.stdout))
	}
}

// deleted lists "resource name" of each kubectl delete of a script.
func deleted(script string) []string {
	var out []string
	for _, l := range strings.Split(script, "\n") {
		if f := strings.Fields(l); len(f) == 7 && f[0] == "kubectl" && f[1] == "delete" {
			out = append(out, f[5]+" "+f[6])
		}
	}
	return out
}
