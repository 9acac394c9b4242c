package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/pager"

	"github.com/ssm-dev/ssm/internal/redact"
)

// Connection says how to reach a remote API server: a kubeconfig (exec
// plugins included), an API URL with CA and token as semaphore-service-mirror
// takes them, or, when neither is given, the in-cluster service account.
type Connection struct {
	KubeConfig string
	Context    string
	APIURL     string
	CAURL      string // an http(s) URL to fetch the CA bundle from, or a file path
	TokenPath  string // re-read by client-go as bound tokens rotate
	Token      string // a literal token, when no TokenPath is given
	UserAgent  string
	// Timeout bounds each list request; 0 means none. Watches are not
	// bounded by it: they last as long as the server keeps them open.
	Timeout time.Duration
}

// Validate reports a connection that names conflicting or incomplete ways in.
func (c Connection) Validate() error {
	switch {
	case c.KubeConfig != "" && c.APIURL != "":
		return errors.New("give either a kubeconfig or a remote API URL, not both")
	case c.APIURL != "" && c.CAURL == "":
		return errors.New("a remote API URL needs a remote CA URL or file")
	case c.APIURL != "" && c.TokenPath == "" && c.Token == "":
		return errors.New("a remote API URL needs a service account token path (or the token in the environment)")
	case c.APIURL == "" && (c.CAURL != "" || c.TokenPath != ""):
		return errors.New("a remote CA or token path needs a remote API URL")
	case c.Context != "" && c.KubeConfig == "":
		return errors.New("a kubeconfig context needs a kubeconfig")
	}
	return nil
}

// Given reports whether any way to reach a remote was named.
func (c Connection) Given() bool {
	return c.KubeConfig != "" || c.Context != "" || c.APIURL != "" || c.CAURL != "" || c.TokenPath != ""
}

// Describe names the remote for logs and errors.
func (c Connection) Describe() string {
	switch {
	case c.KubeConfig != "" && c.Context != "":
		return fmt.Sprintf("kubeconfig %s (context %s)", c.KubeConfig, c.Context)
	case c.KubeConfig != "":
		return "kubeconfig " + c.KubeConfig
	case c.APIURL != "":
		return DisplayHost(c.APIURL)
	default:
		return "in-cluster service account"
	}
}

// RESTConfig builds the client configuration for c. Fetching a CA from a URL
// honours ctx.
func RESTConfig(ctx context.Context, c Connection) (*rest.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var cfg *rest.Config
	var err error
	switch {
	case c.KubeConfig != "":
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: c.KubeConfig},
			&clientcmd.ConfigOverrides{CurrentContext: c.Context},
		).ClientConfig()
	case c.APIURL != "":
		cfg, err = apiURLConfig(ctx, c)
	default:
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("configure client of %s: %w", c.Describe(), redact.Error(err, c.APIURL, c.CAURL))
	}
	cfg.UserAgent = c.UserAgent
	// Not cfg.Timeout: an http.Client timeout cuts every watch after it,
	// and client-go cannot cancel a request through a wrapped transport
	// (Reachability) that way. Lists take a deadline of their own.
	cfg.Timeout = 0
	// Reads only, but informers on a large cluster list a lot at start.
	cfg.QPS, cfg.Burst = 20, 40
	return cfg, nil
}

func apiURLConfig(ctx context.Context, c Connection) (*rest.Config, error) {
	ca, err := readCA(ctx, c.CAURL)
	if err != nil {
		return nil, err
	}
	cfg := &rest.Config{Host: c.APIURL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	if c.TokenPath != "" {
		if _, err := os.Stat(c.TokenPath); err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		cfg.BearerTokenFile = c.TokenPath
	} else {
		cfg.BearerToken = c.Token
	}
	return cfg, nil
}

func readCA(ctx context.Context, where string) ([]byte, error) {
	if !strings.HasPrefix(where, "https://") && !strings.HasPrefix(where, "http://") {
		b, err := os.ReadFile(where)
		if err != nil {
			return nil, fmt.Errorf("read CA: %w", err)
		}
		return b, nil
	}
	shown := redact.URL(where)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", shown, redact.Error(err, where))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", shown, redact.Error(unquoted(err), where))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch CA from %s: %s", shown, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", shown, redact.Error(unquoted(err), where))
	}
	return b, nil
}

