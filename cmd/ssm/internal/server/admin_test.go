package server

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/mirror"
)

// fakeApprovals holds one set of removals of cluster east and records the
// approvals that reach it.
type fakeApprovals struct{ approved []string }

const heldDigest = "0123456789abcdef"

func (f *fakeApprovals) Held() []mirror.Removal {
	return []mirror.Removal{{Cluster: "east", Files: []string{"east-shop-73736d-web.yaml"}, Digest: heldDigest, Verdict: mirror.HeldBack}}
}

func (f *fakeApprovals) Approve(cluster, digest string) error {
	if cluster != "east" || digest != heldDigest {
		return errors.New("cluster " + cluster + " holds another set of removals than " + digest)
	}
	f.approved = append(f.approved, cluster+"@"+digest)
	return nil
}

const goodBody = `{"cluster":"east","digest":"` + heldDigest + `"}`

// adminRequest is a request to the admin listener: by default, the
// legitimate approval curl sends through a port-forward.
type adminRequest struct {
	method, target, host, body string
	header                     map[string]string
}

func (r adminRequest) do(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	method, target, host := r.method, r.target, r.host
	if method == "" {
		method = http.MethodPost
	}
	if target == "" {
		target = "/removals/approve"
	}
	if host == "" {
		host = "127.0.0.1:8081"
	}
	req := httptest.NewRequest(method, target, strings.NewReader(r.body))
	req.Host = host
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		if v == "-" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func newTestAdmin(t *testing.T, tokenFile string, anyHost bool) (*Admin, *fakeApprovals, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	f := &fakeApprovals{}
	return &Admin{Approvals: f, Logger: slog.New(slog.NewTextHandler(&logs, nil)), TokenFile: tokenFile, AnyHost: anyHost}, f, &logs
}

// TestAdminRefusesForgedApprovals: each way a web page or a passer-by
// could approve (issue 20: a cross-site form, a DNS-rebinding page, the
// digest in the query) is refused before it reaches the approvals, with
// the status that says why; the approval curl sends gets through.
func TestAdminRefusesForgedApprovals(t *testing.T) {
	tests := []struct {
		name string
		req  adminRequest
		code int
		want string // in the answer
	}{
		{name: "legitimate", req: adminRequest{body: goodBody}, code: 200, want: "approved: the next render removes the held mirrors of east"},
		{name: "localhost", req: adminRequest{body: goodBody, host: "localhost:8081"}, code: 200},
		{name: "localhost without port", req: adminRequest{body: goodBody, host: "localhost"}, code: 200},
		{name: "IPv6 loopback", req: adminRequest{body: goodBody, host: "[::1]:8081"}, code: 200},
		{name: "IPv6 loopback without port", req: adminRequest{body: goodBody, host: "[::1]"}, code: 200},
		{name: "127/8", req: adminRequest{body: goodBody, host: "127.3.2.1:8081"}, code: 200},
		{name: "charset", req: adminRequest{body: goodBody, header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}, code: 200},
		{name: "CSRF: a cross-site form", code: 403, want: "Origin",
			req: adminRequest{body: "cluster=east&digest=" + heldDigest, header: map[string]string{"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"}}},
		{name: "CSRF: JSON with an Origin", req: adminRequest{body: goodBody, header: map[string]string{"Origin": "https://evil.example"}}, code: 403, want: "Origin"},
		{name: "Origin null", req: adminRequest{body: goodBody, header: map[string]string{"Origin": "null"}}, code: 403},
		{name: "same-origin page", req: adminRequest{body: goodBody, header: map[string]string{"Origin": "http://127.0.0.1:8081"}}, code: 403},
		{name: "DNS rebinding", req: adminRequest{body: goodBody, host: "evil.example:8081"}, code: 403, want: `Host "evil.example:8081" is refused`},
		{name: "DNS rebinding: GET /removals", req: adminRequest{method: "GET", target: "/removals", host: "evil.example:8081"}, code: 403},
		{name: "a name under localhost", req: adminRequest{body: goodBody, host: "evil.localhost:8081"}, code: 403},
		{name: "no Host", req: adminRequest{body: goodBody, host: " "}, code: 403},
		{name: "routable address", req: adminRequest{body: goodBody, host: "10.0.0.7:8081"}, code: 403},
		{name: "form content type", req: adminRequest{body: "cluster=east&digest=" + heldDigest,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, code: 415, want: "want application/json"},
		{name: "text/plain (a form can send it)", req: adminRequest{body: goodBody, header: map[string]string{"Content-Type": "text/plain"}}, code: 415},
		{name: "no content type", req: adminRequest{body: goodBody, header: map[string]string{"Content-Type": "-"}}, code: 415},
		{name: "query", req: adminRequest{target: "/removals/approve?cluster=east&digest=" + heldDigest, body: goodBody}, code: 400, want: "no query parameters"},
		{name: "no digest", req: adminRequest{body: `{"cluster":"east"}`}, code: 400, want: "no digest: want a JSON body"},
		{name: "nothing", req: adminRequest{body: `{}`}, code: 400, want: "no cluster and no digest"},
		{name: "empty body", req: adminRequest{}, code: 400, want: "read the body"},
		{name: "unknown field", req: adminRequest{body: `{"cluster":"east","digest":"` + heldDigest + `","force":true}`}, code: 400, want: `unknown field "force"`},
		{name: "two objects", req: adminRequest{body: goodBody + goodBody}, code: 400, want: "more than one JSON value"},
		{name: "oversized", req: adminRequest{body: `{"cluster":"` + strings.Repeat("e", 5000) + `","digest":"x"}`}, code: 413, want: "over 4096 bytes"},
		{name: "oversized after the object", req: adminRequest{body: goodBody + strings.Repeat(" ", 5000)}, code: 413},
		{name: "another digest", req: adminRequest{body: `{"cluster":"east","digest":"ffff"}`}, code: 409},
		{name: "escaped answer", req: adminRequest{body: `{"cluster":"east\u001b[2K\nlevel=INFO","digest":"x"}`}, code: 409, want: `east\x1b[2K\nlevel=INFO`},
		{name: "GET approve", req: adminRequest{method: "GET"}, code: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, f, logs := newTestAdmin(t, "", false)
			w := tt.req.do(t, a.Handler())
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("answer %d %q, want %d with %q", w.Code, w.Body.String(), tt.code, tt.want)
			}
			if strings.Count(w.Body.String(), "\n") > 1 {
				t.Errorf("the answer spans lines: %q", w.Body.String())
			}
			if approved := len(f.approved) > 0; approved != (tt.code == 200) {
				t.Errorf("approved %v with answer %d", f.approved, w.Code)
			}
			if tt.code == 403 && !strings.Contains(logs.String(), `msg="admin request refused"`) {
				t.Errorf("the refusal was not logged:\n%s", logs)
			}
		})
	}
}

