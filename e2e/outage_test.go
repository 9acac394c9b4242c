package e2e

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestOneRemoteDoesNotHoldUpTheOthers: in a fleet, a remote that is slow
// (every byte it sends delayed 20s, from the start) or down (its API
// server stopped) delays no other remote's commits: a change in a healthy
// remote is committed within the debounce and a few seconds, and the
// troubled remote's files stay as they were.
func TestOneRemoteDoesNotHoldUpTheOthers(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	victim, err := startAPIServer(ctx, testbin, t.TempDir(), "outage-victim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(victim.Stop)
	sel := map[string]string{"mirror.e2e/outage": "true"}
	svc := func(name, ip string) service {
		return service{ns: "outage", name: name, labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(ip)}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
	}
	svc("a", "10.84.0.1").apply(ctx, t, remote.Client)
	svc("b", "10.84.1.1").apply(ctx, t, remote2.Client)
	svc("c", "10.84.2.1").apply(ctx, t, victim.Client)
	defer func() {
		deleteService(t, remote.Client, "outage", "a")
		deleteService(t, remote2.Client, "outage", "b")
	}()
	// The victim, also behind a proxy that delays what it sends by 20s.
	u, err := url.Parse(victim.URL)
	if err != nil {
		t.Fatal(err)
	}
	slow := startLagProxy(t, u.Host, 20*time.Second)
	slowKC := filepath.Join(t.TempDir(), "slow.kubeconfig")
	writeFile(t, slowKC, kubeconfig("https://"+slow.addr, victim.CAFile, adminToken))

	const debounce = 300 * time.Millisecond
	run := func(t *testing.T, victimKC string) (string, func(ip string) time.Duration) {
		config := filepath.Join(t.TempDir(), "config.yaml")
		writeFile(t, config, fmt.Sprintf(`global: {mirrorSvcLabelSelector: mirror.e2e/outage=true, mirrorNamespace: outage-mirrors}
remoteClusters:
- {name: a, kubeConfigPath: %s, servicePrefix: a}
- {name: b, kubeConfigPath: %s, servicePrefix: b}
- {name: c, kubeConfigPath: %s, servicePrefix: c, timeout: 60s}
`, remote.KubeConfig, remote2.KubeConfig, victimKC))
		out := filepath.Join(t.TempDir(), "out")
		startRun(t, "outage-"+strings.ReplaceAll(t.Name(), "/", "-"), "--config", config, "--output", out, "--debounce", debounce.String(), "--max-delay", "2s")
		file := filepath.Join(out, "a", "a-outage-73736d-a.yaml")
		eventually(t, 30*time.Second, "a's mirror", func() bool { return strings.Contains(readFile(file), "10.84.0.") })
		change := func(ip string) time.Duration {
			ep, err := remote.Client.CoreV1().Endpoints("outage").Get(ctx, "a", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ep.Subsets[0].Addresses = []corev1.EndpointAddress{addr(ip)}
			if _, err := remote.Client.CoreV1().Endpoints("outage").Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			return eventually(t, 30*time.Second, "a's change written", func() bool { return strings.Contains(readFile(file), ip) })
		}
		return out, change
	}
	limit := debounce + 3*time.Second

	t.Run("slow", func(t *testing.T) {
		out, change := run(t, slowKC)
		// c's list takes 20s at least: a's first render did not wait for it.
		if readFile(filepath.Join(out, "c", "c-outage-73736d-c.yaml")) != "" {
			t.Fatal("c's mirror written before its first answer could arrive: is the proxy in the way?")
		}
		if took := change("10.84.0.2"); took > limit {
			t.Errorf("a's change took %s behind a slow c, want under %s", took, limit)
		}
	})
	t.Run("down", func(t *testing.T) {
		out, change := run(t, victim.KubeConfig)
		cFile := filepath.Join(out, "c", "c-outage-73736d-c.yaml")
		eventually(t, 30*time.Second, "c's mirror", func() bool { return readFile(cFile) != "" })
		before := readFile(cFile)
		victim.Stop()
		for i, ip := range []string{"10.84.0.3", "10.84.0.4"} {
			if took := change(ip); took > limit {
				t.Errorf("change %d of a took %s with c down, want under %s", i+1, took, limit)
			}
		}
		if readFile(cFile) != before {
			t.Error("c's mirror changed while c was down")
		}
	})
}
