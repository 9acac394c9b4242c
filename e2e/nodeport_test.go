package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// createNode creates a remote Node and sets its status, as a kubelet would.
func createNode(t *testing.T, name, ip string, ready corev1.ConditionStatus) {
	t.Helper()
	ctx := t.Context()
	n, err := remote.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}
	if _, err := remote.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = remote.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// TestNodePortLive renders NodePort mode from a real remote API server, by
// a live list and by `ssm run`'s informers, and checks the node endpoints.
func TestNodePortLive(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	createNode(t, "np-node-1", "10.60.0.1", corev1.ConditionTrue)
	createNode(t, "np-node-2", "10.60.0.2", corev1.ConditionFalse)
	sel := map[string]string{"mirror.e2e/np": "true"}
	svc := service{ns: "np-foo", name: "bar", labels: sel, spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
		Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, tcp("http", 80)}}}
	svc.apply(ctx, t, remote.Client)
	got, err := remote.Client.CoreV1().Services("np-foo").Get(ctx, "bar", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	udpPort := got.Spec.Ports[0].NodePort
	args := []string{"--target-kube-config", remote.KubeConfig, "--mode", "nodeport", "--label-selector", "mirror.e2e/np=true", "--manual-endpoints=false",
		"--kube-config", local.KubeConfig}

	r := ssm(t, nil, append([]string{"render"}, args...)...)
	if r.code != 0 {
		t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"kind: EndpointSlice\n", "  - 10.60.0.1\n", fmt.Sprintf("port: %d\n  protocol: UDP", udpPort), "kind: Namespace"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("render output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "10.60.0.2") {
		t.Error("a NotReady node is a backend")
	}

	out := filepath.Join(t.TempDir(), "out")
	p := startRun(t, "run-nodeport", append(args, "--output", out, "--debounce", "200ms", "--max-delay", "1s")...)
	file := filepath.Join(out, "mirrors", "np-foo.bar.yaml")
	eventually(t, 30*time.Second, "the first render", func() bool { return strings.Contains(readFile(file), "10.60.0.1") })
	createNode(t, "np-node-3", "10.60.0.3", corev1.ConditionTrue) // a node joins
	eventually(t, 10*time.Second, "the new node", func() bool { return strings.Contains(readFile(file), "10.60.0.3") })

	// A node flapping faster than the debounce ends where it started: no write at all.
	eventually(t, 10*time.Second, "a quiet sink", func() bool { return p.metric("ssm_commits_total") == 2 })
	for range 5 {
		setNodeReady(t, "np-node-3", corev1.ConditionFalse)
		setNodeReady(t, "np-node-3", corev1.ConditionTrue)
	}
	time.Sleep(time.Second) // debounce (200ms) and max delay (1s) pass
	if n := p.metric("ssm_commits_total"); n != 2 {
		t.Errorf("%v writes after a node flapped within the debounce window, want none", n-2)
	}
	if err := remote.Client.CoreV1().Nodes().Delete(ctx, "np-node-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the removed node gone", func() bool { return !strings.Contains(readFile(file), "10.60.0.1") })
	p.terminate()
	deleteService(t, remote.Client, "np-foo", "bar")
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
