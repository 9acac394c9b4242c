package migrate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/internal/kubetest"
)

func meta(ns, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}
}

var (
	mirrorOf = func(prefix string) map[string]string {
		return map[string]string{labelMirrored: "true", labelPrefix: prefix}
	}
	global  = map[string]string{labelGlobal: "true"}
	sliceOf = func(svc, cluster string) map[string]string {
		return map[string]string{labelGlobalSlice: "true", labelSliceCluster: cluster, labelServiceName: svc}
	}
)

// TestSemaphoreServiceMirror: of what semaphore-service-mirror v0.4 wrote
// into the mirror namespace, the leftovers are what ssm does not render:
// mirrors whose remote Service is gone or whose remote left the
// configuration, their Endpoints, the Endpoints of mirrors ssm renders with
// slices, global Services no cluster selects, and every global slice named
// after a remote slice. What ssm renders under the same kind and name, what
// ssm labelled as its own, and what lies outside the namespace or lacks the
// labels are not.
func TestSemaphoreServiceMirror(t *testing.T) {
	const ns = "semaphore"
	objs := []runtime.Object{
		&corev1.Service{ObjectMeta: meta(ns, "east-shop-73736d-web", mirrorOf("east"))},                           // rendered: taken over
		&corev1.Endpoints{ObjectMeta: meta(ns, "east-shop-73736d-web", mirrorOf("east"))},                         // ssm renders slices: left
		&corev1.Service{ObjectMeta: meta(ns, "east-shop-73736d-old", mirrorOf("east"))},                           // remote gone: left
		&corev1.Endpoints{ObjectMeta: meta(ns, "east-shop-73736d-old", mirrorOf("east"))},                         // with it
		&corev1.Service{ObjectMeta: meta(ns, "north-shop-73736d-web", mirrorOf("north"))},                         // remote no longer configured
		&corev1.Service{ObjectMeta: meta(ns, "west-shop-73736d-api", mirrorOf("west"))},                           // rendered
		&corev1.Endpoints{ObjectMeta: meta(ns, "west-shop-73736d-api", mirrorOf("west"))},                         // rendered as Endpoints: taken over
		&corev1.Service{ObjectMeta: meta(ns, "gl-shop-73736d-cart", global)},                                      // rendered
		&corev1.Service{ObjectMeta: meta(ns, "gl-shop-73736d-gone", global)},                                      // no longer global
		&discoveryv1.EndpointSlice{ObjectMeta: meta(ns, "gl-cart-x7k2p", sliceOf("gl-shop-73736d-cart", "east"))}, // named after a remote slice
		&discoveryv1.EndpointSlice{ObjectMeta: meta(ns, "gl-gone-abcde", sliceOf("gl-shop-73736d-gone", "west"))},
		&discoveryv1.EndpointSlice{ObjectMeta: meta(ns, "gl-shop-73736d-cart-east-ipv4", sliceOf("gl-shop-73736d-cart", "east"))}, // ssm's name
		&corev1.Service{ObjectMeta: meta(ns, "east-shop-73736d-new", map[string]string{labelMirrored: "true", labelPrefix: "east", labelManagedBy: "ssm"})},
		&corev1.Service{ObjectMeta: meta(ns, "unrelated", nil)},
		&corev1.Service{ObjectMeta: meta("elsewhere", "east-shop-73736d-x", mirrorOf("east"))},
	}
	rendered := fileset.Files{
		"east/east-shop-73736d-web.yaml": []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: east-shop-73736d-web\n  namespace: semaphore\n---\n" +
			"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: east-shop-73736d-web-ipv4\n  namespace: semaphore\n"),
		"west/west-shop-73736d-api.yaml":       []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: west-shop-73736d-api\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: west-shop-73736d-api\n"),
		"global/gl-shop-73736d-cart.yaml":      []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: gl-shop-73736d-cart\n"),
		"global/east/gl-shop-73736d-cart.yaml": []byte("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: gl-shop-73736d-cart-east-ipv4\n"),
		"kustomization.yaml":                   []byte("resources:\n- east\n"),
	}
	got, err := SemaphoreServiceMirror(t.Context(), Options{Client: kubetest.Client(fake.NewClientset(objs...)), Namespace: ns, Rendered: rendered,
		Prefixes: []string{"east", "west"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range got {
		names = append(names, l.Kind+" "+l.Name+": "+l.Why[:strings.Index(l.Why+":", ":")])
	}
	want := []string{
		"Service east-shop-73736d-old: a mirror Service ssm does not render",
		"Service north-shop-73736d-web: a mirror Service ssm does not render",
		"Endpoints east-shop-73736d-old: the Endpoints of a mirror Service ssm does not render",
		"Endpoints east-shop-73736d-web: the Endpoints of a mirror ssm renders with EndpointSlices (endpointsAPI)",
		"Service gl-shop-73736d-gone: a global Service ssm does not render",
		"EndpointSlice gl-cart-x7k2p: an EndpointSlice of the global Service gl-shop-73736d-cart from cluster east, named after the remote slice it copied",
		"EndpointSlice gl-gone-abcde: an EndpointSlice of the global Service gl-shop-73736d-gone, which ssm does not render",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("leftovers (-want +got):\n%s", diff)
	}
	if why := got[1].Why; !strings.Contains(why, "(servicePrefix north) the configuration no longer names") {
		t.Errorf("north's mirror: %s", why)
	}
}

// TestOutputs: the script deletes each leftover by kind, namespace and
// name, under its reason; the List names each for kubectl delete -f.
func TestOutputs(t *testing.T) {
	ls := []Leftover{
		{APIVersion: "v1", Kind: "Service", Resource: "services", Namespace: "semaphore", Name: "east-shop-73736d-old", Why: "gone"},
		{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice", Resource: "endpointslices", Namespace: "semaphore", Name: "gl-cart-x7k2p", Why: "named\nafter"},
	}
	var script strings.Builder
	if err := Script(&script, "kubeconfig local", ls); err != nil {
		t.Fatal(err)
	}
	want := `#!/bin/sh
# What semaphore-service-mirror left in kubeconfig local that ssm does not render: 2 object(s).
# Run it once ssm's render is applied and semaphore-service-mirror is stopped.
set -e

# gone
kubectl delete --ignore-not-found --namespace semaphore services east-shop-73736d-old

# named after
kubectl delete --ignore-not-found --namespace semaphore endpointslices gl-cart-x7k2p
`
	if diff := cmp.Diff(want, script.String()); diff != "" {
		t.Errorf("script (-want +got):\n%s", diff)
	}
	var list strings.Builder
	if err := List(&list, ls[:1]); err != nil {
		t.Fatal(err)
	}
	wantList := `apiVersion: v1
items:
- apiVersion: v1
  kind: Service
  metadata:
    annotations:
      ssm.dev/migrate-reason: gone
    name: east-shop-73736d-old
    namespace: semaphore
kind: List
`
	if diff := cmp.Diff(wantList, list.String()); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	if q := shellQuote("a'b c"); q != `'a'\''b c'` {
		t.Errorf("shellQuote = %s", q)
	}
}

// listFunc is a source.Client whose lists are a function's.
type listFunc func(ctx context.Context, resource, namespace string, opts metav1.ListOptions) (runtime.Object, error)

func (f listFunc) List(ctx context.Context, resource, namespace string, opts metav1.ListOptions) (runtime.Object, error) {
	return f(ctx, resource, namespace, opts)
}

func (listFunc) Watch(context.Context, string, string, metav1.ListOptions) (watch.Interface, error) {
	return nil, errors.New("migrate never watches")
}

// TestSemaphoreServiceMirrorErrors: a list that fails names what was
// listed and where; a list of another kind, or a rendered file that is not
// YAML, is an error, not an empty answer.
func TestSemaphoreServiceMirrorErrors(t *testing.T) {
	t.Parallel()
	forbidden := listFunc(func(context.Context, string, string, metav1.ListOptions) (runtime.Object, error) {
		return nil, errors.New(`services is forbidden: User "migrate" cannot list resource "services"`)
	})
	wrongKind := listFunc(func(context.Context, string, string, metav1.ListOptions) (runtime.Object, error) {
		return &corev1.NodeList{}, nil
	})
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{name: "forbidden", opts: Options{Client: forbidden, Namespace: "semaphore"},
			want: `list services -l mirrored-svc=true in namespace semaphore: services is forbidden: User "migrate" cannot list resource "services"`},
		{name: "wrong kind", opts: Options{Client: wrongKind, Namespace: "semaphore"}, want: "list services: got a *v1.NodeList"},
		{name: "rendered not YAML", opts: Options{Client: wrongKind, Rendered: fileset.Files{"east/a.yaml": []byte("kind: [Service\n")}},
			want: "read rendered east/a.yaml: "},
	} {
		_, err := SemaphoreServiceMirror(t.Context(), tc.opts)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestSemaphoreServiceMirrorTimeout: each list has the deadline of
// Options.Timeout, and none without it.
func TestSemaphoreServiceMirrorTimeout(t *testing.T) {
	t.Parallel()
	for _, timeout := range []time.Duration{0, time.Minute} {
		var deadlines []time.Duration
		c := listFunc(func(ctx context.Context, resource, _ string, _ metav1.ListOptions) (runtime.Object, error) {
			if d, ok := ctx.Deadline(); ok {
				deadlines = append(deadlines, time.Until(d).Round(time.Minute))
			} else {
				deadlines = append(deadlines, 0)
			}
			return kubetest.Client(fake.NewClientset()).List(ctx, resource, "semaphore", metav1.ListOptions{})
		})
		if _, err := SemaphoreServiceMirror(t.Context(), Options{Client: c, Namespace: "semaphore", Timeout: timeout}); err != nil {
			t.Fatal(err)
		}
		if want := []time.Duration{timeout, timeout, timeout, timeout}; !slices.Equal(deadlines, want) {
			t.Errorf("timeout %v: deadlines %v, want %v", timeout, deadlines, want)
		}
	}
}

// TestOutputWriteError: a script or List that cannot be written is an
// error, not a silent success.
func TestOutputWriteError(t *testing.T) {
	t.Parallel()
	ls := []Leftover{{APIVersion: "v1", Kind: "Service", Resource: "services", Namespace: "semaphore", Name: "old", Why: "gone"}}
	if err := Script(failing{}, "local", ls); err == nil {
		t.Error("Script: no error")
	}
	if err := List(failing{}, ls); err == nil {
		t.Error("List: no error")
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
