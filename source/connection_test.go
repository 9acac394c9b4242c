package source_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/ssm-dev/ssm/source"
)

func TestConnectionValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		c     source.Connection
		want  string // "" for valid
		given bool
	}{
		{c: source.Connection{}},
		{c: source.Connection{KubeConfig: "k"}, given: true},
		{c: source.Connection{KubeConfig: "k", Context: "c"}, given: true},
		{c: source.Connection{APIURL: "https://h", CAURL: "ca.pem", TokenPath: "t"}, given: true},
		{c: source.Connection{APIURL: "https://h", CAURL: "ca.pem", Token: "literal"}, given: true},
		{c: source.Connection{KubeConfig: "k", APIURL: "https://h"}, want: "give either a kubeconfig or a remote API URL, not both", given: true},
		{c: source.Connection{APIURL: "https://h", TokenPath: "t"}, want: "a remote API URL needs a remote CA URL or file", given: true},
		{c: source.Connection{APIURL: "https://h", CAURL: "ca.pem"}, want: "a remote API URL needs a service account token path", given: true},
		{c: source.Connection{CAURL: "ca.pem"}, want: "a remote CA or token path needs a remote API URL", given: true},
		{c: source.Connection{TokenPath: "t"}, want: "a remote CA or token path needs a remote API URL", given: true},
		{c: source.Connection{Context: "c"}, want: "a kubeconfig context needs a kubeconfig", given: true},
	} {
		err := tt.c.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.c, err, tt.want)
		}
		if got := tt.c.Given(); got != tt.given {
			t.Errorf("Given(%+v) = %v, want %v", tt.c, got, tt.given)
		}
	}
}

func TestConnectionDescribe(t *testing.T) {
	t.Parallel()
	for c, want := range map[source.Connection]string{
		{KubeConfig: "/k/east.yaml", Context: "admin"}: "kubeconfig /k/east.yaml (context admin)",
		{KubeConfig: "/k/east.yaml"}:                   "kubeconfig /k/east.yaml",
		{APIURL: "https://user:pw@east:6443/?t=token"}: "https://xxxxx@east:6443/?t=xxxxx",
		{APIURL: "east:6443"}:                          "https://east:6443",
		{}:                                             "in-cluster service account",
	} {
		if got := c.Describe(); got != want {
			t.Errorf("Describe(%+v) = %q, want %q", c, got, want)
		}
	}
	if got := source.DisplayHost("u:SECRET@east:6443"); got != "https://xxxxx@east:6443" {
		t.Errorf("DisplayHost of an address without a scheme = %q", got)
	}
}

