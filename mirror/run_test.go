package mirror_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/mirror"
)

// observed records what Run reports.
type observed struct {
	mirror.NopObserver
	cachesSynced atomic.Bool
	watchErrors  atomic.Int32
	rendered     atomic.Int32
	mu           sync.Mutex
	syncErrs     []error
}

func (o *observed) CachesSynced()                           { o.cachesSynced.Store(true) }
func (o *observed) WatchError(string, string, error)        { o.watchErrors.Add(1) }
func (o *observed) Rendered(generate.Result, time.Duration) { o.rendered.Add(1) }
func (o *observed) Synced(_ fileset.Result, err error, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.syncErrs = append(o.syncErrs, err)
}

// TestRunFirstRenderThenNoOp: the first batch writes every mirror; later
// batches that change nothing (resyncs) write nothing.
func TestRunFirstRenderThenNoOp(t *testing.T) {
	noWatchList(t)
	dir := t.TempDir()
	sink := &recorder{DirSink: dirSink(dir)}
	obs := &observed{}
	started(t, flatConfig(t), sink, mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web", "api")}),
		Timing: fastTiming, Resync: time.Second, Observer: obs})
	waitFor(t, "the first render", func() bool { return len(mirrorsIn(readDir(t, dir))) == 2 })
	info, err := os.Stat(filepath.Join(dir, "east-shop-73736d-web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three syncs", func() bool { all, _ := sink.syncs(); return all >= 3 })
	if _, changed := sink.syncs(); changed != 1 {
		t.Errorf("%d syncs changed the directory, want only the first", changed)
	}
	if again, err := os.Stat(filepath.Join(dir, "east-shop-73736d-web.yaml")); err != nil || !again.ModTime().Equal(info.ModTime()) {
		t.Errorf("an unchanged file was rewritten: %v", err)
	}
	if !obs.cachesSynced.Load() || obs.rendered.Load() < 3 {
		t.Errorf("observer: caches synced %v, %d renders", obs.cachesSynced.Load(), obs.rendered.Load())
	}
}

// TestRunFollowsChanges: a Service created or deleted on the remote is
// written after the next batch.
func TestRunFollowsChanges(t *testing.T) {
	noWatchList(t)
	dir := t.TempDir()
	east := remote(t, "web")
	started(t, flatConfig(t), dirSink(dir), mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": east}), Timing: fastTiming})
	waitFor(t, "the first render", func() bool { return len(mirrorsIn(readDir(t, dir))) == 1 })
	ctx := t.Context()
	if _, err := east.CoreV1().Services("shop").Create(ctx, service("shop", "cart"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new Service", func() bool { _, ok := readDir(t, dir)["east-shop-73736d-cart.yaml"]; return ok })
	if err := east.CoreV1().Services("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted Service gone", func() bool { _, ok := readDir(t, dir)["east-shop-73736d-web.yaml"]; return !ok })
}

// outage makes a fake cluster unreachable on demand: its watches end and
// every list and watch fails until it is back.
type outage struct {
	client  *fake.Clientset
	down    atomic.Bool
	mu      sync.Mutex
	watches []watch.Interface
}

func newOutage(client *fake.Clientset) *outage {
	o := &outage{client: client}
	refused := errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	client.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return o.down.Load(), nil, refused
	})
	client.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if o.down.Load() {
			return true, nil, refused
		}
		var opts metav1.ListOptions
		if w, ok := a.(k8stesting.WatchActionImpl); ok {
			opts = w.ListOptions
		}
		w, err := client.Tracker().Watch(a.GetResource(), a.GetNamespace(), opts)
		o.mu.Lock()
		o.watches = append(o.watches, w)
		o.mu.Unlock()
		return true, w, err
	})
	return o
}

func (o *outage) stop() {
	o.down.Store(true)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.watches {
		w.Stop()
	}
	o.watches = nil
}

// TestRunOutageKeepsState: while east is down its last state is kept,
// even when it changed meanwhile, as renders for west go on; once east is
// back, its change goes through.
func TestRunOutageKeepsState(t *testing.T) {
	noWatchList(t)
	dir := t.TempDir()
	east, west := remote(t, "web", "api"), remote(t, "db")
	down := newOutage(east)
	obs := &observed{}
	started(t, treeConfig(t), dirSink(dir), mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": east, "west": west}),
		Timing: fastTiming, Observer: obs})
	waitFor(t, "the first render", func() bool { return len(mirrorsIn(readDir(t, dir))) == 3 })
	before := readDir(t, dir)
	down.stop()
	// Deleted while ssm cannot see it.
	if err := east.Tracker().Delete(servicesGVR, "shop", "api"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed list", func() bool { return obs.watchErrors.Load() > 0 })
	if _, err := west.CoreV1().Services("shop").Create(t.Context(), service("shop", "cart"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "west's change during the outage", func() bool { _, ok := readDir(t, dir)["west/west-shop-73736d-cart.yaml"]; return ok })
	got := readDir(t, dir)
	for p, b := range before {
		if strings.HasPrefix(p, "east/") && got[p] != b {
			t.Errorf("%s changed during east's outage", p)
		}
	}
	down.down.Store(false)
	waitFor(t, "the deletion after the outage", func() bool { _, ok := readDir(t, dir)["east/east-shop-73736d-api.yaml"]; return !ok })
}

// TestRunUnreadClusterKeepsStoredFiles: west cannot be read since the
// start: its stored files stay as they are, while east's changes go
// through; one cluster failing holds up no other.
func TestRunUnreadClusterKeepsStoredFiles(t *testing.T) {
	noWatchList(t)
	dir := t.TempDir()
	cfg := treeConfig(t)
	if _, err := mirror.RunOnce(t.Context(), cfg, dirSink(dir),
		mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web"), "west": remote(t, "api", "db")})}); err != nil {
		t.Fatal(err)
	}
	before := readDir(t, dir)
	west := remote(t)
	newOutage(west).down.Store(true)
	var logs logBuffer
	started(t, cfg, dirSink(dir), mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web", "cart"), "west": west}),
		Timing: fastTiming, Logger: logs.logger()})
	waitFor(t, "east's new Service", func() bool { _, ok := readDir(t, dir)["east/east-shop-73736d-cart.yaml"]; return ok })
	after := readDir(t, dir)
	for p, b := range before {
		if strings.HasPrefix(p, "west/") && after[p] != b {
			t.Errorf("%s changed while west was never read", p)
		}
	}
	if !strings.Contains(after["kustomization.yaml"], "- west\n") {
		t.Errorf("the root kustomization lost west:\n%s", after["kustomization.yaml"])
	}
	if !strings.Contains(logs.String(), "clusters not read yet keep their stored files") || !strings.Contains(logs.String(), "west/") {
		t.Errorf("the kept directories were not logged:\n%s", logs.String())
	}
}

