package mirror_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// Fuzzed clusterset renders (the Multi-Cluster Services API) read the
// snapshot as three clusters: what is labelled fuzzLocal is the local
// cluster's, with every Namespace, ServiceImport and EndpointSlice
// labelled multicluster.kubernetes.io/service-name; what is labelled
// fuzzCluster: west is cluster west's, the rest cluster east's. Both
// remotes have every ServiceExport: ssm keeps no label of one.
const fuzzCluster = "fuzz.ssm.dev/cluster"

// mcsProfile is what api's bits 6-7 pick: the ClusterSetIP ranges (those
// of the golden cases, tiny ones that fill up, one family alone) and the
// topology options.
type mcsProfile struct {
	ranges       []netip.Prefix
	keepZones    bool
	distribution string
}

var mcsProfiles = [4]mcsProfile{
	{ranges: prefixes("10.96.240.0/28", "fd00:96::f000/124")},
	{ranges: prefixes("10.96.240.0/29", "fd00:96::f000/126"), keepZones: true},
	{ranges: prefixes("10.96.240.8/30"), keepZones: true, distribution: corev1.ServiceTrafficDistributionPreferClose},
	{ranges: prefixes("fd00:96::f000/121"), distribution: corev1.ServiceTrafficDistributionPreferSameZone},
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// fuzzMCS is FuzzSnapshotRender with the Multi-Cluster Services API
// (mcsOracle says what every render must be). Rendered over nothing, over
// its own render, over renders of halves of the remotes' Services (one
// with west unread), and over its own render as the local cluster holds
// it once applied, the clusterset keeps every import's ClusterSetIPs,
// never gives one held in the stored tree to another import, and renders
// the same files whatever the order of its input, which it leaves as it
// is.
//
// api's bit 0 picks the remote endpoints API, bit 1 exports by
// ServiceExports, bit 2 renders by namespace, bit 3 leaves the local
// cluster unread, bits 6-7 pick an mcsProfile.
func fuzzMCS(t *testing.T, data []byte, api uint8) {
	clusters, local, ok := mcsInput(data, api)
	if !ok {
		return
	}
	p := mcsProfiles[api>>6]
	o := &mcsOracle{t: t, local: local, opts: generate.MCSOptions{ClusterSetIPRanges: p.ranges, ServiceExports: api&2 != 0,
		ByNamespace: api&4 != 0, KeepZones: p.keepZones, TrafficDistribution: p.distribution}}
	beforeClusters, beforeLocal := deepCopyMCS(clusters, local)
	first := o.render(clusters, local, nil)
	if again := o.render(clusters, local, first.files); !sameFiles(again.files, first.files) {
		t.Fatal("a render over its own stored tree differs from it")
	}
	revClusters, revLocal := deepCopyMCS(clusters, local)
	reverseMCS(revClusters, revLocal)
	for _, stored := range []map[string][]byte{nil, first.files} {
		if rev := o.render(revClusters, revLocal, stored); !sameFiles(rev.files, first.files) {
			t.Fatalf("a render of the reversed input differs (stored tree: %v)", stored != nil)
		}
	}
	prev := first
	for _, next := range [][]generate.Cluster{halfMCS(clusters, 0, true), halfMCS(clusters, 1, false), clusters} {
		tree := o.render(next, local, prev.files)
		o.kept(prev, tree)
		prev = tree
	}
	if local != nil {
		if again := o.render(clusters, applied(local, first), first.files); !sameFiles(again.files, first.files) {
			t.Fatal("a render once the local cluster holds what was rendered differs from it")
		}
	}
	if !reflect.DeepEqual(clusters, beforeClusters) || !reflect.DeepEqual(local, beforeLocal) {
		t.Fatal("ClusterSet modified its input")
	}
}

// mcsInput splits a snapshot into the clusters of a clusterset and the
// local cluster (nil when api's bit 3 leaves it unread).
func mcsInput(data []byte, api uint8) ([]generate.Cluster, *generate.Local, bool) {
	remoteAPI := []kubeapi.EndpointsAPI{kubeapi.Endpoints, kubeapi.EndpointSlices}[api&1]
	remote, err := source.Parse(bytes.NewReader(data), source.Selection{EndpointsAPI: remoteAPI, ServiceExports: true})
	if err != nil {
		return nil, nil, false
	}
	st, err := source.Parse(bytes.NewReader(data), source.Selection{EndpointsAPI: kubeapi.NoEndpoints, Namespaces: true, Imports: true})
	if err != nil {
		return nil, nil, false
	}
	east := generate.State{ServiceExports: remote.ServiceExports}
	// West lists them the other way round: a snapshot may list one twice,
	// and the render may not depend on which comes last.
	west := generate.State{ServiceExports: slices.Clone(remote.ServiceExports)}
	slices.Reverse(west.ServiceExports)
	of := func(labels map[string]string) *generate.State {
		switch {
		case labels[fuzzLocal] == "true":
			return &generate.State{}
		case labels[fuzzCluster] == "west":
			return &west
		}
		return &east
	}
	for _, s := range remote.Services {
		of(s.Labels).Services = append(of(s.Labels).Services, s)
	}
	for _, e := range remote.Endpoints {
		of(e.Labels).Endpoints = append(of(e.Labels).Endpoints, e)
	}
	for _, s := range remote.EndpointSlices {
		of(s.Labels).EndpointSlices = append(of(s.Labels).EndpointSlices, s)
	}
	var local *generate.Local
	if api&8 == 0 {
		local = &generate.Local{Namespaces: st.Namespaces, ServiceImports: st.ServiceImports, EndpointSlices: st.EndpointSlices}
		for _, s := range st.Services {
			if s.Labels[fuzzLocal] == "true" {
				local.Services = append(local.Services, s)
			}
		}
	}
	opts := generate.Options{DenyCIDRs: fuzzDeny}
	return []generate.Cluster{{Name: "local", Local: true}, {Name: "east", Options: opts, Mirror: east},
		{Name: "west", Options: opts, Mirror: west}}, local, true
}

// halfMCS keeps of each remote's Services those at even (half 0) or odd
// (half 1) places; westUnread leaves cluster west unread, as a remote down
// since ssm started.
func halfMCS(clusters []generate.Cluster, half int, westUnread bool) []generate.Cluster {
	out := slices.Clone(clusters)
	for i := range out {
		c := &out[i]
		var kept []*corev1.Service
		for j, s := range c.Mirror.Services {
			if j%2 == half {
				kept = append(kept, s)
			}
		}
		c.Mirror.Services = kept
		if c.Name == "west" && westUnread {
			c.Mirror, c.Unread = generate.State{}, true
		}
	}
	return out
}

func sameFiles(a, b map[string][]byte) bool { return maps.EqualFunc(a, b, bytes.Equal) }

func reverseMCS(clusters []generate.Cluster, local *generate.Local) {
	slices.Reverse(clusters)
	for i := range clusters {
		m := &clusters[i].Mirror
		slices.Reverse(m.Services)
		slices.Reverse(m.Endpoints)
		slices.Reverse(m.EndpointSlices)
		slices.Reverse(m.ServiceExports)
	}
	if local != nil {
		slices.Reverse(local.Services)
		slices.Reverse(local.Namespaces)
		slices.Reverse(local.ServiceImports)
		slices.Reverse(local.EndpointSlices)
	}
}

func deepCopyMCS(clusters []generate.Cluster, local *generate.Local) ([]generate.Cluster, *generate.Local) {
	out := slices.Clone(clusters)
	for i := range out {
		m := &out[i].Mirror
		*m = deepCopy(*m)
		m.ServiceExports = nil
		for _, e := range clusters[i].Mirror.ServiceExports {
			m.ServiceExports = append(m.ServiceExports, e.DeepCopy())
		}
	}
	if local == nil {
		return out, nil
	}
	l := &generate.Local{}
	for _, s := range local.Services {
		l.Services = append(l.Services, s.DeepCopy())
	}
	for _, n := range local.Namespaces {
		l.Namespaces = append(l.Namespaces, n.DeepCopy())
	}
	for _, s := range local.ServiceImports {
		l.ServiceImports = append(l.ServiceImports, s.DeepCopy())
	}
	for _, s := range local.EndpointSlices {
		l.EndpointSlices = append(l.EndpointSlices, s.DeepCopy())
	}
	return out, l
}

// mcsSeed joins the snapshots of a clusterset's east, west and local
// clusters into one, labelled as fuzzMCS splits it. West's
// ServiceExports of Services east exports too are left out: both remotes
// read every ServiceExport.
func mcsSeed(f *testing.F, east, west, local string) []byte {
	var items []map[string]any
	exported := map[string]bool{}
	for _, part := range []struct{ file, label, value string }{{east, "", ""}, {west, fuzzCluster, "west"}, {local, fuzzLocal, "true"}} {
		b, err := os.ReadFile(part.file)
		if err != nil {
			f.Fatal(err)
		}
		var list struct {
			Items []map[string]any `json:"items"`
		}
		if err := yaml.Unmarshal(b, &list); err != nil {
			f.Fatalf("%s: %v", part.file, err)
		}
		for _, it := range list.Items {
			md, _ := it["metadata"].(map[string]any)
			if id := fmt.Sprint(md["namespace"], "/", md["name"]); it["kind"] == "ServiceExport" {
				if exported[id] {
					continue
				}
				exported[id] = true
			}
			if part.label != "" {
				labels, _ := md["labels"].(map[string]any)
				if labels == nil {
					labels = map[string]any{}
					md["labels"] = labels
				}
				labels[part.label] = part.value
			}
			items = append(items, it)
		}
	}
	return seedList(f, items)
}

func seedList(f *testing.F, items []map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		f.Fatal(err)
	}
	if _, _, ok := mcsInput(b, 0); !ok {
		f.Fatalf("a seed does not parse:\n%s", b)
	}
	return b
}

