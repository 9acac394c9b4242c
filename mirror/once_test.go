package mirror_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubetest"
	"github.com/ssm-dev/ssm/mirror"
	"github.com/ssm-dev/ssm/source"
)

func TestRunOnceFlat(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	cfg := flatConfig(t)
	rep, err := mirror.RunOnce(t.Context(), cfg, dirSink(dir),
		mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web", "api")})})
	if err != nil {
		t.Fatal(err)
	}
	got := mirrorsIn(readDir(t, dir))
	slices.Sort(got)
	want := []string{"east-shop-73736d-api.yaml", "east-shop-73736d-web.yaml"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if len(rep.Render.Mirrors) != 2 || !rep.Sync.Changed || len(rep.Sync.Added) != 3 {
		t.Errorf("report = %+v", rep)
	}
	// The same state again writes nothing.
	rep, err = mirror.RunOnce(t.Context(), cfg, dirSink(dir),
		mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web", "api")})})
	if err != nil || rep.Sync.Changed {
		t.Errorf("second render: changed %v, err %v", rep.Sync.Changed, err)
	}
}

// TestRunOnceTree renders two remotes, one directory each, from the same
// fakes that RunOnce reads, and equals generate.Tree on the same state.
func TestRunOnceTree(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	cfg := treeConfig(t)
	fakes := map[string]kubernetes.Interface{"east": remote(t, "web"), "west": remote(t, "api", "db")}
	rep, err := mirror.RunOnce(t.Context(), cfg, dirSink(dir), mirror.Options{Connect: clients(fakes)})
	if err != nil {
		t.Fatal(err)
	}
	files := readDir(t, dir)
	for _, want := range []string{"east/east-shop-73736d-web.yaml", "west/west-shop-73736d-api.yaml", "west/west-shop-73736d-db.yaml", "kustomization.yaml"} {
		if _, ok := files[want]; !ok {
			t.Errorf("%s not written; files: %v", want, slices.Sorted(func(yield func(string) bool) {
				for p := range files {
					if !yield(p) {
						return
					}
				}
			}))
		}
	}
	if n := len(rep.Render.Mirrors); n != 3 || rep.Render.Mirrors[0].Cluster != "east" {
		t.Errorf("mirrors = %+v", rep.Render.Mirrors)
	}
}

// TestRunOnceFailure: any cluster that cannot be read fails the render,
// naming it and what was read, and nothing is written.
func TestRunOnceFailure(t *testing.T) {
	t.Parallel()
	broken := remote(t, "web")
	broken.PrependReactor("list", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	tests := []struct {
		name  string
		cfg   config.Config
		fakes map[string]kubernetes.Interface
		want  string
	}{
		{name: "flat", cfg: flatConfig(t), fakes: map[string]kubernetes.Interface{"east": broken}, want: "read remote in-cluster service account: list services: connection refused"},
		{name: "tree, list fails", cfg: treeConfig(t), fakes: map[string]kubernetes.Interface{"east": remote(t, "web"), "west": broken},
			want: "west (mirror Services): read cluster west kubeconfig unused: list services: connection refused"},
		{name: "tree, no client", cfg: treeConfig(t), fakes: map[string]kubernetes.Interface{"east": remote(t, "web")},
			want: "west (mirror Services): no such cluster: west"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			_, err := mirror.RunOnce(t.Context(), tt.cfg, dirSink(dir), mirror.Options{Connect: clients(tt.fakes)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if files := readDir(t, dir); len(files) > 0 {
				t.Errorf("wrote %d files despite the error", len(files))
			}
		})
	}
}

// TestRunOnceNodePortManual: in NodePort mode the local cluster's
// hand-written Services are read too, and a failure to read it says how
// to do without.
func TestRunOnceNodePortManual(t *testing.T) {
	t.Parallel()
	ov := config.Overrides{Mode: str("nodeport"), FromFile: str("../testdata/render/nodeport-snapshot.yaml"),
		LocalFromFile: str("../testdata/render/nodeport-local.yaml")}
	cfg, err := config.Resolve("", ov)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep, err := mirror.RunOnce(t.Context(), cfg, streamSink{&out}, mirror.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "name: baz") || rep.Render.Objects["Namespace"] == 0 {
		t.Errorf("manual Service or namespaces missing: %v\n%s", rep.Render.Objects, out.String())
	}
	ov.LocalFromFile = str("/nonexistent/local.yaml")
	if cfg, err = config.Resolve("", ov); err != nil {
		t.Fatal(err)
	}
	_, err = mirror.RunOnce(t.Context(), cfg, streamSink{&out}, mirror.Options{})
	if err == nil || !strings.Contains(err.Error(), "NodePort mode reads the local cluster, never writing it") {
		t.Errorf("err = %v, want the hint", err)
	}
}

// streamSink concatenates what it is given; it stores nothing.
type streamSink struct{ w *strings.Builder }

func (s streamSink) Sync(_ context.Context, plan fileset.Plan) (fileset.Result, error) {
	w, err := plan(emptyStored{})
	if err != nil {
		return fileset.Result{}, err
	}
	for _, p := range w.Files.Paths() {
		if !strings.HasSuffix(p, generate.KustomizationFile) {
			s.w.Write(w.Files[p])
		}
	}
	return fileset.Result{}, nil
}

// unreachableAPI is a flat configuration of an API server that does not
// answer: its TLS server is closed.
func unreachableAPI(t *testing.T) config.Config {
	t.Helper()
	srv := httptest.NewTLSServer(nil)
	dir := t.TempDir()
	ca, token := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := srv.URL
	srv.Close()
	cfg, err := config.Resolve("", config.Overrides{LabelSelector: str("mirror=true"), ServicePrefix: str("east"), MirrorNamespace: str("mirrors"),
		APIURL: str(url), CAURL: str(ca), TokenPath: str(token), Timeout: ptr(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRunOnceLive reads through a real client: an API server that does not
// answer fails the render with the server named.
func TestRunOnceLive(t *testing.T) {
	t.Parallel()
	cfg := unreachableAPI(t)
	_, err := mirror.RunOnce(t.Context(), cfg, dirSink(filepath.Join(t.TempDir(), "out")), mirror.Options{})
	if err == nil || !strings.Contains(err.Error(), "read remote "+cfg.Clusters[0].Conn.APIURL) {
		t.Errorf("err = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestRunOnceFailureMCS: the MCS API mirrors nothing, so a remote it
// cannot read is named by what is read of it, the Services it exports.
func TestRunOnceFailureMCS(t *testing.T) {
	t.Parallel()
	connect := func(context.Context, config.Cluster) (source.Client, error) {
		return forbidExports{kubetest.Client(remote(t, "web"))}, nil
	}
	_, err := mirror.RunOnce(t.Context(), mcsConfig(t), dirSink(filepath.Join(t.TempDir(), "out")), mirror.Options{Connect: connect})
	want := `east (exported Services): read cluster east kubeconfig unused: list serviceexports: serviceexports.multicluster.x-k8s.io is forbidden: User "east-reader" cannot list resource "serviceexports"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v, want it to begin %q", err, want)
	}
}

// forbidExports is a client whose user may not list ServiceExports.
type forbidExports struct{ source.Client }

func (f forbidExports) List(ctx context.Context, resource, ns string, o metav1.ListOptions) (runtime.Object, error) {
	if resource == source.ServiceExportsResource {
		gr := schema.GroupResource{Group: "multicluster.x-k8s.io", Resource: resource}
		return nil, apierrors.NewForbidden(gr, "", errors.New(`User "east-reader" cannot list resource "serviceexports"`))
	}
	return f.Client.List(ctx, resource, ns, o)
}

// mcsConfig is one remote, east, rendered into the Multi-Cluster Services
// API, the local cluster read from a snapshot.
func mcsConfig(t *testing.T) config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(`
global: {api: mcs, mcs: {clusterSetIPRanges: [10.96.240.0/24]}}
remoteClusters:
- {name: east, kubeConfigPath: unused}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Resolve(p, config.Overrides{LocalFromFile: str(abs(t, "../testdata/render/mcs-local.yaml"))})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
