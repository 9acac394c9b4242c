package generate_test

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ssm-dev/ssm/generate"
)

// shuffled returns a deep copy of st with every list that carries no meaning
// in its order permuted: objects, subsets, addresses, ports, slice endpoints.
func shuffled(st generate.State, r *rand.Rand) generate.State {
	var out generate.State
	for _, s := range st.Services {
		s = s.DeepCopy()
		shuffle(r, s.Spec.Ports)
		out.Services = append(out.Services, s)
	}
	for _, e := range st.Endpoints {
		e = e.DeepCopy()
		for i := range e.Subsets {
			shuffle(r, e.Subsets[i].Addresses)
			shuffle(r, e.Subsets[i].NotReadyAddresses)
			shuffle(r, e.Subsets[i].Ports)
		}
		shuffle(r, e.Subsets)
		out.Endpoints = append(out.Endpoints, e)
	}
	for _, s := range st.EndpointSlices {
		s = s.DeepCopy()
		shuffle(r, s.Endpoints)
		shuffle(r, s.Ports)
		out.EndpointSlices = append(out.EndpointSlices, s)
	}
	for _, n := range st.Nodes {
		n = n.DeepCopy()
		shuffle(r, n.Status.Addresses)
		shuffle(r, n.Status.Conditions)
		out.Nodes = append(out.Nodes, n)
	}
	if st.Local != nil {
		out.Local = &generate.Local{}
		for _, s := range st.Local.Services {
			s = s.DeepCopy()
			shuffle(r, s.Spec.Ports)
			out.Local.Services = append(out.Local.Services, s)
		}
		out.Local.Namespaces = append(out.Local.Namespaces, st.Local.Namespaces...)
		shuffle(r, out.Local.Services)
		shuffle(r, out.Local.Namespaces)
	}
	shuffle(r, out.Services)
	shuffle(r, out.Endpoints)
	shuffle(r, out.EndpointSlices)
	shuffle(r, out.Nodes)
	return out
}

func shuffle[T any](r *rand.Rand, s []T) {
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
}

func TestDeterministic(t *testing.T) {
	for _, c := range []string{"endpoints", "both", "endpointslices-input", "nodeport"} {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			state, opts := loadCase(t, filepath.Join(goldenRoot, c))
			want, err := generate.Manifests(state, opts)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, uint64(len(c))))
			for i := range 50 {
				in := shuffled(state, r)
				got, err := generate.Manifests(in, opts)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("shuffle %d rendered differently (-first +shuffled):\n%s", i, diff)
				}
			}
		})
	}
}

// TestDoesNotMutateInput renders twice from the same objects: the objects
// belong to an informer cache and must not change.
func TestDoesNotMutateInput(t *testing.T) {
	state, opts := loadCase(t, filepath.Join(goldenRoot, "endpointslices-input"))
	orig := shuffled(state, rand.New(rand.NewPCG(7, 7)))
	copyState := func(st generate.State) generate.State {
		var c generate.State
		for _, s := range st.Services {
			c.Services = append(c.Services, s.DeepCopy())
		}
		for _, e := range st.Endpoints {
			c.Endpoints = append(c.Endpoints, e.DeepCopy())
		}
		for _, s := range st.EndpointSlices {
			c.EndpointSlices = append(c.EndpointSlices, s.DeepCopy())
		}
		return c
	}
	snapshot := copyState(orig)
	if _, err := generate.Manifests(orig, opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snapshot, orig, cmp.Comparer(func(a, b *corev1.Service) bool { return a.String() == b.String() }),
		cmp.Comparer(func(a, b *corev1.Endpoints) bool { return a.String() == b.String() }),
		cmp.Comparer(func(a, b *discoveryv1.EndpointSlice) bool { return a.String() == b.String() })); diff != "" {
		t.Fatalf("Manifests changed its input:\n%s", diff)
	}
}
