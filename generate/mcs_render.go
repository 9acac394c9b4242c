package generate

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/generate/internal/yamlemit"
)

// serviceImportDoc is a ServiceImport without status: ssm cannot write a
// status (a subresource no manifest applies), and the one the API server
// shows is nobody's.
type serviceImportDoc struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta         `json:"metadata"`
	Spec            mcsv1a1.ServiceImportSpec `json:"spec"`
}

// importFile is where the ServiceImport ns/name (and its derived Service)
// is rendered: imports/<ns>.<name>.yaml, or imports/<ns>/<name>.yaml by
// namespace; clusterFile where a cluster's EndpointSlices of it are, in
// the cluster's directory.
func importFile(byNamespace bool, k objectKey) string { return clusterFile(byNamespace, ImportsDir, k) }

func clusterFile(byNamespace bool, dir string, k objectKey) string {
	if byNamespace {
		return dir + "/" + k.namespace + "/" + k.name + ".yaml"
	}
	return dir + "/" + k.namespace + "." + k.name + ".yaml"
}

// render renders every import planned, each into a scratch result first:
// one that cannot be rendered (a value no manifest can hold, from a
// snapshot) leaves nothing half written.
func (cs *clusterSet) render() Result {
	res := Result{Files: map[string][]byte{}, Objects: map[string]int{}, ClusterObjects: map[string]map[string]int{},
		Skipped: cs.skipped, Warnings: cs.warnings}
	var buf []byte
	for _, k := range cs.keys() {
		imp := cs.imports[k]
		if one, hit := cs.memo.rendered(cs, imp); hit {
			merge(&res, one)
			continue
		}
		one := Result{Files: map[string][]byte{}, ClusterObjects: map[string]map[string]int{}}
		var err error
		if buf, err = cs.renderImport(buf, imp, &one); err != nil {
			for _, e := range imp.exporters {
				res.Skipped = append(res.Skipped, Skipped{Cluster: e.cluster, Service: key(k.namespace, k.name), Mirror: k.name,
					Reason: ReasonUnrenderable, Message: err.Error()})
			}
			delete(cs.imports, k)
			continue
		}
		cs.memo.store(imp, one)
		merge(&res, one)
	}
	cs.memo.done()
	return res
}

// merge adds one import's files, mirrors and counts to res.
func merge(res *Result, one Result) {
	for p, b := range one.Files {
		res.Files[p] = b
	}
	res.Mirrors = append(res.Mirrors, one.Mirrors...)
	for group, kinds := range one.ClusterObjects {
		if res.ClusterObjects[group] == nil {
			res.ClusterObjects[group] = map[string]int{}
		}
		for kind, n := range kinds {
			res.ClusterObjects[group][kind] += n
			res.Objects[kind] += n
		}
	}
}

// count counts an object of kind rendered for group.
func (res *Result) count(group, kind string) {
	if res.ClusterObjects[group] == nil {
		res.ClusterObjects[group] = map[string]int{}
	}
	res.ClusterObjects[group][kind]++
}

// renderImport renders imp's file and each exporting cluster's file.
func (cs *clusterSet) renderImport(buf []byte, imp *mcsImport, res *Result) ([]byte, error) {
	k := imp.key
	docs := []any{cs.serviceImport(imp)}
	if !imp.headless {
		docs = append(docs, cs.derivedService(imp))
	}
	var err error
	if buf, err = marshalDocs(buf[:0], docs); err != nil {
		return nil, err
	}
	file := importFile(cs.opts.ByNamespace, k)
	res.Files[file] = slices.Clone(buf)
	res.count(ImportsDir, "ServiceImport")
	if !imp.headless {
		res.count(ImportsDir, "Service")
	}
	for _, e := range imp.exporters {
		slcs := cs.endpointSlices(imp, e)
		docs = docs[:0]
		for _, s := range slcs {
			docs = append(docs, s)
			res.count(e.cluster, "EndpointSlice")
		}
		if buf, err = marshalDocs(buf[:0], docs); err != nil {
			return nil, err
		}
		// A cluster's export is its mirror (ClusterSetMirrorOf), not the
		// import it shares with others.
		file := clusterFile(cs.opts.ByNamespace, e.cluster, k)
		res.Files[file] = slices.Clone(buf)
		res.Mirrors = append(res.Mirrors, Mirror{Cluster: e.cluster, Service: key(k.namespace, k.name), Name: k.name, File: file})
	}
	return buf, nil
}

