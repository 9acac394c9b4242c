package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// readerKubeConfig writes a kubeconfig of s as the reader user, who may do
// only what a test binds it to.
func readerKubeConfig(t *testing.T, s *apiServer) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "reader.kubeconfig")
	if err := os.WriteFile(p, []byte(kubeconfig(s.URL, s.CAFile, readerToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNodePortTakeover: a remote cluster names LoadBalancer and NodePort
// Services as local Services that ssm did not render, the ingress
// controller's and Argo CD's, to take them over: NodePort mode keeps remote
// names, and GitOps applies with pruning. ssm, reading the local cluster
// with exactly the read-only ClusterRole of examples/deploy, skips them;
// the render applied the way Flux applies (server-side, taking ownership
// of conflicting fields) and pruned leaves the local Services as they
// were, while the remote's other Service is mirrored. On main before the
// fix, the render held ingress-nginx/ingress-nginx-controller with Flux's
// force annotation, and the apply turned it into a selector-less ClusterIP
// Service pointing at the remote nodes.
func TestNodePortTakeover(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const parent = "ssm-takeover"
	installApplySet(t, parent)
	createNode(t, "tk-node-1", "10.82.0.1", corev1.ConditionTrue)
	sel := map[string]string{"mirror.e2e/takeover": "true"}
	lb := corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{tcp("https", 443)}}
	for _, s := range []service{
		{ns: "tk-ingress", name: "controller", labels: sel, spec: lb},
		{ns: "tk-argocd", name: "server", labels: sel, spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{tcp("https", 443)}}},
		{ns: "tk-shop", name: "web", labels: sel, spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{tcp("http", 80)}}},
		{ns: "tk-shop", name: "api", labels: sel, spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{tcp("http", 80)}}},
	} {
		s.apply(ctx, t, remote.Client)
	}
	// The local cluster's own Services of those names.
	own := map[[2]string]corev1.ServiceSpec{
		{"tk-ingress", "controller"}: {Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "ingress"},
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)}}},
		{"tk-argocd", "server"}: {Selector: map[string]string{"app": "argocd-server"},
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8080)}}},
	}
	before := map[[2]string]*corev1.Service{}
	for k, spec := range own {
		ensureNamespace(t, local.Client, k[0])
		svc, err := local.Client.CoreV1().Services(k[0]).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: k[1], Namespace: k[0]}, Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before[k] = svc
	}
	reader := grantLocalReader(t)

	out := filepath.Join(t.TempDir(), "np")
	render := func() result {
		t.Helper()
		r := ssm(t, nil, "render", "--mode", "nodeport", "--target-kube-config", remote.KubeConfig, "--kube-config", reader,
			"--label-selector", "mirror.e2e/takeover=true", "--manual-endpoints=false", "--max-removals", "100%", "-o", out)
		if r.code != 0 {
			t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
		}
		return r
	}
	r := render()
	for _, s := range []string{"tk-ingress/controller", "tk-argocd/server"} {
		if !strings.Contains(r.stderr, "service="+s+" mirror="+strings.Split(s, "/")[1]+" reason=LocalServiceExists") {
			t.Errorf("render does not say it skipped %s:\n%s", s, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "mirrors", "tk-ingress.controller.yaml")); err == nil {
		t.Error("rendered a mirror over the local ingress controller")
	}
	applyFluxLike(t, out, parent)
	if _, err := local.Client.CoreV1().Services("tk-shop").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("the remote's own Service is not mirrored: %v", err)
	}
	untouched(t, before)

	// The remote goes on: its Service leaves, the hostile ones stay. The
	// prune removes the mirror, and never the local Services.
	deleteService(t, remote.Client, "tk-shop", "web")
	render()
	applyFluxLike(t, out, parent)
	if _, err := local.Client.CoreV1().Services("tk-shop").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("mirror of the deleted Service: %v, want it pruned", err)
	}
	untouched(t, before)
	deleteService(t, remote.Client, "tk-shop", "api")
}

// installApplySet installs kubectl's cluster-scoped ApplySet parent of
// NodePort mode's mirrors (docs/nodeport.md).
func installApplySet(t *testing.T, parent string) {
	t.Helper()
	crd, parentObj := applySetParent(parent)
	for i, doc := range []string{crd, parentObj} {
		manifest := filepath.Join(t.TempDir(), "applyset.yaml")
		if err := os.WriteFile(manifest, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		kubectl(t, local, "apply", "--server-side", "-f", manifest)
		if i == 0 {
			kubectl(t, local, "wait", "--for=condition=Established", "--timeout=60s", "crd/applysets.ssm.dev")
		}
	}
}

// grantLocalReader binds the reader user of the local cluster to the
// ClusterRole examples/deploy/local-reader.yaml gives ssm there, and returns
// the reader's kubeconfig.
func grantLocalReader(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, "deploy", "local-reader.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role, _, _ := strings.Cut(string(b), "\n---\n")
	manifest := filepath.Join(t.TempDir(), "role.yaml")
	if err := os.WriteFile(manifest, []byte(role), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, local, "apply", "--server-side", "-f", manifest)
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ssm-local-reader-e2e"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "ssm-local-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: readerUser}},
	}
	if _, err := local.Client.RbacV1().ClusterRoleBindings().Create(t.Context(), binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return readerKubeConfig(t, local)
}

