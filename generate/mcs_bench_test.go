package generate_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/generate"
)

// clusterSetState is n exported ClusterSetIP Services of 10 endpoints,
// spread over three clusters, one in ten exported by two of them.
func clusterSetState(n int) []generate.Cluster {
	clusters := []generate.Cluster{{Name: "east"}, {Name: "west"}, {Name: "south"}}
	port, pname, tcp := int32(8080), "http", corev1.ProtocolTCP
	add := func(c *generate.Cluster, i int) {
		ns, name := fmt.Sprintf("ns-%d", i%50), fmt.Sprintf("svc-%d", i)
		c.Mirror.Services = append(c.Mirror.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1", IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}})
		c.Mirror.ServiceExports = append(c.Mirror.ServiceExports, &mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
		s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-" + c.Name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &pname, Port: &port, Protocol: &tcp}}}
		for a := range 10 {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", len(c.Name)+i/62500, i/250%250, i%250*0+a+1)}})
		}
		c.Mirror.EndpointSlices = append(c.Mirror.EndpointSlices, s)
	}
	for i := range n {
		add(&clusters[i%3], i)
		if i%10 == 0 {
			add(&clusters[(i+1)%3], i)
		}
	}
	return clusters
}

// BenchmarkClusterSet renders n imports over what the last render stored:
// a sync of ssm run with nothing changed but the render (every import's
// ClusterSetIP read back from the stored tree).
func BenchmarkClusterSet(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			clusters := clusterSetState(n)
			opts := generate.MCSOptions{ClusterSetIPRanges: prefixes("10.96.0.0/16"), ServiceExports: true}
			first, err := generate.ClusterSet(clusters, opts, nil, nil)
			if err != nil || len(first.Invalid()) > 0 {
				b.Fatal(err, first.Invalid())
			}
			for _, cached := range []bool{false, true} {
				b.Run(map[bool]string{false: "full", true: "cached"}[cached], func(b *testing.B) {
					var cache *generate.Cache
					if cached { // warmed by a render of the same state
						versioned(clusters)
						cache = &generate.Cache{}
						if _, err := generate.ClusterSetCached(clusters, opts, nil, first.Files, cache); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportAllocs()
					for b.Loop() {
						if _, err := generate.ClusterSetCached(clusters, opts, nil, first.Files, cache); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(len(first.Files)), "files")
				})
			}
		})
	}
}