// unquoted returns the error under a *url.Error, which repeats the URL the
// message names already.
func unquoted(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// DisplayHost is an API server URL (a rest.Config's Host) for messages:
// redacted, and with the https:// client-go puts before an address without
// a scheme, so that its user information is known for what it is.
func DisplayHost(raw string) string {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	return redact.URL(raw)
}

// List reads the selected objects once, server-side label-selected and in
// pages, across all namespaces or the selection's one; timeout (0: none)
// bounds each page.
func List(ctx context.Context, client Client, sel Selection, timeout time.Duration) (State, error) {
	selector, api, err := sel.parse()
	if err != nil {
		return State{}, err
	}
	rs, selectors, err := sel.resources()
	if err != nil {
		return State{}, err
	}
	var st State
	for i, r := range rs {
		list := func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.List(ctx, r.name, r.namespaceOf(sel), o)
		}
		add := st.adder(r, filter{selector, api, sel})
		if err := eachItem(ctx, list, timeout, r.name, metav1.ListOptions{LabelSelector: selectors[i]}, add); err != nil {
			return State{}, err
		}
	}
	return st, nil
}

// adder is how List adds an object of r to st: the same path a snapshot
// takes.
func (st *State) adder(r resource, f filter) func(runtime.Object) error {
	switch {
	case r.transform != nil: // the Multi-Cluster Services API's
		return func(obj runtime.Object) error {
			o, err := r.transform(obj)
			if err != nil {
				return err
			}
			st.addMCS(o)
			return nil
		}
	case r.name == NodesResource:
		return func(obj runtime.Object) error {
			st.addNode(obj.(*corev1.Node), true)
			return nil
		}
	case r.name == NamespacesResource:
		return func(obj runtime.Object) error {
			st.addNamespace(obj.(*corev1.Namespace), true)
			return nil
		}
	}
	return func(obj runtime.Object) error {
		st.add(obj, f)
		return nil
	}
}

// eachItem calls fn with every item of a resource's list, read in pages of
// 500, each page bounded by timeout (0: none).
func eachItem(ctx context.Context, list pager.ListPageFunc, timeout time.Duration, resource string, opts metav1.ListOptions, fn func(runtime.Object) error) error {
	p := pager.New(withTimeout(list, timeout))
	p.PageSize = 500
	if err := p.EachListItem(ctx, opts, fn); err != nil {
		return fmt.Errorf("list %s: %w", resource, err)
	}
	return nil
}

// CountServices returns how many Services the cluster holds, selected or
// not, in namespace ("": all of them): one request for one item, whose
// list says how many remain. It tells an empty cluster from a selector
// that matches nothing.
func CountServices(ctx context.Context, client Client, namespace string, timeout time.Duration) (int, error) {
	list := withTimeout(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return client.List(ctx, ServicesResource, namespace, o)
	}, timeout)
	obj, err := list(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("count services: %w", err)
	}
	l, ok := obj.(*corev1.ServiceList)
	if !ok {
		return 0, fmt.Errorf("count services: got a %T", obj)
	}
	n := len(l.Items)
	if l.RemainingItemCount != nil {
		n += int(*l.RemainingItemCount)
	}
	return n, nil
}

// withTimeout bounds each call of list by timeout (0: none).
func withTimeout(list pager.ListPageFunc, timeout time.Duration) pager.ListPageFunc {
	if timeout <= 0 {
		return list
	}
	return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return list(ctx, o)
	}
}
