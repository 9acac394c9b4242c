package mirror_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubetest"
	"github.com/ssm-dev/ssm/mirror"
	"github.com/ssm-dev/ssm/source"
)

var selected = map[string]string{"mirror": "true"}

func service(ns, name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: selected},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
}

func endpoints(ns, name string, ips ...string) *corev1.Endpoints {
	ss := corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}
	for _, ip := range ips {
		ss.Addresses = append(ss.Addresses, corev1.EndpointAddress{IP: ip})
	}
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: selected}, Subsets: []corev1.EndpointSubset{ss}}
}

// remote is a fake cluster holding a Service with one endpoint per name.
func remote(t *testing.T, names ...string) *fake.Clientset {
	t.Helper()
	var objs []runtime.Object
	for i, n := range names {
		objs = append(objs, service("shop", n), endpoints("shop", n, "10.0.0."+string(rune('1'+i))))
	}
	return fake.NewClientset(objs...)
}

func str(s string) *string { return &s }

// flatConfig is one remote, east, as plain flags describe it.
func flatConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Resolve("", config.Overrides{LabelSelector: str("mirror=true"), ServicePrefix: str("east"), MirrorNamespace: str("mirrors")})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// treeConfig is two remotes, east and west, in a configuration file.
func treeConfig(t *testing.T) config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(`
global: {mirrorNamespace: mirrors, mirrorSvcLabelSelector: mirror=true}
remoteClusters:
- {name: east, servicePrefix: east, kubeConfigPath: unused}
- {name: west, servicePrefix: west, kubeConfigPath: unused}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Resolve(p, config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// clients connects each cluster to its fake; a cluster without one fails.
func clients(m map[string]kubernetes.Interface) func(context.Context, config.Cluster) (source.Client, error) {
	return func(_ context.Context, c config.Cluster) (source.Client, error) {
		if cl, ok := m[c.Name]; ok {
			return kubetest.Client(cl), nil
		}
		return nil, errors.New("no such cluster: " + c.Name)
	}
}

// recorder is a sink that records every sync it passes on to a directory.
type recorder struct {
	fileset.DirSink
	mu      sync.Mutex
	results []fileset.Result
}

func (r *recorder) Sync(ctx context.Context, plan fileset.Plan) (fileset.Result, error) {
	res, err := r.DirSink.Sync(ctx, plan)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.results = append(r.results, res)
	}
	return res, err
}

// syncs counts the syncs, and those that changed something.
func (r *recorder) syncs() (all, changed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range r.results {
		if res.Changed {
			changed++
		}
	}
	return len(r.results), changed
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-") { // a write in progress
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer is a logger whose output a test can read while Run writes it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

var fastTiming = mirror.Timing{Debounce: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond}

// noWatchList turns off the WatchList streams the fake clientset cannot
// serve: informers would never sync.
func noWatchList(t *testing.T) {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
}

// started runs mirror.Run until the test ends, and reports its error.
func started(t *testing.T, cfg config.Config, sink mirror.Sink, opts mirror.Options) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- mirror.Run(ctx, cfg, sink, opts) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return after its context ended")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func mirrorsIn(files map[string]string) []string {
	var out []string
	for p := range files {
		if !strings.HasSuffix(p, generate.KustomizationFile) && p != mirror.RevisionsFile {
			out = append(out, p)
		}
	}
	return out
}

// dirSink writes dir as ssm does, with its ownership mark.
func dirSink(dir string) fileset.DirSink {
	return fileset.DirSink{Dir: dir, Ownership: mirror.Ownership}
}

type emptyStored struct{}

func (emptyStored) Files() fileset.Files { return fileset.Files{} }
func (emptyStored) Message() string      { return "" }

var servicesGVR = corev1.SchemeGroupVersion.WithResource("services")