func TestAdminToken(t *testing.T) {
	const token = "s3cret-admin-token-0123456789"
	file := writeFile(t, "token", token+"\n")
	tests := []struct {
		name    string
		anyHost bool
		req     adminRequest
		code    int
	}{
		{name: "token", req: adminRequest{body: goodBody, header: map[string]string{"Authorization": "Bearer " + token}}, code: 200},
		{name: "lower-case scheme", req: adminRequest{body: goodBody, header: map[string]string{"Authorization": "bearer " + token}}, code: 200},
		{name: "GET /removals needs it too", req: adminRequest{method: "GET", target: "/removals"}, code: 401},
		{name: "no token", req: adminRequest{body: goodBody}, code: 401},
		{name: "wrong token", req: adminRequest{body: goodBody, header: map[string]string{"Authorization": "Bearer " + token + "x"}}, code: 401},
		{name: "a prefix of it", req: adminRequest{body: goodBody, header: map[string]string{"Authorization": "Bearer " + token[:10]}}, code: 401},
		{name: "basic", req: adminRequest{body: goodBody, header: map[string]string{"Authorization": "Basic " + token}}, code: 401},
		{name: "loopback listener: Host still checked", req: adminRequest{body: goodBody, host: "evil.example",
			header: map[string]string{"Authorization": "Bearer " + token}}, code: 403},
		{name: "beyond loopback: any Host", anyHost: true, req: adminRequest{body: goodBody, host: "ssm.ssm.svc:8081",
			header: map[string]string{"Authorization": "Bearer " + token}}, code: 200},
		{name: "beyond loopback: Origin still refused", anyHost: true, req: adminRequest{body: goodBody, host: "ssm.ssm.svc:8081",
			header: map[string]string{"Authorization": "Bearer " + token, "Origin": "https://evil.example"}}, code: 403},
		{name: "beyond loopback: no token", anyHost: true, req: adminRequest{body: goodBody, host: "ssm.ssm.svc:8081"}, code: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _, _ := newTestAdmin(t, file, tt.anyHost)
			w := tt.req.do(t, a.Handler())
			if w.Code != tt.code {
				t.Errorf("answer %d %q, want %d", w.Code, w.Body.String(), tt.code)
			}
			if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(w.Body.String(), token) {
				t.Errorf("the answer shows the token: %q", w.Body.String())
			}
		})
	}

	// The file is read on every request: a rotated Secret applies at once.
	a, _, logs := newTestAdmin(t, file, false)
	const rotated = "rotated-admin-token-abcdefghij"
	if err := os.WriteFile(file, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	for tok, code := range map[string]int{token: 401, rotated: 200} {
		if w := (adminRequest{body: goodBody, header: map[string]string{"Authorization": "Bearer " + tok}}).do(t, a.Handler()); w.Code != code {
			t.Errorf("after rotation, token %s: %d, want %d", tok, w.Code, code)
		}
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if w := (adminRequest{body: goodBody, header: map[string]string{"Authorization": "Bearer " + rotated}}).do(t, a.Handler()); w.Code != 503 ||
		!strings.Contains(logs.String(), "cannot read the admin token") {
		t.Errorf("token file gone: %d %q; log:\n%s", w.Code, w.Body.String(), logs)
	}
}

// TestRemovalsOnlyOnAdmin: the held removals, and their digests, are not
// served on the public port (issue 20: anyone reaching :8080 read them).
func TestRemovalsOnlyOnAdmin(t *testing.T) {
	public := Public(NewMetrics("dev", "unknown"), &Health{})
	for _, target := range []string{"/removals", "/removals/approve"} {
		for _, method := range []string{"GET", "POST"} {
			w := httptest.NewRecorder()
			public.ServeHTTP(w, httptest.NewRequest(method, target, strings.NewReader(goodBody)))
			if w.Code != 404 && w.Code != 405 {
				t.Errorf("public %s %s: %d %q", method, target, w.Code, w.Body.String())
			}
		}
	}
	a, _, _ := newTestAdmin(t, "", false)
	w := adminRequest{method: "GET", target: "/removals"}.do(t, a.Handler())
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"digest":"`+heldDigest+`"`) {
		t.Errorf("admin GET /removals: %d %q", w.Code, w.Body.String())
	}
}

func TestApproveHint(t *testing.T) {
	got := ApproveHint(8081, false, "")("east", heldDigest)
	want := []any{"approve", `curl -sS -X POST -H 'Content-Type: application/json' -d '{"cluster":"east","digest":"` + heldDigest + `"}' http://127.0.0.1:8081/removals/approve`}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %q, want %q", got, want)
	}
	got = ApproveHint(9000, true, "-n ssm port-forward pod/ssm-east-0")("it's", "d")
	if got[0] != "portForward" || got[1] != "kubectl -n ssm port-forward pod/ssm-east-0 9000" || got[2] != "approve" ||
		!strings.Contains(got[3].(string), `-H "Authorization: Bearer $SSM_ADMIN_TOKEN"`) || !strings.Contains(got[3].(string), `-d '{"cluster":"it'\''s","digest":"d"}'`) {
		t.Errorf("with a token and a pod: %q", got)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