// TestRunShutdown: Run returns nil soon after its context ends, whether
// or not its caches synced.
func TestRunShutdown(t *testing.T) {
	noWatchList(t)
	down := remote(t, "web")
	newOutage(down).down.Store(true)
	for name, client := range map[string]*fake.Clientset{"synced": remote(t, "web"), "never synced": down} {
		t.Run(name, func(t *testing.T) {
			obs := &observed{}
			stop := started(t, flatConfig(t), dirSink(t.TempDir()),
				mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": client}), Timing: fastTiming, Observer: obs})
			if name == "synced" {
				waitFor(t, "caches synced", obs.cachesSynced.Load)
			}
			start := time.Now()
			if err := stop(); err != nil {
				t.Errorf("Run = %v, want nil on shutdown", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Run took %s to stop", d)
			}
		})
	}
}

func TestRunSetupErrors(t *testing.T) {
	t.Parallel()
	fromFile := treeConfig(t)
	fromFile.Clusters[1].FromFile = "west.yaml"
	tests := []struct {
		name   string
		cfg    config.Config
		timing mirror.Timing
		want   string
	}{
		{name: "snapshot file", cfg: fromFile, timing: fastTiming, want: "cluster west: fromFile is for ssm render"},
		{name: "no client", cfg: treeConfig(t), timing: fastTiming, want: "no such cluster: west"},
		{name: "bad timing", cfg: treeConfig(t), timing: mirror.Timing{Debounce: time.Second}, want: "want 0 < debounce <= max delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mirror.Run(t.Context(), tt.cfg, dirSink(t.TempDir()),
				mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t)}), Timing: tt.timing})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRunRetriesFailedWrites: a sink that fails is retried with backoff
// until it succeeds, and the failures are reported.
func TestRunRetriesFailedWrites(t *testing.T) {
	noWatchList(t)
	sink := &flaky{DirSink: dirSink(t.TempDir())}
	sink.failures.Store(3)
	obs := &observed{}
	started(t, flatConfig(t), sink, mirror.Options{Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web")}), Timing: fastTiming, Observer: obs})
	waitFor(t, "a write after three failures", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return len(obs.syncErrs) == 4
	})
	if n := len(mirrorsIn(readDir(t, sink.Dir))); n != 1 {
		t.Errorf("%d mirrors written, want 1", n)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.syncErrs) != 4 || obs.syncErrs[0] == nil || obs.syncErrs[3] != nil {
		t.Errorf("reported syncs: %v, want three failures and a success", obs.syncErrs)
	}
}

type flaky struct {
	fileset.DirSink
	failures atomic.Int32
}

func (f *flaky) Sync(ctx context.Context, plan fileset.Plan) (fileset.Result, error) {
	if f.failures.Add(-1) >= 0 {
		return fileset.Result{}, errors.New("git server unreachable")
	}
	return f.DirSink.Sync(ctx, plan)
}

// TestRunUnreachable watches through a real client: a remote down at
// start is reported down, its failed requests are counted, nothing is
// written, and Run stops promptly.
func TestRunUnreachable(t *testing.T) {
	obs := &upObserver{}
	dir := t.TempDir()
	stop := started(t, unreachableAPI(t), dirSink(dir), mirror.Options{Timing: fastTiming, Observer: obs})
	waitFor(t, "the remote reported down", func() bool { return obs.reported.Load() })
	waitFor(t, "failed requests counted", func() bool { return obs.failures.Load() >= 2 })
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %s to stop with the remote down", d)
	}
	if obs.up.Load() || len(readDir(t, dir)) > 0 {
		t.Errorf("up %v, %d files written", obs.up.Load(), len(readDir(t, dir)))
	}
}

type upObserver struct {
	mirror.NopObserver
	reported, up atomic.Bool
	failures     atomic.Int32
}

func (o *upObserver) RemoteUp(_ string, up bool)       { o.up.Store(up); o.reported.Store(true) }
func (o *upObserver) WatchError(string, string, error) { o.failures.Add(1) }