// applyFluxLike applies NodePort mode's output as Flux's
// kustomize-controller does: server-side, taking over the fields other
// managers own (its apply forces ownership), and pruning.
func applyFluxLike(t *testing.T, dir, parent string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "namespaces")); err == nil {
		kubectl(t, local, "apply", "--server-side", "--force-conflicts", "--field-manager=e2e-gitops", "-k", filepath.Join(dir, "namespaces"))
	}
	applySet(t, "--force-conflicts", "--applyset=applysets.ssm.dev/"+parent, "-k", filepath.Join(dir, "mirrors"))
}

// untouched fails unless every local Service is as it was: the same
// object, never written since.
func untouched(t *testing.T, before map[[2]string]*corev1.Service) {
	t.Helper()
	for k, want := range before {
		got, err := local.Client.CoreV1().Services(k[0]).Get(t.Context(), k[1], metav1.GetOptions{})
		switch {
		case err != nil:
			t.Errorf("local Service %s/%s: %v", k[0], k[1], err)
		case got.UID != want.UID || got.ResourceVersion != want.ResourceVersion:
			t.Errorf("local Service %s/%s was written: resourceVersion %s → %s, type %s, selector %v, annotations %v",
				k[0], k[1], want.ResourceVersion, got.ResourceVersion, got.Spec.Type, got.Spec.Selector, got.Annotations)
		}
	}
}

// TestEndpointsModeLocalNames: in endpoints mode ssm reads the local
// mirror namespace with exactly a Role on its Services (namespaced
// requests, by render's list and run's watches), and renders no mirror
// over a Service there that it did not render.
func TestEndpointsModeLocalNames(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const ns = "tk-mirrors"
	sel := map[string]string{"mirror.e2e/localnames": "true"}
	for _, name := range []string{"web", "api"} {
		service{ns: "tk-app", name: name, labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.83.0.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 80}}}}}.apply(ctx, t, remote.Client)
	}
	ensureNamespace(t, local.Client, ns)
	if _, err := local.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ln-tk-app-73736d-web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "mine"}, Ports: []corev1.ServicePort{tcp("http", 80)}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "ssm-local-reader", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := local.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ssm-local-reader", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: readerUser}}}
	if _, err := local.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	args := []string{"--target-kube-config", remote.KubeConfig, "--kube-config", readerKubeConfig(t, local),
		"--label-selector", "mirror.e2e/localnames=true", "--svc-prefix", "ln", "--mirror-ns", ns}
	r := ssm(t, nil, append([]string{"render"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "reason=LocalServiceExists") || strings.Contains(r.stdout, "name: ln-tk-app-73736d-web\n") ||
		!strings.Contains(r.stdout, "name: ln-tk-app-73736d-api\n") {
		t.Fatalf("render: exit %d, want the api mirror alone\n%s\n%s", r.code, r.stderr, r.stdout)
	}
	out := filepath.Join(t.TempDir(), "out")
	p := startRun(t, "run-localnames", append(args, "--output", out, "--debounce", "200ms", "--max-delay", "1s")...)
	eventually(t, 30*time.Second, "the first write", func() bool { return readFile(filepath.Join(out, "ln-tk-app-73736d-api.yaml")) != "" })
	if readFile(filepath.Join(out, "ln-tk-app-73736d-web.yaml")) != "" {
		t.Error("run rendered a mirror over the local Service")
	}
	// The local Service goes: the mirror takes its name.
	if err := local.Client.CoreV1().Services(ns).Delete(ctx, "ln-tk-app-73736d-web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the mirror once the name is free", func() bool {
		return readFile(filepath.Join(out, "ln-tk-app-73736d-web.yaml")) != ""
	})
	if logs := p.logs(); strings.Contains(logs, "forbidden") {
		t.Errorf("ssm run was refused a request by the Role on the mirror namespace:\n%s", logs)
	}
	p.terminate()
	for _, name := range []string{"web", "api"} {
		deleteService(t, remote.Client, "tk-app", name)
	}
}