// marshalDocs appends docs to buf as one YAML stream.
func marshalDocs(buf []byte, docs []any) ([]byte, error) {
	for i, d := range docs {
		if i > 0 {
			buf = append(buf, "---\n"...)
		}
		var err error
		if buf, err = yamlemit.Marshal(buf, d); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

func (cs *clusterSet) serviceImport(imp *mcsImport) serviceImportDoc {
	spec := mcsv1a1.ServiceImportSpec{Type: mcsv1a1.ClusterSetIP, Ports: []mcsv1a1.ServicePort{}}
	for _, p := range imp.ports {
		spec.Ports = append(spec.Ports, mcsv1a1.ServicePort{Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port})
	}
	ann := map[string]string{}
	if imp.headless {
		spec.Type = mcsv1a1.Headless
	} else {
		spec.IPs, spec.IPFamilies = ipStrings(imp.ips), imp.families
		spec.SessionAffinity, spec.SessionAffinityConfig = cs.affinity(imp)
		ann[AnnotationDerivedService] = imp.derived
	}
	if d := cs.opts.TrafficDistribution; d != "" {
		spec.TrafficDistribution = &d
	}
	return serviceImportDoc{
		TypeMeta: metav1.TypeMeta{APIVersion: mcsv1a1.GroupVersion.String(), Kind: "ServiceImport"},
		Metadata: metav1.ObjectMeta{Name: imp.key.name, Namespace: imp.key.namespace, Annotations: ann,
			Labels: map[string]string{LabelManagedBy: ManagedBy}},
		Spec: spec,
	}
}

// affinity is the import's session affinity; None, the default, is left
// out.
func (cs *clusterSet) affinity(imp *mcsImport) (corev1.ServiceAffinity, *corev1.SessionAffinityConfig) {
	if imp.affinity != corev1.ServiceAffinityClientIP {
		return "", nil
	}
	return imp.affinity, imp.affConfig
}

// derivedService is the Service kube-proxy serves a ClusterSetIP import
// by: selector-less, pinned to the import's IPs, its endpoints the
// EndpointSlices of every exporting cluster.
func (cs *clusterSet) derivedService(imp *mcsImport) serviceDoc {
	policy := corev1.IPFamilyPolicySingleStack
	if len(imp.families) > 1 {
		policy = corev1.IPFamilyPolicyRequireDualStack
	}
	ips := ipStrings(imp.ips)
	spec := corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ips[0], ClusterIPs: ips, IPFamilies: imp.families,
		IPFamilyPolicy: &policy, Ports: imp.ports}
	spec.SessionAffinity, spec.SessionAffinityConfig = cs.affinity(imp)
	if d := cs.opts.TrafficDistribution; d != "" {
		spec.TrafficDistribution = &d
	}
	ann := map[string]string{}
	if !imp.adopted { // never on a Service ssm did not create
		ann[AnnotationFluxForce] = "enabled"
	}
	return serviceDoc{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		Metadata: metav1.ObjectMeta{Name: imp.derived, Namespace: imp.key.namespace, Annotations: ann,
			Labels: map[string]string{LabelManagedBy: ManagedBy, LabelMCSServiceName: imp.key.name}},
		Spec: spec,
	}
}

// endpointSlices are e's EndpointSlices of imp: one per address family
// and port set, split at MaxEndpointsPerSlice, named
// <name>.<cluster>.<family>[.<n>] (dots: neither a Service name nor a
// cluster name holds one, so no two imports' names meet). Only ports the
// import has, of its protocol, are kept. A cluster exporting no endpoint
// has one empty slice: its export shows, and counts as its mirror.
func (cs *clusterSet) endpointSlices(imp *mcsImport, e exporter) []*discoveryv1.EndpointSlice {
	protocols := map[string]corev1.Protocol{}
	for _, p := range imp.ports {
		protocols[p.Name] = p.Protocol
	}
	keep := func(p epPort) bool { return protocols[p.name] == p.protocol }
	out := cutSlices(e.groups, keep, len(imp.ports) == 0, cs.zones, func(fam discoveryv1.AddressType, n int, eps []discoveryv1.Endpoint, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
		return cs.slice(imp, e, fam, n, eps, ports)
	})
	if len(out) == 0 {
		fam := discoveryv1.AddressTypeIPv4
		if f := serviceFamilies(e.svc); len(f) > 0 && f[0] == corev1.IPv6Protocol {
			fam = discoveryv1.AddressTypeIPv6
		}
		out = append(out, cs.slice(imp, e, fam, 1, []discoveryv1.Endpoint{}, []discoveryv1.EndpointPort{}))
	}
	return out
}

func (cs *clusterSet) slice(imp *mcsImport, e exporter, fam discoveryv1.AddressType, n int, eps []discoveryv1.Endpoint, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	name := sliceName(imp.key.name+"."+e.cluster, ".", fam, n)
	labels := map[string]string{LabelManagedBy: ManagedBy, discoveryv1.LabelManagedBy: SliceManagedBy,
		LabelMCSServiceName: imp.key.name, LabelMCSSourceCluster: e.cluster}
	if !imp.headless { // kube-proxy serves the derived Service from it
		labels[discoveryv1.LabelServiceName] = imp.derived
	}
	return &discoveryv1.EndpointSlice{
		TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: imp.key.namespace, Labels: labels},
		AddressType: fam,
		Endpoints:   eps,
		Ports:       ports,
	}
}

// zones keeps the remote zones of eps (KeepZones), each hinted for its own
// zone when a traffic distribution is asked for: kube-proxy routes by
// hints alone, and only when every endpoint of the Service has them.
func (cs *clusterSet) zones(eps []discoveryv1.Endpoint, grp group) {
	if !cs.opts.KeepZones {
		return
	}
	zoneOf := grp.zoneOf()
	for i := range eps {
		z := zoneOf[eps[i].Addresses[0]]
		if z == "" {
			continue
		}
		eps[i].Zone = &z
		if cs.opts.TrafficDistribution != "" {
			eps[i].Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: z}}}
		}
	}
}
