package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// heldRemoval is what GET /removals lists.
type heldRemoval struct {
	Cluster, Digest string
	Files           []string
	Stored, Allowed int
}

// TestRunRemovalGuard: against a real API server and repository, one
// deletion of four flows; deleting the rest at once is held (the files stay,
// metrics and GET /removals say so, the log says it once) while other
// changes keep flowing; an operator's approval lets exactly that set go.
func TestRunRemovalGuard(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const gitPath = "clusters/local/guard"
	sel := map[string]string{"mirror.e2e/guard": "true"}
	mk := func(name, ip string) service {
		return service{ns: "guardshop", name: name, labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(ip)}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}
	}
	for i, n := range []string{"a", "b", "c", "d"} {
		mk(n, fmt.Sprintf("10.40.0.%d", i+1)).apply(ctx, t, remote.Client)
	}
	bare := bareRepo(t)
	adminPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	r := startRun(t, "guard", "--admin-address", admin, "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/guard=true",
		"--svc-prefix", "g", "--mirror-ns", "guard-mirrors", "--git-url", bare, "--git-path", gitPath, "--debounce", "300ms", "--max-delay", "2s")
	mirror := func(n string) string { return "g-guardshop-73736d-" + n + ".yaml" }
	has := func(names ...string) bool {
		got := lsPath(t, bare, gitPath)
		for _, n := range names {
			if !slices.Contains(got, mirror(n)) {
				return false
			}
		}
		return true
	}
	eventually(t, 30*time.Second, "the first commit", func() bool { return has("a", "b", "c", "d") })

	deleteService(t, remote.Client, "guardshop", "a") // 1 of 4: within 50%
	eventually(t, 15*time.Second, "a removed", func() bool { return !has("a") })
	eventually(t, 5*time.Second, "the allowed removal counted", func() bool {
		return r.metric(`ssm_removal_decisions_total{cluster="g",verdict="allowed"}`) == 1
	})

	for _, n := range []string{"b", "c", "d"} { // every mirror left at once
		deleteService(t, remote.Client, "guardshop", n)
	}
	eventually(t, 15*time.Second, "the removal held", func() bool { return r.metric(`ssm_held_removals{cluster="g"}`) == 3 })
	mk("e", "10.40.0.5").apply(ctx, t, remote.Client) // other changes flow
	eventually(t, 15*time.Second, "e added while the removal is held", func() bool { return has("e") })
	if !has("b", "c", "d") {
		t.Fatalf("held mirrors were removed: %v", lsPath(t, bare, gitPath))
	}
	_, body := r.get("/removals")
	var held []heldRemoval
	if err := json.Unmarshal([]byte(body), &held); err != nil || len(held) != 1 || len(held[0].Files) != 3 || held[0].Cluster != "g" {
		t.Fatalf("GET /removals = %s (%v)", body, err)
	}
	if n := strings.Count(r.logs(), "removals held"); n != 1 {
		t.Errorf("the held set was logged %d times, want once", n)
	}

	// A stale or wrong approval is refused; the right one lets the set go.
	if resp, err := http.Post("http://"+r.addr+"/removals/approve?cluster=g&digest="+held[0].Digest, "", nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("the public address approved: %d", resp.StatusCode)
		}
	}
	if code := approve(t, admin, "g", "000000000000"); code != http.StatusConflict {
		t.Errorf("approving another digest: %d, want 409", code)
	}
	if code := approve(t, admin, "g", held[0].Digest); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	eventually(t, 15*time.Second, "the approved removal", func() bool { return !has("b") && !has("c") && !has("d") && has("e") })
	eventually(t, 5*time.Second, "the approved removal counted", func() bool {
		return r.metric(`ssm_removal_decisions_total{cluster="g",verdict="approved"}`) == 1
	})
	if v := r.metric(`ssm_held_removals{cluster="g"}`); v > 0 {
		t.Errorf("still %v held after the approved removal", v)
	}
	r.terminate()
}

func approve(t *testing.T, admin, cluster, digest string) int {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://%s/removals/approve?cluster=%s&digest=%s", admin, cluster, digest), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
