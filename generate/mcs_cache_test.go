package generate_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/generate"
)

// bytesEqual compares file contents as bytes.Equal does: cmp would walk
// them byte by byte.
var bytesEqual = cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })

// versioned gives every object of clusters a UID and resource version, as
// an informer's are.
func versioned(clusters []generate.Cluster) {
	for _, c := range clusters {
		for _, s := range c.Mirror.Services {
			s.UID, s.ResourceVersion = "svc-"+types.UID(s.Namespace+"-"+s.Name), "1"
		}
		for _, s := range c.Mirror.EndpointSlices {
			s.UID, s.ResourceVersion = types.UID("slice-"+s.Namespace+"-"+s.Name), "1"
		}
	}
}

// TestClusterSetCacheEqualsFullRender renders a churning clusterset, each
// render over the last one's files, with a Cache kept between renders and
// without: the results are equal, whatever changed.
func TestClusterSetCacheEqualsFullRender(t *testing.T) {
	t.Parallel()
	clusters := clusterSetState(60)
	versioned(clusters)
	opts := generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.0.0/26", "fd00::/120"), ServiceExports: true}
	cache := &generate.Cache{}
	var stored map[string][]byte
	r := rand.New(rand.NewPCG(4, 2))
	rv, hits := 1, 0
	for step := range 40 {
		rv++
		c := &clusters[r.IntN(len(clusters))]
		switch r.IntN(5) {
		case 0: // endpoints change: a new object, a new version
			i := r.IntN(len(c.Mirror.EndpointSlices))
			s := c.Mirror.EndpointSlices[i].DeepCopy()
			s.ResourceVersion = fmt.Sprint(rv)
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.250.%d.%d", rv/250, rv%250)}})
			c.Mirror.EndpointSlices[i] = s
		case 1: // an export goes
			if len(c.Mirror.ServiceExports) > 1 {
				i := r.IntN(len(c.Mirror.ServiceExports))
				c.Mirror.ServiceExports = append(c.Mirror.ServiceExports[:i:i], c.Mirror.ServiceExports[i+1:]...)
			}
		case 2: // one comes back, or a new one
			s := c.Mirror.Services[r.IntN(len(c.Mirror.Services))]
			c.Mirror.ServiceExports = append(c.Mirror.ServiceExports, &mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}})
		case 3: // a Service changes
			i := r.IntN(len(c.Mirror.Services))
			s := c.Mirror.Services[i].DeepCopy()
			s.ResourceVersion, s.Spec.Ports[0].Port = fmt.Sprint(rv), int32(80+rv%3)
			c.Mirror.Services[i] = s
		case 4: // relisted: new objects, the same versions
			for i, s := range c.Mirror.EndpointSlices {
				c.Mirror.EndpointSlices[i] = s.DeepCopy()
			}
		}
		want, err := generate.ClusterSet(clusters, opts, nil, stored)
		if err != nil {
			t.Fatal(err)
		}
		got, err := generate.ClusterSetCached(clusters, opts, nil, stored, cache)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, bytesEqual); diff != "" {
			t.Fatalf("step %d: the cached render differs (-full +cached):\n%s", step, diff)
		}
		stored = got.Files
		hits += cache.Hits
	}
	if hits == 0 {
		t.Error("no import was taken from the cache")
	}
}
