package generate_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// bigSnapshot is a `kubectl get -o yaml`-shaped List of n Services with
// addrs ready addresses each, and their Endpoints.
func bigSnapshot(b *testing.B, n, addrs int) []byte {
	b.Helper()
	list := corev1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}}
	add := func(o runtime.Object) {
		j, err := yaml.Marshal(o)
		if err != nil {
			b.Fatal(err)
		}
		j, err = yaml.YAMLToJSON(j)
		if err != nil {
			b.Fatal(err)
		}
		list.Items = append(list.Items, runtime.RawExtension{Raw: j})
	}
	labels := map[string]string{"mirror": "true", "app": "x"}
	for i := range n {
		meta := metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", i%50), Name: fmt.Sprintf("svc-%d", i), Labels: labels, UID: "0b6f8a4e-5d34-4f1e-9d7e-3a1b2c3d4e5f", ResourceVersion: "12345"}
		add(&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: meta,
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP}}}})
		ss := corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP}}}
		for a := range addrs {
			ss.Addresses = append(ss.Addresses, corev1.EndpointAddress{IP: fmt.Sprintf("10.%d.%d.%d", i/250%250, i%250, a+1),
				NodeName: ptr("node-1"), TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: meta.Namespace, Name: fmt.Sprintf("pod-%d-%d", i, a)}})
		}
		add(&corev1.Endpoints{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"}, ObjectMeta: meta, Subsets: []corev1.EndpointSubset{ss}})
	}
	out, err := yaml.Marshal(list)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// renderedObjects decodes every rendered document back into its typed
// object: exactly what the floor benchmark marshals.
func renderedObjects(b *testing.B, files map[string][]byte) []any {
	b.Helper()
	var objs []any
	for p, f := range files {
		if p == generate.KustomizationFile {
			continue
		}
		for d := range bytes.SplitSeq(f, []byte("---\n")) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(d, &tm); err != nil {
				b.Fatal(err)
			}
			var o any
			switch tm.Kind {
			case "Service":
				o = &corev1.Service{}
			case "Endpoints":
				o = &corev1.Endpoints{}
			case "EndpointSlice":
				o = &discoveryv1.EndpointSlice{}
			}
			if err := yaml.Unmarshal(d, o); err != nil {
				b.Fatal(err)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// BenchmarkRender renders 10,000 remote Services with 10 addresses each,
// read from a snapshot, next to the floor: marshalling the same output
// objects with sigs.k8s.io/yaml and nothing else. It reports the ratio as x-floor.
func BenchmarkRender(b *testing.B) {
	for _, api := range []kubeapi.EndpointsAPI{kubeapi.Endpoints, kubeapi.Both} {
		b.Run(string(api), func(b *testing.B) {
			st, err := source.Parse(bytes.NewReader(bigSnapshot(b, 10000, 10)), source.Selection{LabelSelector: "mirror=true"})
			if err != nil {
				b.Fatal(err)
			}
			state := stateOf(st)
			opts := generate.Options{Cluster: "east", ServicePrefix: "east", MirrorNamespace: "mirrors", EndpointsAPI: api}
			res, err := generate.Manifests(state, opts)
			if err != nil || len(res.Mirrors) != 10000 {
				b.Fatalf("%d mirrors, %v", len(res.Mirrors), err)
			}
			objs := renderedObjects(b, res.Files)
			var floor time.Duration
			b.Run("floor-yaml-marshal", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					for _, o := range objs {
						if _, err := yaml.Marshal(o); err != nil {
							b.Fatal(err)
						}
					}
				}
				floor = b.Elapsed() / time.Duration(b.N)
			})
			b.Run("ssm", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := generate.Manifests(state, opts); err != nil {
						b.Fatal(err)
					}
				}
				// Target: under 2x the floor measured just before.
				b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(floor), "x-floor")
			})
		})
	}
}

// BenchmarkRenderOneChange renders 10,000 remote Services with 10
// addresses each after one of their Endpoints changed, with a Cache of the
// previous render, next to the full render of the same state measured in
// the same run. It reports the ratio as x-full.
func BenchmarkRenderOneChange(b *testing.B) {
	st, err := source.Parse(bytes.NewReader(bigSnapshot(b, 10000, 10)), source.Selection{LabelSelector: "mirror=true"})
	if err != nil {
		b.Fatal(err)
	}
	for i, s := range st.Services { // an informer's objects: versions of their own
		s.ResourceVersion = fmt.Sprint(2 * i)
		st.Endpoints[i].ResourceVersion = fmt.Sprint(2*i + 1)
	}
	state := stateOf(st)
	opts := generate.Options{Cluster: "east", ServicePrefix: "east", MirrorNamespace: "mirrors"}
	var full time.Duration
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := generate.Manifests(state, opts); err != nil {
				b.Fatal(err)
			}
		}
		full = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("cached", func(b *testing.B) {
		cache := &generate.Cache{}
		if _, err := generate.ManifestsCached(state, opts, cache); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		rv := 1_000_000
		for b.Loop() {
			i := rv % len(state.Endpoints)
			e := state.Endpoints[i].DeepCopy()
			rv++
			e.ResourceVersion = fmt.Sprint(rv)
			e.Subsets[0].Addresses[0].IP = fmt.Sprintf("10.255.%d.%d", rv/250%250, rv%250)
			state.Endpoints[i] = e
			if _, err := generate.ManifestsCached(state, opts, cache); err != nil {
				b.Fatal(err)
			}
			if cache.Misses > 1 {
				b.Fatalf("%d mirrors rendered for one change", cache.Misses)
			}
		}
		b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(full), "x-full")
	})
}
