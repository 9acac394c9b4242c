package generate_test

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
)

// changingCluster is a remote whose objects change as an informer's cache
// would see them: every change gets a new resource version.
type changingCluster struct {
	rv       int
	services map[string]*corev1.Service
	eps      map[string]*corev1.Endpoints
	slices   map[string][]*discoveryv1.EndpointSlice
}

func (c *changingCluster) next() string { c.rv++; return fmt.Sprint(c.rv) }

func (c *changingCluster) setService(name string, port int32, headless bool) {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), ResourceVersion: c.next()},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port, Protocol: corev1.ProtocolTCP}}}}
	if headless {
		s.Spec.ClusterIP = corev1.ClusterIPNone
	}
	c.services[name] = s
}

func (c *changingCluster) setEndpoints(name string, ips ...string) {
	e := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-ep-" + name), ResourceVersion: c.next()},
		Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}}}
	for _, ip := range ips {
		e.Subsets[0].Addresses = append(e.Subsets[0].Addresses, corev1.EndpointAddress{IP: ip})
	}
	c.eps[name] = e
}

// setSlices gives name n EndpointSlices, of one address each; a slice
// without the service-name label (n < 0) belongs to no Service.
func (c *changingCluster) setSlices(name string, n int, ip string) {
	var out []*discoveryv1.EndpointSlice
	for i := range max(n, 1) {
		s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("%s-%d", name, i),
			UID: types.UID(fmt.Sprintf("uid-slice-%s-%d", name, i)), ResourceVersion: c.next(), Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("%s%d", ip, i)}}}}
		if n < 0 {
			s.Labels = nil
		}
		out = append(out, s)
	}
	c.slices[name] = out
}

// relist replaces every object with a copy of the same version, as an
// informer's relist does.
func (c *changingCluster) relist() {
	for k, s := range c.services {
		c.services[k] = s.DeepCopy()
	}
	for k, e := range c.eps {
		c.eps[k] = e.DeepCopy()
	}
	for k, ss := range c.slices {
		out := make([]*discoveryv1.EndpointSlice, len(ss))
		for i, s := range ss {
			out[i] = s.DeepCopy()
		}
		c.slices[k] = out
	}
}

// state lists the objects in random order, as a cache does; dup lists one
// Endpoints object and one EndpointSlice twice, as no cache does.
func (c *changingCluster) state(r *rand.Rand, dup bool) generate.State {
	var st generate.State
	for _, s := range c.services {
		st.Services = append(st.Services, s)
	}
	for _, e := range c.eps {
		st.Endpoints = append(st.Endpoints, e)
	}
	for _, ss := range c.slices {
		st.EndpointSlices = append(st.EndpointSlices, ss...)
	}
	if dup && len(st.Endpoints) > 0 {
		st.Endpoints = append(st.Endpoints, st.Endpoints[0])
	}
	if dup && len(st.EndpointSlices) > 0 {
		st.EndpointSlices = append(st.EndpointSlices, st.EndpointSlices[0])
	}
	r.Shuffle(len(st.EndpointSlices), func(i, j int) {
		st.EndpointSlices[i], st.EndpointSlices[j] = st.EndpointSlices[j], st.EndpointSlices[i]
	})
	r.Shuffle(len(st.Services), func(i, j int) { st.Services[i], st.Services[j] = st.Services[j], st.Services[i] })
	r.Shuffle(len(st.Endpoints), func(i, j int) { st.Endpoints[i], st.Endpoints[j] = st.Endpoints[j], st.Endpoints[i] })
	return st
}

