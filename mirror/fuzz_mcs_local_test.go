package mirror_test

import (
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/generate"
)

// hostileMCSSeed is a clusterset of what the MCS API must not take at its
// word: exports that disagree on type, ports and session affinity, a
// Service listed twice, names no import can hold or whose files would be
// kustomizations, refused addresses, an IPv4-mapped cluster IP, and a
// local cluster holding ClusterSetIPs of the ranges (its Services,
// another implementation's import), a Submariner slice, a namespace of
// its own and one ssm made.
const hostileMCSSeed = `{"kind":"List","apiVersion":"v1","items":[
{"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"shop","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"clusterIP":"10.0.0.5","clusterIPs":["10.0.0.5","fd00::5"],"ipFamilies":["IPv4","IPv6"],"ports":[{"name":"http","port":80},{"name":"dns","port":53,"protocol":"UDP"}]}},
{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"web-1","namespace":"shop","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.1.0.1"],"hostname":"web-0","zone":"a"},{"addresses":["127.0.0.1"]},{"addresses":["10.96.0.10"]}],"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"dns","port":53,"protocol":"TCP"}]},
{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"web","namespace":"shop"},"subsets":[{"addresses":[{"ip":"10.1.0.1","hostname":"web-0"},{"ip":"::ffff:10.1.0.2"}],"ports":[{"name":"http","port":8080},{"name":"dns","port":53,"protocol":"UDP"}]}]},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"shop","creationTimestamp":"2025-01-01T00:00:00Z","labels":{"fuzz.ssm.dev/cluster":"west"}},"spec":{"clusterIP":"None","sessionAffinity":"ClientIP","ports":[{"name":"http","port":8080},{"name":"grpc","port":80}]}},
{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"web-w","namespace":"shop","labels":{"kubernetes.io/service-name":"web","fuzz.ssm.dev/cluster":"west"}},"addressType":"IPv6","endpoints":[{"addresses":["fd00:2::1"],"conditions":{"ready":false,"terminating":true}}],"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"grpc","port":9090,"protocol":"TCP"}]},
{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"web","namespace":"shop","labels":{"fuzz.ssm.dev/cluster":"west"}},"subsets":[{"notReadyAddresses":[{"ip":"fd00:2::1"}],"ports":[{"name":"http","port":8080},{"name":"grpc","port":9090}]}]},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"kustomization","namespace":"shop"},"spec":{"clusterIP":"10.0.0.6","ports":[{"port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"api","namespace":"imports"},"spec":{"clusterIP":"fd00::7","ports":[{"port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"x","namespace":"Bad.NS"},"spec":{"ports":[{"port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"dup","namespace":"shop"},"spec":{"ports":[{"port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"dup","namespace":"shop"},"spec":{"ports":[{"port":81}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"foreign","namespace":"shop"},"spec":{"ports":[{"port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"sub","namespace":"shop"},"spec":{"ports":[{"port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"ext","namespace":"db"},"spec":{"type":"ExternalName","externalName":"x.example"}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"pg","namespace":"db"},"spec":{"clusterIP":"None","ports":[{"name":"pg","port":5432}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"pg","namespace":"db","labels":{"fuzz.ssm.dev/cluster":"west"}},"spec":{"clusterIP":"None","ports":[{"name":"pg","port":5433}]}},
{"kind":"ServiceExport","apiVersion":"multicluster.x-k8s.io/v1alpha1","metadata":{"name":"web","namespace":"shop","creationTimestamp":"2026-02-01T00:00:00Z"}},
{"kind":"ServiceExport","apiVersion":"multicluster.x-k8s.io/v1alpha1","metadata":{"name":"pg","namespace":"db"}},
{"kind":"ServiceExport","apiVersion":"multicluster.x-k8s.io/v1alpha1","metadata":{"name":"api","namespace":"imports"}},
{"kind":"ServiceExport","apiVersion":"multicluster.x-k8s.io/v1alpha1","metadata":{"name":"kustomization","namespace":"shop"}},
{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"shop"}},
{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"db","labels":{"app.kubernetes.io/managed-by":"ssm"}}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"squat","namespace":"kube-system","labels":{"fuzz.ssm.dev/local":"true"}},"spec":{"clusterIP":"10.96.240.1","clusterIPs":["10.96.240.1","fd00:96::f001"],"ports":[{"port":53,"protocol":"UDP"}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"mapped","namespace":"kube-system","labels":{"fuzz.ssm.dev/local":"true"}},"spec":{"clusterIP":"::ffff:10.96.240.2","ports":[{"port":53}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"app","namespace":"shop","labels":{"fuzz.ssm.dev/local":"true"}},"spec":{"clusterIP":"10.96.240.9","ports":[{"port":80}]}},
{"kind":"ServiceImport","apiVersion":"multicluster.x-k8s.io/v1alpha1","metadata":{"name":"foreign","namespace":"shop","labels":{"app.kubernetes.io/managed-by":"cilium"}},"spec":{"type":"ClusterSetIP","ips":["10.96.240.3","fd00:96::f002"],"ports":[{"port":80,"protocol":"TCP"}]}},
{"kind":"ServiceImport","apiVersion":"multicluster.x-k8s.io/v1alpha1","metadata":{"name":"mine","namespace":"shop","labels":{"app.kubernetes.io/managed-by":"ssm"}},"spec":{"type":"ClusterSetIP","ips":["10.96.240.4"],"ports":[{"port":80,"protocol":"TCP"}]}},
{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"sub-c9","namespace":"shop","labels":{"multicluster.kubernetes.io/service-name":"sub","endpointslice.kubernetes.io/managed-by":"lighthouse-agent.submariner.io","fuzz.ssm.dev/local":"true"}},"addressType":"IPv4","endpoints":[]}
]}`