// bigSeed exports one Service of 1,200 endpoints in east, in two slices
// of 600 (or one Endpoints object), and 400 IPv6 ones in west.
func bigSeed(f *testing.F) []byte {
	meta := func(name string, labels map[string]any) map[string]any {
		return map[string]any{"name": name, "namespace": "shop", "labels": labels}
	}
	ports := []any{map[string]any{"name": "http", "port": 8080, "protocol": "TCP"}}
	items := []map[string]any{
		{"apiVersion": "v1", "kind": "Service", "metadata": meta("big", nil),
			"spec": map[string]any{"clusterIP": "10.0.0.9", "ports": []any{map[string]any{"name": "http", "port": 80}}}},
		{"apiVersion": "v1", "kind": "Service", "metadata": meta("big", map[string]any{fuzzCluster: "west"}),
			"spec": map[string]any{"clusterIP": "fd00::9", "ports": []any{map[string]any{"name": "http", "port": 80}}}},
		{"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceExport", "metadata": meta("big", nil)},
	}
	var addrs []any
	for i := range 1200 {
		ep := map[string]any{"addresses": []any{fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)}, "zone": fmt.Sprint("z", i%3)}
		addrs = append(addrs, ep)
		if len(addrs) == 600 {
			items = append(items, map[string]any{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
				"metadata": meta(fmt.Sprint("big-", i), map[string]any{"kubernetes.io/service-name": "big"}), "endpoints": addrs, "ports": ports})
			addrs = nil
		}
	}
	var v6, ips []any
	for i := range 400 {
		v6 = append(v6, map[string]any{"addresses": []any{fmt.Sprintf("fd00:2::%x", i+1)}})
		ips = append(ips, map[string]any{"ip": fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)})
	}
	items = append(items,
		map[string]any{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv6",
			"metadata": meta("big-w", map[string]any{"kubernetes.io/service-name": "big", fuzzCluster: "west"}), "endpoints": v6, "ports": ports},
		map[string]any{"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("big", nil),
			"subsets": []any{map[string]any{"addresses": ips, "ports": ports}}})
	return seedList(f, items)
}

