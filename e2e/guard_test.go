package e2e

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
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
// metrics and the admin address's GET /removals say so, the log says it
// once, with the command that approves it) while other
// changes keep flowing; what a web page or a passer-by can send (a
// cross-site form, a rebound name, the public address) approves nothing;
// the operator's approval, as the log line gives it, lets exactly that set
// go.
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
	digest := heldDigest(t, r.logs(), "g")
	if n := strings.Count(r.logs(), "removals held"); n != 1 {
		t.Errorf("the held set was logged %d times, want once", n)
	}
	if want := `approve="curl -sS -X POST -H 'Content-Type: application/json' -d '{\"cluster\":\"g\",\"digest\":\"` + digest +
		`\"}' http://` + admin + `/removals/approve"`; !strings.Contains(r.logs(), want) {
		t.Errorf("the hold's log line lacks the approve command %s", want)
	}
	if code, body := r.get("/removals"); code != http.StatusNotFound {
		t.Errorf("the public address serves GET /removals: %d %s", code, body)
	}
	code, body := adminDo(t, admin, adminReq{method: "GET", path: "/removals"})
	var held []heldRemoval
	if err := json.Unmarshal([]byte(body), &held); code != 200 || err != nil || len(held) != 1 || len(held[0].Files) != 3 || held[0].Cluster != "g" || held[0].Digest != digest {
		t.Fatalf("GET /removals = %d %s (%v)", code, body, err)
	}

	// What a web page or a passer-by can send is refused, and the mirrors
	// stay held: a cross-site form as a browser posts it during a
	// port-forward (issue 20), each of its marks alone, the digest in the
	// query, and the public address.
	form := "cluster=g&digest=" + digest
	query := "/removals/approve?" + form
	for _, f := range []struct {
		name string
		req  adminReq
		code int
	}{
		{"forged: cross-site form, rebound name", adminReq{path: query, body: form, contentType: "application/x-www-form-urlencoded",
			host: "evil.example:" + port(admin), origin: "https://evil.example"}, http.StatusForbidden},
		{"Origin", adminReq{body: approveBody("g", digest), origin: "https://evil.example"}, http.StatusForbidden},
		{"Host", adminReq{body: approveBody("g", digest), host: "evil.example:" + port(admin)}, http.StatusForbidden},
		{"form", adminReq{body: form, contentType: "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"query", adminReq{path: query, contentType: "application/json"}, http.StatusBadRequest},
		{"no digest", adminReq{body: `{"cluster":"g"}`}, http.StatusBadRequest},
		{"another digest", adminReq{body: approveBody("g", "0000000000000000")}, http.StatusConflict},
	} {
		if code, body := adminDo(t, admin, f.req); code != f.code {
			t.Errorf("%s: %d %q, want %d", f.name, code, body, f.code)
		}
	}
	if resp, err := http.Post("http://"+r.addr+query, "application/x-www-form-urlencoded", strings.NewReader(form)); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("the public address approved: %d", resp.StatusCode)
		}
	}
	time.Sleep(time.Second) // a render an approval would have scheduled
	if !has("b", "c", "d") || strings.Contains(r.logs(), "removals approved") || r.metric(`ssm_held_removals{cluster="g"}`) != 3 {
		t.Fatalf("a forged request approved the removal: %v\n%s", lsPath(t, bare, gitPath), r.logs())
	}

	// The operator's request, as the log line gives it, approves.
	if code, body := adminDo(t, admin, adminReq{body: approveBody("g", digest)}); code != http.StatusOK {
		t.Fatalf("approve: %d %s", code, body)
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

// heldDigest is the digest of the held removals of cluster, from the log.
func heldDigest(t *testing.T, logs, cluster string) string {
	t.Helper()
	m := regexp.MustCompile(`msg="removals held[^\n]* cluster=` + regexp.QuoteMeta(cluster) + ` [^\n]*digest=([0-9a-f]+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no held removals of %s logged:\n%s", cluster, logs)
	}
	return m[1]
}

func approveBody(cluster, digest string) string {
	b, _ := json.Marshal(map[string]string{"cluster": cluster, "digest": digest})
	return string(b)
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// adminReq is a request to ssm's admin address: by default a POST of an
// approval as curl sends it through a port-forward.
type adminReq struct {
	method, path, body, contentType, host, origin, token string
}

func adminDo(t *testing.T, admin string, r adminReq) (int, string) {
	t.Helper()
	method, path, contentType := cmp.Or(r.method, "POST"), cmp.Or(r.path, "/removals/approve"), r.contentType
	if method == "POST" && contentType == "" {
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+admin+path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = r.host
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if r.origin != "" {
		req.Header.Set("Origin", r.origin)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