// crossCheck checks the tree as a whole: every import has some cluster's
// slices; the namespaces rendered are exactly those of the imports that
// the local cluster lacks or holds as ssm's; and against the local
// cluster, when read, what mcsOracle.owners checks.
func (o *mcsOracle) crossCheck(tree *mcsTree) {
	t := o.t
	foreignNS := map[string]bool{}
	if o.local != nil {
		for _, n := range o.local.Namespaces {
			foreignNS[n.Name] = foreignNS[n.Name] || n.Labels[generate.LabelManagedBy] != generate.ManagedBy
		}
	}
	want := map[string]bool{}
	for id, imp := range tree.imports {
		if imp.exporters == 0 {
			t.Fatalf("the ServiceImport %s imports no cluster's EndpointSlices", id)
		}
		if !foreignNS[imp.si.Namespace] {
			want[imp.si.Namespace] = true
		}
	}
	got := map[string]bool{}
	for _, n := range tree.namespaces {
		got[n.Name] = true
	}
	if !maps.Equal(got, want) {
		t.Fatalf("namespaces rendered %v, want %v (those of the imports the local cluster lacks or holds as ssm's)", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	if o.local != nil {
		o.owners(tree)
	}
}

// owners checks the tree against the local cluster: no import where
// another implementation serves the name (its ServiceImport or
// EndpointSlices), no derived Service over a Service ssm did not render,
// no ClusterSetIP another implementation's import or a local Service holds
// but the import's own derived Service.
func (o *mcsOracle) owners(tree *mcsTree) {
	t := o.t
	foreign := map[string]string{}
	holders := map[netip.Addr][]string{}
	hold := func(ips []string, who string) {
		for _, s := range ips {
			if ip, err := netip.ParseAddr(s); err == nil {
				holders[ip.Unmap()] = append(holders[ip.Unmap()], who)
			}
		}
	}
	for _, si := range o.local.ServiceImports {
		if si.Labels[generate.LabelManagedBy] != generate.ManagedBy {
			foreign[si.Namespace+"/"+si.Name] = "ServiceImport " + si.Name
			hold(si.Spec.IPs, "ServiceImport "+si.Namespace+"/"+si.Name)
		}
	}
	for _, s := range o.local.EndpointSlices {
		if name := s.Labels[generate.LabelMCSServiceName]; name != "" && s.Labels[discoveryv1.LabelManagedBy] != generate.SliceManagedBy {
			foreign[s.Namespace+"/"+name] = "EndpointSlice " + s.Name
		}
	}
	others := map[string]bool{}
	for _, s := range o.local.Services {
		others[s.Namespace+"/"+s.Name] = others[s.Namespace+"/"+s.Name] || s.Labels[generate.LabelManagedBy] != generate.ManagedBy
		hold(append([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs...), "Service "+s.Namespace+"/"+s.Name)
	}
	for id, imp := range tree.imports {
		if what, ok := foreign[id]; ok {
			t.Fatalf("the ServiceImport %s is rendered, while the local cluster's %s, which ssm did not render, serves it", id, what)
		}
		if imp.derived == "" {
			continue
		}
		own := imp.si.Namespace + "/" + imp.derived
		if others[own] {
			t.Fatalf("the derived Service %s of %s takes the local Service of that name, which ssm did not render", own, id)
		}
		for _, s := range imp.si.Spec.IPs {
			for _, who := range holders[netip.MustParseAddr(s)] {
				if who != "Service "+own {
					t.Fatalf("the ClusterSetIP %s of %s is held by the local %s", s, id, who)
				}
			}
		}
	}
}

// kept checks next, rendered over prev as its stored tree: an import of
// both keeps its ClusterSetIP of each family it still has, and no import
// takes an IP another import of prev held, even one prev's import
// removed by next.
func (o *mcsOracle) kept(prev, next *mcsTree) {
	for id, imp := range next.imports {
		before := prev.imports[id]
		for _, s := range imp.si.Spec.IPs {
			ip := netip.MustParseAddr(s)
			if old, ok := ipOfFamily(before, familyOfIP(ip)); ok {
				if old != ip {
					o.t.Fatalf("the ServiceImport %s moved from ClusterSetIP %s to %s", id, old, ip)
				}
				continue
			}
			if holder, held := prev.holders[ip]; held && holder != id {
				o.t.Fatalf("the ServiceImport %s takes ClusterSetIP %s, which %s holds in the stored tree", id, ip, holder)
			}
		}
	}
}

func ipOfFamily(imp *importSeen, f corev1.IPFamily) (netip.Addr, bool) {
	if imp == nil {
		return netip.Addr{}, false
	}
	for _, s := range imp.si.Spec.IPs {
		if ip := netip.MustParseAddr(s); familyOfIP(ip) == f {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// applied is the local cluster once a GitOps agent applied tree: its
// objects added, replacing those of the same names.
func applied(local *generate.Local, tree *mcsTree) *generate.Local {
	out := &generate.Local{}
	var imports []*mcsv1a1.ServiceImport
	for _, imp := range tree.imports {
		imports = append(imports, imp.si)
	}
	out.Services = replaced(local.Services, tree.services, func(s *corev1.Service) string { return s.Namespace + "/" + s.Name })
	out.Namespaces = replaced(local.Namespaces, tree.namespaces, func(n *corev1.Namespace) string { return n.Name })
	out.ServiceImports = replaced(local.ServiceImports, imports, func(s *mcsv1a1.ServiceImport) string { return s.Namespace + "/" + s.Name })
	out.EndpointSlices = replaced(local.EndpointSlices, tree.slices, func(s *discoveryv1.EndpointSlice) string { return s.Namespace + "/" + s.Name })
	return out
}

func replaced[T any](held, applied []T, key func(T) string) []T {
	names := map[string]bool{}
	for _, a := range applied {
		names[key(a)] = true
	}
	out := slices.DeleteFunc(slices.Clone(held), func(h T) bool { return names[key(h)] })
	return append(out, applied...)
}