// mcsAPIs are the api values of the MCS seeds: bit 5 and a spread of the
// bits fuzzMCS reads.
var mcsAPIs = []uint8{32, 32 | 1, 32 | 2, 32 | 3, 32 | 2 | 4, 32 | 1 | 8, 32 | 1 | 2 | 64, 32 | 1 | 2 | 128, 32 | 2 | 192,
	32 | 4 | 8 | 64, 32 | 1 | 2 | 4 | 128, 32 | 1 | 192}

// addMCSSeeds adds the seeds of fuzzMCS: the golden cases' and
// examples/mcs's clustersets, hostileMCSSeed, and a Service of over 1,000
// endpoints.
func addMCSSeeds(f *testing.F) {
	seeds := [][]byte{
		mcsSeed(f, "../testdata/render/mcs-east.yaml", "../testdata/render/mcs-west.yaml", "../testdata/render/mcs-local.yaml"),
		mcsSeed(f, "../examples/mcs/east.yaml", "../examples/mcs/west.yaml", "../examples/mcs/local.yaml"),
		[]byte(hostileMCSSeed),
	}
	if _, _, ok := mcsInput(seeds[2], 0); !ok {
		f.Fatal("hostileMCSSeed does not parse")
	}
	for _, seed := range seeds {
		for _, api := range mcsAPIs {
			f.Add(seed, api)
		}
	}
	big := bigSeed(f)
	for _, api := range []uint8{32 | 2, 32 | 3 | 64} {
		f.Add(big, api)
	}
}
