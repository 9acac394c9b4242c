package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/ssm-dev/ssm/internal/redact"
	"github.com/ssm-dev/ssm/mirror"
)

// minTokenLength is the shortest admin token taken: a short one on a
// listener beyond loopback invites guessing.
const minTokenLength = 16

// maxApprovalBody bounds an approval's JSON body.
const maxApprovalBody = 4 << 10

// Admin serves what changes ssm's decisions, approving held removals, and
// what they are made from, the removals held. Only an operator may reach
// it: from a browser, neither a cross-site form (CSRF) nor a page whose
// name was made to resolve to 127.0.0.1 (DNS rebinding) gets through, and
// beyond loopback a bearer token is needed (docs/safety.md).
type Admin struct {
	Approvals Approver
	Logger    *slog.Logger
	TokenFile string // re-read on every request; "" for no token
	AnyHost   bool   // a token guards a listener beyond loopback: any Host goes
}

// Approver is what Admin serves: *mirror.Approvals.
type Approver interface {
	Held() []mirror.Removal
	Approve(cluster, digest string) error
}

// ReadToken reads the admin token, without the space around it.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", fmt.Errorf("%s holds no token", path)
	case len(tok) < minTokenLength:
		return "", fmt.Errorf("the token in %s has %d characters, want at least %d (e.g. openssl rand -hex 32)", path, len(tok), minTokenLength)
	case strings.ContainsAny(tok, "\r\n"):
		return "", fmt.Errorf("the token in %s spans lines: want one line", path)
	}
	return tok, nil
}

// LoopbackHost reports whether host (a listen address's host, or a Host
// header, with or without a port) is localhost or a loopback address.
func LoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if strings.EqualFold(host, "localhost") || strings.EqualFold(host, "localhost.") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler serves GET /removals and POST /removals/approve to the requests
// it does not refuse.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /removals", a.held)
	mux.HandleFunc("POST /removals/approve", a.approve)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, why := a.refusal(r); code != 0 {
			a.Logger.Warn("admin request refused", "method", r.Method, "path", r.URL.Path, "host", r.Host,
				"origin", r.Header.Get("Origin"), "from", r.RemoteAddr, "status", code, "reason", why)
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ssm admin"`)
			}
			answer(w, code, why)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// refusal says why r may not reach the admin endpoints (0: it may).
func (a *Admin) refusal(r *http.Request) (int, string) {
	if _, ok := r.Header["Origin"]; ok {
		return http.StatusForbidden, "a request with an Origin header is refused: browsers send one, and the admin endpoints take no requests from web pages (CSRF)"
	}
	if !a.AnyHost && !LoopbackHost(r.Host) {
		return http.StatusForbidden, fmt.Sprintf("Host %q is refused: reach the admin address as 127.0.0.1, [::1] or localhost "+
			"(a name made to resolve to loopback is how a web page would, by DNS rebinding)", r.Host)
	}
	if a.TokenFile == "" {
		return 0, ""
	}
	want, err := ReadToken(a.TokenFile)
	if err != nil {
		a.Logger.Error("cannot read the admin token; refusing admin requests", "err", err)
		return http.StatusServiceUnavailable, "the admin token file cannot be read: see ssm's log"
	}
	got, ok := bearer(r.Header.Get("Authorization"))
	// Compared as hashes, in constant time: neither the token nor its
	// length shows in how long a refusal takes.
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	if !ok || subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return http.StatusUnauthorized, "a bearer token is required: Authorization: Bearer <the token of --admin-token-file>"
	}
	return 0, ""
}

// bearer returns the token of an Authorization header's Bearer scheme.
func bearer(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

func (a *Admin) held(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a.Approvals.Held())
}

// approval is the body of POST /removals/approve.
type approval struct {
	Cluster string `json:"cluster"`
	Digest  string `json:"digest"`
}

func (a *Admin) approve(w http.ResponseWriter, r *http.Request) {
	req, code, err := readApproval(w, r)
	if err != nil {
		answer(w, code, err.Error())
		return
	}
	if err := a.Approvals.Approve(req.Cluster, req.Digest); err != nil {
		answer(w, http.StatusConflict, err.Error())
		return
	}
	a.Logger.Warn("removals approved; the next render removes them", "cluster", req.Cluster, "digest", req.Digest, "from", r.RemoteAddr)
	answer(w, http.StatusOK, fmt.Sprintf("approved: the next render removes the held mirrors of %s", req.Cluster))
}

// readApproval reads the one JSON object an approval is, and nothing else:
// neither a form (what a cross-site page can send) nor query parameters.
func readApproval(w http.ResponseWriter, r *http.Request) (approval, int, error) {
	const want = `want a JSON body {"cluster":"…","digest":"…"}, as GET /removals lists them`
	var req approval
	if r.URL.RawQuery != "" {
		return req, http.StatusBadRequest, errors.New("approvals take no query parameters: " + want)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return req, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: want application/json", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxApprovalBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		switch _, extra := dec.Token(); {
		case errors.As(extra, new(*http.MaxBytesError)):
			err = extra
		case extra != io.EOF:
			err = errors.New("more than one JSON value")
		}
	}
	if mb, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return req, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over %d bytes: %s", mb.Limit, want)
	}
	if err != nil {
		return req, http.StatusBadRequest, fmt.Errorf("read the body: %w: %s", err, want)
	}
	var missing []string
	if req.Cluster == "" {
		missing = append(missing, "cluster")
	}
	if req.Digest == "" {
		missing = append(missing, "digest")
	}
	if len(missing) > 0 {
		return req, http.StatusBadRequest, fmt.Errorf("no %s: %s", strings.Join(missing, " and no "), want)
	}
	return req, 0, nil
}

// answer writes a one-line text answer, escaped as the final line of a
// command is, since it may quote what the request held.
func answer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, redact.Escape(msg)+"\n")
}

// ApproveHint returns what the log line of a held removal says about
// approving it: the command, run where 127.0.0.1:port reaches ssm, and,
// in a pod, the port-forward that makes it so.
func ApproveHint(port int, token bool, pod string) func(cluster, digest string) []any {
	return func(cluster, digest string) []any {
		body, _ := json.Marshal(approval{Cluster: cluster, Digest: digest})
		cmd := "curl -sS -X POST -H 'Content-Type: application/json'"
		if token {
			cmd += ` -H "Authorization: Bearer $SSM_ADMIN_TOKEN"`
		}
		cmd += fmt.Sprintf(" -d %s http://127.0.0.1:%d/removals/approve", shellQuote(string(body)), port)
		var attrs []any
		if pod != "" {
			attrs = append(attrs, "portForward", fmt.Sprintf("kubectl %s %d", pod, port))
		}
		return append(attrs, "approve", cmd)
	}
}

// PodOf names the pod ssm runs in, as kubectl port-forward takes it
// ("-n NS port-forward pod/NAME"; a pod's host name is its name), or ""
// outside Kubernetes.
func PodOf() string {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return ""
	}
	name, err := os.Hostname()
	if err != nil || name == "" {
		return ""
	}
	ns := ""
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		ns = "-n " + shellQuote(strings.TrimSpace(string(b))) + " "
	}
	return ns + "port-forward pod/" + shellQuote(name)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