// kubeconfig writes a kubeconfig of two contexts, east (current) and west,
// whose servers are the two URLs.
func kubeconfig(t *testing.T, east, west string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: east
clusters:
- {name: east, cluster: {server: %q, insecure-skip-tls-verify: true}}
- {name: west, cluster: {server: %q, insecure-skip-tls-verify: true}}
users:
- {name: u, user: {token: kubeconfig-token}}
contexts:
- {name: east, context: {cluster: east, user: u}}
- {name: west, context: {cluster: west, user: u}}
`, east, west)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const testCA = "-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n"

// TestRESTConfig: a kubeconfig and its context, or an API URL with a CA
// from a file or a URL and a token from a file or given, become a client
// configuration: read only, without a client timeout (it would cut
// watches), with ssm's user agent.
func TestRESTConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, tokenFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "token")
	for p, s := range map[string]string{caFile: testCA, tokenFile: "sa-token"} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ca.crt" || r.URL.Query().Get("sig") != "s3cr3t" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, testCA)
	}))
	t.Cleanup(caServer.Close)
	kc := kubeconfig(t, "https://east.example:6443", "https://west.example:6443")

	for _, tt := range []struct {
		name               string
		c                  source.Connection
		host, token, tFile string
		ca                 string
	}{
		{name: "kubeconfig", c: source.Connection{KubeConfig: kc}, host: "https://east.example:6443", token: "kubeconfig-token"},
		{name: "kubeconfig context", c: source.Connection{KubeConfig: kc, Context: "west"}, host: "https://west.example:6443", token: "kubeconfig-token"},
		{name: "CA and token files", c: source.Connection{APIURL: "https://api.example", CAURL: caFile, TokenPath: tokenFile}, host: "https://api.example", tFile: tokenFile, ca: testCA},
		{name: "CA URL, token given", c: source.Connection{APIURL: "https://api.example", CAURL: caServer.URL + "/ca.crt?sig=s3cr3t", Token: "literal"}, host: "https://api.example", token: "literal", ca: testCA},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.c.UserAgent = "ssm/test"
			cfg, err := source.RESTConfig(t.Context(), tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tt.host || cfg.BearerToken != tt.token || cfg.BearerTokenFile != tt.tFile || tt.ca != "" && string(cfg.CAData) != tt.ca {
				t.Errorf("config: host %q, token %q, token file %q, CA %q; want %q, %q, %q, %q", cfg.Host, cfg.BearerToken, cfg.BearerTokenFile, cfg.CAData, tt.host, tt.token, tt.tFile, tt.ca)
			}
			if cfg.UserAgent != "ssm/test" || cfg.Timeout != 0 || cfg.QPS != 20 || cfg.Burst != 40 {
				t.Errorf("config: user agent %q, timeout %s, QPS %v, burst %d; want ssm/test, 0, 20, 40", cfg.UserAgent, cfg.Timeout, cfg.QPS, cfg.Burst)
			}
		})
	}
}

// TestRESTConfigErrors: what cannot be read is an error naming the remote,
// with the secrets of its URLs masked.
func TestRESTConfigErrors(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte(testCA), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		fmt.Fprint(w, testCA[:20]) // and the connection ends
	}))
	t.Cleanup(cut.Close)
	closed := httptest.NewServer(nil)
	closed.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	// Outside a cluster: no in-cluster service account.
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")

	for _, tt := range []struct {
		name string
		ctx  context.Context
		c    source.Connection
		want string
	}{
		{name: "invalid", c: source.Connection{Context: "c"}, want: "a kubeconfig context needs a kubeconfig"},
		{name: "missing kubeconfig", c: source.Connection{KubeConfig: filepath.Join(dir, "none")}, want: "configure client of kubeconfig " + filepath.Join(dir, "none") + ": "},
		{name: "missing context", c: source.Connection{KubeConfig: kubeconfig(t, "https://e", "https://w"), Context: "north"}, want: `context "north" does not exist`},
		{name: "missing CA file", c: source.Connection{APIURL: "https://u:SECRET@api", CAURL: filepath.Join(dir, "none"), Token: "t"},
			want: "configure client of https://xxxxx@api: read CA: open " + filepath.Join(dir, "none")},
		{name: "missing token file", c: source.Connection{APIURL: "https://api", CAURL: caFile, TokenPath: filepath.Join(dir, "none")}, want: "configure client of https://api: token: stat "},
		{name: "CA URL refuses", c: source.Connection{APIURL: "https://api", CAURL: "http://u:SECRET@" + host + "/ca.crt?sig=SECRET", Token: "t"},
			want: "fetch CA from http://xxxxx@" + host + "/ca.crt?sig=xxxxx: 403 Forbidden"},
		{name: "CA URL unreachable", c: source.Connection{APIURL: "https://api", CAURL: closed.URL + "/ca.crt?sig=SECRET", Token: "t"},
			want: "fetch CA from " + closed.URL + "/ca.crt?sig=xxxxx: dial tcp "},
		{name: "CA URL cut short", c: source.Connection{APIURL: "https://api", CAURL: cut.URL + "/ca.crt?sig=SECRET", Token: "t"},
			want: "fetch CA from " + cut.URL + "/ca.crt?sig=xxxxx: unexpected EOF"},
		{name: "CA URL cancelled", ctx: cancelled, c: source.Connection{APIURL: "https://api", CAURL: srv.URL + "/ca.crt", Token: "t"}, want: "context canceled"},
		{name: "CA URL malformed", c: source.Connection{APIURL: "https://api", CAURL: "http://[::1/ca?sig=SECRET", Token: "t"}, want: "fetch CA from http://[::1/ca?sig=xxxxx: "},
		{name: "in cluster", c: source.Connection{}, want: "configure client of in-cluster service account: unable to load in-cluster configuration"},
	} {
		ctx := tt.ctx
		if ctx == nil {
			ctx = t.Context()
		}
		_, err := source.RESTConfig(ctx, tt.c)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: error = %v, want %q without the secret", tt.name, err, tt.want)
		}
		if tt.ctx != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error = %v, want context.Canceled", tt.name, err)
		}
	}
}

// TestNewClientErrors: a configuration client-go cannot build a client of
// is an error.
func TestNewClientErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  *rest.Config
		want string
	}{
		{cfg: &rest.Config{Host: "https://api", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("not PEM")}}, want: "http client: "},
		{cfg: &rest.Config{Host: "https://a b"}, want: "v1 client: host must be a URL"},
	} {
		if _, err := source.NewClient(tt.cfg); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("NewClient(%s): error = %v, want %q", tt.cfg.Host, err, tt.want)
		}
	}
}
