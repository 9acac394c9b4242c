package mirror_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/mirror"
)

// TestSelectorMatchingNothingWarns: a selector that matches none of a
// cluster's Services is said so, with how many it holds in all, by a
// render and by run's first sync; one that matches says nothing of it.
// Before, a mistyped selector rendered nothing and succeeded silently.
func TestSelectorMatchingNothingWarns(t *testing.T) {
	noWatchList(t)
	wrong, err := config.Resolve("", config.Overrides{LabelSelector: str("mirror=ture"), ServicePrefix: str("east"), MirrorNamespace: str("mirrors")})
	if err != nil {
		t.Fatal(err)
	}
	const want = `level=WARN msg="no Service matches the label selector: nothing of the cluster is mirrored" cluster=east labelSelector="mirror=ture" servicesInAll=3`
	for _, tc := range []struct {
		name string
		cfg  config.Config
		warn bool
	}{{"wrong selector", wrong, true}, {"right selector", flatConfig(t), false}} {
		t.Run(tc.name+"/render", func(t *testing.T) {
			var logs logBuffer
			_, err := mirror.RunOnce(t.Context(), tc.cfg, dirSink(filepath.Join(t.TempDir(), "out")),
				mirror.Options{Logger: logs.logger(), Connect: clients(map[string]kubernetes.Interface{"east": remote(t, "web", "api", "db")})})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logs.String(), want); got != tc.warn {
				t.Errorf("warned %v, want %v; log:\n%s", got, tc.warn, logs.String())
			}
		})
		t.Run(tc.name+"/run", func(t *testing.T) {
			var logs logBuffer
			sink := &recorder{DirSink: dirSink(t.TempDir())}
			fake := remote(t, "web", "api", "db")
			stop := started(t, tc.cfg, sink, mirror.Options{Logger: logs.logger(), Timing: fastTiming, Resync: time.Hour,
				Connect: clients(map[string]kubernetes.Interface{"east": fake})})
			waitFor(t, "the first sync", func() bool { all, _ := sink.syncs(); return all >= 1 })
			// A Service the selector matches: another sync, which warns no more.
			svc := service("shop", "new")
			svc.Labels = map[string]string{"mirror": map[bool]string{true: "ture", false: "true"}[tc.warn]}
			if _, err := fake.CoreV1().Services("shop").Create(t.Context(), svc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the second sync", func() bool { all, _ := sink.syncs(); return all >= 2 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(logs.String(), want); n != map[bool]int{true: 1, false: 0}[tc.warn] {
				t.Errorf("warned %d times over two syncs, want %v once; log:\n%s", n, tc.warn, logs.String())
			}
			// The first sync's phases at info, as render logs them; the second's not.
			if n := strings.Count(logs.String(), "level=INFO msg=rendered mirrors="); n != 1 || !strings.Contains(logs.String(), " took=") {
				t.Errorf("%d renders logged at info over two syncs, want the first; log:\n%s", n, logs.String())
			}
		})
	}
}