// TestCacheEqualsFullRender applies random changes and renders after each,
// with a Cache and without: the results must be the same, while the cache
// renders only what changed.
func TestCacheEqualsFullRender(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	c := &changingCluster{services: map[string]*corev1.Service{}, eps: map[string]*corev1.Endpoints{}, slices: map[string][]*discoveryv1.EndpointSlice{}}
	for i := range 40 {
		c.setService(fmt.Sprintf("s%d", i), 80, i%7 == 0)
		c.setEndpoints(fmt.Sprintf("s%d", i), fmt.Sprintf("10.0.%d.1", i), []string{"127.0.0.1", "169.254.169.254", "10.2.0.1"}[i%3])
	}
	// Two Services whose mirrors would share a name, until one goes.
	c.setService("x-73736d-y", 80, false)
	c.setService("collides", 80, false)
	c.services["collides"].Namespace, c.services["collides"].Name = "ns-73736d-x", "y"
	cache := &generate.Cache{}
	// Addresses the policy refuses, and a denied range: a mirror taken
	// from the cache must warn of them as one rendered anew.
	opts := generate.Options{ServicePrefix: "p", MirrorNamespace: "m", Cluster: "east", EndpointsAPI: kubeapi.Both,
		DenyCIDRs: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/25")}}
	totalMisses, lastDup, dropsFromCache := 0, false, 0
	for step := range 600 {
		name := fmt.Sprintf("s%d", r.IntN(45))
		optsChanged, relisted, dup := false, false, false
		switch op := r.IntN(18); {
		case step == 200:
			delete(c.services, "collides")
		case op == 17: // a state listing objects twice, as one goes
			dup = true
			delete(c.eps, name)
		case op == 16: // deleted and made again: another UID
			c.setService(name, 80, false)
			c.services[name].UID = types.UID(fmt.Sprint("uid-", name, "-", step))
		case op == 15: // a relist: every object anew, of the same version
			c.relist()
			relisted = true
		case op == 14:
			c.setSlices(name, r.IntN(4)-1, fmt.Sprintf("10.3.%d.", r.IntN(250)))
		case op == 13:
			delete(c.slices, name)
		case op >= 10: // nothing changed: the same objects again
		case op < 5:
			c.setEndpoints(name, fmt.Sprintf("10.1.%d.%d", r.IntN(250), r.IntN(250)), fmt.Sprintf("10.2.0.%d", r.IntN(250)))
		case op < 7:
			c.setService(name, int32(80+r.IntN(3)), r.IntN(4) == 0)
		case op < 8:
			delete(c.services, name)
			delete(c.eps, name)
		case op < 9:
			delete(c.eps, name)
		default:
			opts.EndpointsAPI = []kubeapi.EndpointsAPI{kubeapi.Endpoints, kubeapi.EndpointSlices, kubeapi.Both}[r.IntN(3)]
			opts.ByNamespace = r.IntN(2) == 0
			optsChanged = true
		}
		st := c.state(r, dup)
		want, err := generate.Manifests(st, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := generate.ManifestsCached(st, opts, cache)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(want.Files, got.Files, bytes.Equal) {
			t.Fatalf("step %d: the cached render wrote other files", step)
		}
		if cache.Hits > 0 && slices.ContainsFunc(got.Warnings, func(w generate.Skipped) bool { return w.Reason == generate.ReasonAddressDropped }) {
			dropsFromCache++
		}
		want.Files, got.Files = nil, nil
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("step %d: the cached render differs (-full +cached):\n%s", step, diff)
		}
		// It holds the mirrors of this render (and of colliding Services,
		// planned but not rendered), and the names of its Services.
		slack := 0
		if step < 200 {
			slack = 2
		}
		if entries, names := generate.CacheSize(cache); entries > len(got.Mirrors)+slack || names != len(st.Services) {
			t.Fatalf("step %d: the cache holds %d entries and %d names for %d mirrors of %d Services", step, entries, names, len(got.Mirrors), len(st.Services))
		}
		if step > 0 && !optsChanged && !relisted && !dup && !lastDup {
			colliding := 0 // planned every time, never rendered
			if step < 200 {
				colliding = 2
			}
			totalMisses += cache.Misses - colliding
			if cache.Misses-colliding > 1 {
				t.Fatalf("step %d: %d mirrors rendered for one change", step, cache.Misses)
			}
		}
		lastDup = dup
	}
	if dropsFromCache < 100 {
		t.Errorf("%d renders took mirrors from the cache and warned of dropped addresses, want most of 600", dropsFromCache)
	}
	t.Logf("%d mirrors rendered for the steps that changed one object", totalMisses)
}

// TestOverSliceLimitWarning: an Endpoints mirror of over 1,000 addresses
// is rendered with a warning, as kube-proxy will see 1,000 of them; none
// when EndpointSlices are rendered.
func TestOverSliceLimitWarning(t *testing.T) {
	t.Parallel()
	c := &changingCluster{services: map[string]*corev1.Service{}, eps: map[string]*corev1.Endpoints{}, slices: map[string][]*discoveryv1.EndpointSlice{}}
	c.setService("big", 80, false)
	var ips []string
	for i := range 1001 {
		ips = append(ips, fmt.Sprintf("10.9.%d.%d", i/250, i%250+1))
	}
	c.setEndpoints("big", ips...)
	st := c.state(rand.New(rand.NewPCG(1, 1)), false)
	for api, want := range map[kubeapi.EndpointsAPI]int{kubeapi.Endpoints: 1, kubeapi.Both: 0, kubeapi.EndpointSlices: 0} {
		res, err := generate.Manifests(st, generate.Options{ServicePrefix: "p", MirrorNamespace: "m", EndpointsAPI: api})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Warnings) != want || want == 1 && res.Warnings[0].Reason != generate.ReasonOverSliceLimit {
			t.Errorf("%s: warnings %+v, want %d", api, res.Warnings, want)
		}
	}
}
