package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// applySetParent is a cluster-scoped ApplySet parent for kubectl: the
// CustomResourceDefinition marked as a parent type and one parent object,
// with the ID label kubectl computes. NodePort mode's mirrors span
// namespaces, which a namespaced (Secret) parent cannot hold.
func applySetParent(name string) (crd, parent string) {
	sum := sha256.Sum256([]byte(name + "..ApplySet.ssm.dev"))
	id := "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
	crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applysets.ssm.dev
  labels:
    applyset.kubernetes.io/is-parent-type: "true"
spec:
  group: ssm.dev
  names: {kind: ApplySet, plural: applysets, singular: applyset}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`
	parent = fmt.Sprintf(`apiVersion: ssm.dev/v1
kind: ApplySet
metadata:
  name: %s
  labels:
    applyset.kubernetes.io/id: %s
  annotations:
    applyset.kubernetes.io/tooling: kubectl/v1.32.4
    applyset.kubernetes.io/contains-group-kinds: ""
`, name, id)
	return crd, parent
}

// applyNodePort applies NodePort mode's output as README documents it for
// kubectl: the Namespaces without pruning (barrelman never deletes one),
// then the mirrors with pruning across namespaces.
func applyNodePort(t *testing.T, dir, parent string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "namespaces")); err == nil { // none left: nothing to add, and none is ever deleted
		kubectl(t, local, "apply", "--server-side", "--field-manager=e2e-gitops", "-k", filepath.Join(dir, "namespaces"))
	}
	applySet(t, "--applyset=applysets.ssm.dev/"+parent, "-k", filepath.Join(dir, "mirrors"))
}

// endpointsOf returns "ip:port/protocol" of the local Endpoints ns/name,
// sorted, or nil when there are none.
func endpointsOf(t *testing.T, ns, name string) []string {
	t.Helper()
	ep, err := local.Client.CoreV1().Endpoints(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			for _, p := range ss.Ports {
				out = append(out, fmt.Sprintf("%s:%d/%s", a.IP, p.Port, p.Protocol))
			}
		}
	}
	slices.Sort(out)
	return out
}

func expand(ips []string, ports ...string) []string {
	var out []string
	for _, ip := range ips {
		for _, p := range ports {
			out = append(out, ip+":"+p)
		}
	}
	slices.Sort(out)
	return out
}

func setNodeReady(t *testing.T, name string, status corev1.ConditionStatus) {
	t.Helper()
	n, err := remote.Client.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions[0].Status = status
	if _, err := remote.Client.CoreV1().Nodes().UpdateStatus(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestBarrelmanWhatToExpect walks through barrelman README's "What to
// expect" with ssm in NodePort mode: X is the remote API server, Y the
// local one; after every step ssm renders, kubectl applies with pruning,
// and Y must look as barrelman's README says.
func TestBarrelmanWhatToExpect(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const parent = "ssm-barrelman"
	installApplySet(t, parent)

	createNode(t, "bm-node-1", "10.70.0.1", corev1.ConditionTrue)
	createNode(t, "bm-node-2", "10.70.0.2", corev1.ConditionTrue)
	sel := map[string]string{"mirror.e2e/bm": "true"}
	out := filepath.Join(t.TempDir(), "out")
	step := func(what string) {
		t.Helper()
		// The v1 Endpoints barrelman wrote, as docs/barrelman.md advises
		// for replacing them in place.
		r := ssm(t, nil, "render", "--mode", "nodeport", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/bm=true",
			"--kube-config", local.KubeConfig, "--endpoints-api", "endpoints", "-o", out)
		if r.code != 0 {
			t.Fatalf("%s: render: exit %d\n%s", what, r.code, r.stderr)
		}
		applyNodePort(t, out, parent)
		assertApplied(t, local, filepath.Join(out, "mirrors"), "bm-foo", "app.kubernetes.io/managed-by=ssm")
	}
	nodePorts := func() (http, dns string) {
		s, err := remote.Client.CoreV1().Services("bm-foo").Get(ctx, "bar", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d/TCP", s.Spec.Ports[1].NodePort), fmt.Sprintf("%d/UDP", s.Spec.Ports[0].NodePort)
	}

	// Create Service "foo/bar" (type NodePort) in X: namespace foo, Service
	// foo/bar (ClusterIP, targetPort = node port) and its Endpoints (Xn:nodePort) in Y.
	bar := service{ns: "bm-foo", name: "bar", labels: sel, spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
		Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, tcp("http", 80)}}}
	bar.apply(ctx, t, remote.Client)
	step("create foo/bar")
	if _, err := local.Client.CoreV1().Namespaces().Get(ctx, "bm-foo", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace not created in Y: %v", err)
	}
	httpPort, dnsPort := nodePorts()
	nodes := []string{"10.70.0.1", "10.70.0.2"}
	assertEndpoints(t, "bm-foo", "bar", expand(nodes, dnsPort, httpPort))
	ys, err := local.Client.CoreV1().Services("bm-foo").Get(ctx, "bar", metav1.GetOptions{})
	if err != nil || ys.Spec.Type != corev1.ServiceTypeClusterIP || ys.Spec.Ports[1].TargetPort.String()+"/TCP" != httpPort {
		t.Fatalf("Service foo/bar in Y: %v %+v", err, ys.Spec)
	}

	// Manual: create Service foo/baz (barrelman label, targetPort = a node
	// port in X) in Y: Endpoints foo/baz point to Xn; change its targetPort:
	// they follow.
	baz := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "bm-foo", Name: "baz", Labels: map[string]string{"tfw.io/barrelman": "true"}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "web", Port: 8080, TargetPort: intstr.Parse(strings.TrimSuffix(httpPort, "/TCP"))}}}}
	if baz, err = local.Client.CoreV1().Services("bm-foo").Create(ctx, baz, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	step("create manual foo/baz")
	assertEndpoints(t, "bm-foo", "baz", expand(nodes, httpPort))
	baz.Spec.Ports[0].TargetPort = intstr.FromInt32(31000)
	if _, err = local.Client.CoreV1().Services("bm-foo").Update(ctx, baz, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	step("change targetPort of foo/baz")
	assertEndpoints(t, "bm-foo", "baz", expand(nodes, "31000/TCP"))

	// Nodes join, go NotReady, are cordoned and removed.
	createNode(t, "bm-node-3", "10.70.0.3", corev1.ConditionTrue)
	step("node joins")
	assertEndpoints(t, "bm-foo", "bar", expand([]string{"10.70.0.1", "10.70.0.2", "10.70.0.3"}, dnsPort, httpPort))
	setNodeReady(t, "bm-node-2", corev1.ConditionFalse)
	cordon, err := remote.Client.CoreV1().Nodes().Get(ctx, "bm-node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cordon.Spec.Unschedulable = true
	if _, err := remote.Client.CoreV1().Nodes().Update(ctx, cordon, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := remote.Client.CoreV1().Nodes().Delete(ctx, "bm-node-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	step("node NotReady, node cordoned, node removed")
	assertEndpoints(t, "bm-foo", "bar", expand([]string{"10.70.0.1"}, dnsPort, httpPort)) // cordoned stays, as in barrelman
	assertEndpoints(t, "bm-foo", "baz", expand([]string{"10.70.0.1"}, "31000/TCP"))

	// Change NodePort of foo/bar in X: targetPort and Endpoints follow in Y.
	// Then it becomes a LoadBalancer: still mirrored, as barrelman does.
	s, err := remote.Client.CoreV1().Services("bm-foo").Get(ctx, "bar", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Ports[1].NodePort = 31777
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	if _, err := remote.Client.CoreV1().Services("bm-foo").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	step("change node port and type of foo/bar")
	assertEndpoints(t, "bm-foo", "bar", expand([]string{"10.70.0.1"}, dnsPort, "31777/TCP"))

	// Delete Service foo/bar in X: Service and Endpoints foo/bar are deleted
	// in Y; the namespace stays, and so do the manual Service's endpoints.
	deleteService(t, remote.Client, "bm-foo", "bar")
	step("delete foo/bar")
	if _, err := local.Client.CoreV1().Services("bm-foo").Get(ctx, "bar", metav1.GetOptions{}); err == nil {
		t.Error("Service foo/bar still in Y")
	}
	if got := endpointsOf(t, "bm-foo", "bar"); got != nil {
		t.Errorf("Endpoints foo/bar still in Y: %v", got)
	}
	if _, err := local.Client.CoreV1().Namespaces().Get(ctx, "bm-foo", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace foo removed from Y: %v", err)
	}
	assertEndpoints(t, "bm-foo", "baz", expand([]string{"10.70.0.1"}, "31000/TCP"))
}

func assertEndpoints(t *testing.T, ns, name string, want []string) {
	t.Helper()
	if got := endpointsOf(t, ns, name); !slices.Equal(got, want) {
		t.Fatalf("Endpoints %s/%s in Y = %v, want %v", ns, name, got, want)
	}
}
