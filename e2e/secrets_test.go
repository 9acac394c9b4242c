package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// notShown fails the test if out shows any of secrets.
func notShown(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s shows the secret %q:\n%s", what, s, out)
		}
	}
}

// TestSecretsInURLsNotPrinted: the secrets a remote API URL, a CA URL and
// a git URL can carry (user information, query values) appear in no log
// line, error, /readyz answer or final message of ssm, against the real
// API server and git server they point at, when they work and when they
// fail (issue 20). TestMain greps every output of the e2e run for them too.
func TestSecretsInURLsNotPrinted(t *testing.T) {
	requireEnv(t)
	ctx := t.Context()
	const (
		apiUser, apiPassword, apiQuery = "e2e-apiuser-S3CR3T", "e2e-apipw-S3CR3T", "e2e-apiquery-S3CR3T"
		caUser, caPassword, caQuery    = "e2e-causer-S3CR3T", "e2e-capw-S3CR3T", "e2e-caquery-S3CR3T"
		gitQuery, gitPassword          = "e2e-gitquery-S3CR3T", "e2e-gitpw-S3CR3T"
	)
	secrets := []string{apiUser, apiPassword, apiQuery, caUser, caPassword, caQuery, gitQuery, gitPassword}
	registerSecret(t, secrets...)
	sel := map[string]string{"mirror.e2e/secrets": "true"}
	service{ns: "secrets", name: "web", labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
		subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.50.0.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}.apply(ctx, t, remote.Client)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(adminToken), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(remote.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	caServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, _ := r.BasicAuth(); u != caUser || p != caPassword || r.URL.Query().Get("sig") != caQuery || r.URL.Path != "/ca.crt" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		_, _ = w.Write(ca)
	}))
	defer caServer.Close()
	host := strings.TrimPrefix(caServer.URL, "http://")
	caURL := fmt.Sprintf("http://%s:%s@%s/ca.crt?sig=%s", caUser, caPassword, host, caQuery)
	apiURL := strings.Replace(remote.URL, "https://", "https://"+apiUser+":"+apiPassword+"@", 1) + "/?token=" + apiQuery
	remoteArgs := []string{"--remote-ca-url", caURL, "--remote-sa-token-path", token,
		"--label-selector", "mirror.e2e/secrets=true", "--svc-prefix", "sec", "--mirror-ns", "m", "--log-level", "debug"}

	// render: the CA URL works, the API URL's user information makes the
	// API server refuse every list; then a CA URL that fails.
	r := ssm(t, nil, append([]string{"render", "--remote-api-url", apiURL, "-o", filepath.Join(dir, "out"), "--timeout", "10s"}, remoteArgs...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "ssm: read remote https://xxxxx@127.0.0.1:") {
		t.Errorf("render with user information in the API URL: exit %d, want 2 naming the remote redacted\n%s", r.code, r.stderr)
	}
	notShown(t, "render's output", r.stdout+r.stderr, secrets...)
	badCA := fmt.Sprintf("http://%s:%s@%s/nope.crt?sig=%s", caUser, caPassword, host, caQuery)
	r = ssm(t, nil, "render", "--remote-api-url", remote.URL, "--remote-ca-url", badCA, "--remote-sa-token-path", token,
		"--label-selector", "mirror.e2e/secrets=true", "--svc-prefix", "sec", "--mirror-ns", "m", "-o", filepath.Join(dir, "out"))
	if r.code != 2 || !strings.Contains(r.stderr, "fetch CA from http://xxxxx@"+host+"/nope.crt?sig=xxxxx: 403 Forbidden") {
		t.Errorf("render with a failing CA URL: exit %d\n%s", r.code, r.stderr)
	}
	notShown(t, "render's output", r.stdout+r.stderr, secrets...)
	// A query on the API URL is no credential to client-go: this one works.
	r = ssm(t, nil, append([]string{"render", "--remote-api-url", remote.URL + "/?token=" + apiQuery, "-o", filepath.Join(dir, "out")}, remoteArgs...)...)
	if r.code != 0 || !strings.Contains(r.stderr, `host="https://127.0.0.1:`) || !strings.Contains(r.stderr, "?token=xxxxx") {
		t.Errorf("render with a query in the API URL: exit %d\n%s", r.code, r.stderr)
	}
	notShown(t, "render's output", r.stdout+r.stderr, secrets...)

	// run against a real git server, with a token in the query of its URL:
	// the remote works, every push fails; /readyz says why, redacted, and
	// the JSON log gives the backoff as a duration string (issue 23).
	root := t.TempDir()
	srv := gittest.StartHTTP(t, root, "ssm", gitPassword)
	gittest.NewServedBare(t, root, "repo.git")
	password := filepath.Join(dir, "git-password")
	if err := os.WriteFile(password, []byte(gitPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startRun(t, "secrets-run", append([]string{"--remote-api-url", remote.URL + "/?token=" + apiQuery,
		"--git-url", srv.URL + "/repo.git?private_token=" + gitQuery, "--git-path", "mirrors",
		"--git-username", "ssm", "--git-password-path", password, "--debounce", "200ms", "--max-delay", "1s", "--log-format", "json"}, remoteArgs...)...)
	eventually(t, 30*time.Second, "two failed syncs", func() bool { return p.metric("ssm_sync_failures_total") >= 2 })
	code, body := p.get("/readyz")
	if code != 503 || !strings.Contains(body, "last sync failed: ") || !strings.Contains(body, "/repo.git?private_token=xxxxx") {
		t.Errorf("/readyz: %d %q, want 503 with the error, redacted", code, body)
	}
	notShown(t, "/readyz", body, secrets...)
	p.terminate()
	logs := p.logs()
	if !strings.Contains(logs, `"sink":"`+srv.URL+`/repo.git?private_token=xxxxx (branch main, path mirrors)"`) ||
		!strings.Contains(logs, `"msg":"sync failed; retrying"`) || !strings.Contains(logs, `"retryIn":"1s"`) {
		t.Errorf("the log does not name the sink redacted, or not its failures and their backoff (\"retryIn\":\"1s\"):\n%s", logs)
	}
	notShown(t, "run's log", logs, secrets...)

	// run with user information in the API URL: the API server refuses
	// every request, logged as the watches fail.
	p = startRun(t, "secrets-run-userinfo", append([]string{"--remote-api-url", apiURL,
		"--git-url", "http://127.0.0.1:1/closed.git?private_token=" + gitQuery, "--git-path", "mirrors"}, remoteArgs...)...)
	eventually(t, 30*time.Second, "failed watches", func() bool { return p.metric(`ssm_watch_errors_total{cluster="sec",resource="services"}`) >= 1 })
	code, body = p.get("/readyz")
	if code != 503 || !strings.Contains(body, "remote caches not synced yet; last error: cluster sec") {
		t.Errorf("/readyz: %d %q, want 503 with the last error", code, body)
	}
	notShown(t, "/readyz", body, secrets...)
	p.terminate()
	logs = p.logs()
	if !strings.Contains(logs, `clusters="https://xxxxx@127.0.0.1:`) || !strings.Contains(logs, "watch failed") {
		t.Errorf("the log does not name the remote redacted, or not the failed watches:\n%s", logs)
	}
	notShown(t, "run's log", logs, secrets...)
}

// TestAdminAddressNeedsToken: `ssm run` refuses an admin address beyond
// loopback without --admin-token-file, before it listens; with a token
// (on loopback: the tests listen nowhere else) it takes only requests that
// carry it, without an Origin.
func TestAdminAddressNeedsToken(t *testing.T) {
	requireEnv(t)
	args := []string{"run", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/admintoken=true",
		"--svc-prefix", "adm", "--mirror-ns", "m", "--output", t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ssmBin, append(args, "--listen-address", "127.0.0.1:0", "--admin-address", "0.0.0.0:0")...).CombinedOutput()
	recordOutput(t, "ssm run --admin-address 0.0.0.0:0", out)
	if ctx.Err() != nil || err == nil || !strings.Contains(string(out), "ssm: --admin-address 0.0.0.0:0 listens beyond loopback: give --admin-token-file") ||
		strings.Contains(string(out), "serving") {
		t.Fatalf("--admin-address 0.0.0.0:0 without a token (%v, %v):\n%s", ctx.Err(), err, out)
	}

	const token = "e2e-admin-token-S3CR3T-0123456789"
	registerSecret(t, token)
	file := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	adminPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	p := startRun(t, "admin-token", append(args[1:], "--admin-address", admin, "--admin-token-file", file)...)
	eventually(t, 20*time.Second, "the admin address", func() bool { return strings.Contains(p.logs(), `msg="serving approvals" address=`+admin) })
	for _, c := range []struct {
		name string
		req  adminReq
		code int
	}{
		{"no token", adminReq{method: "GET", path: "/removals"}, http.StatusUnauthorized},
		{"wrong token", adminReq{method: "GET", path: "/removals", token: token + "x"}, http.StatusUnauthorized},
		{"token", adminReq{method: "GET", path: "/removals", token: token}, http.StatusOK},
		{"token, rebound name", adminReq{method: "GET", path: "/removals", token: token, host: "evil.example"}, http.StatusForbidden},
		{"token and Origin", adminReq{body: approveBody("adm", "0000000000000000"), token: token, origin: "https://evil.example"}, http.StatusForbidden},
		{"token, nothing held", adminReq{body: approveBody("adm", "0000000000000000"), token: token}, http.StatusConflict},
	} {
		if code, body := adminDo(t, admin, c.req); code != c.code {
			t.Errorf("%s: %d %q, want %d", c.name, code, body, c.code)
		}
	}
	p.terminate()
}

// TestHostileNameEscaped: a Service whose name holds ESC and a newline,
// as a remote can create it in a snapshot, is named in the final error on
// one line, escaped: it forges no log line (issue 20).
func TestHostileNameEscaped(t *testing.T) {
	requireEnv(t)
	snap := filepath.Join(t.TempDir(), "hostile.yaml")
	if err := os.WriteFile(snap, []byte(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: "web\e[2K\rlevel=INFO msg=forged\nlevel=INFO msg=forged"
    namespace: shop
    labels: {mirror: "true"}
  spec:
    ports: [{name: http, port: 80, protocol: TCP}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := ssm(t, nil, "render", "--from-file", snap, "--label-selector", "mirror=true", "--svc-prefix", "remote", "--mirror-ns", "m",
		"-o", filepath.Join(t.TempDir(), "out"), "--allow-empty")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if r.code != 3 || strings.ContainsAny(r.stderr, "\x1b\r") || !strings.HasPrefix(last, "ssm: 1 remote Service(s) could not be mirrored") ||
		!strings.Contains(last, `shop/web\x1b[2K\rlevel=INFO msg=forged\nlevel=INFO msg=forged as `) {
		t.Errorf("exit %d, stderr:\n%q", r.code, r.stderr)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "level=INFO msg=forged") {
			t.Errorf("a forged line: %q", l)
		}
	}
}
