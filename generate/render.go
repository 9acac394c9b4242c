package generate

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ssm-dev/ssm/internal/kubeapi"
)

// MaxEndpointsPerSlice is the API's limit of endpoints in one EndpointSlice.
const MaxEndpointsPerSlice = 1000

// LabelSkipMirror stops the local EndpointSlice mirroring controller from
// mirroring Endpoints that ssm already renders as EndpointSlices.
const LabelSkipMirror = discoveryv1.LabelSkipMirror

// serviceDoc is a Service without status: nothing the API server owns is
// ever rendered.
type serviceDoc struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta  `json:"metadata"`
	Spec            corev1.ServiceSpec `json:"spec"`
}

func mirrorLabels(opts Options) map[string]string {
	return map[string]string{
		LabelPrefixSync: opts.ServicePrefix,
		LabelMirrored:   "true",
		LabelManagedBy:  ManagedBy,
	}
}

func (m mirror) meta(name string, opts Options, extra map[string]string) metav1.ObjectMeta {
	labels := make(map[string]string, len(m.labels)+len(extra))
	for k, v := range m.labels {
		labels[k] = v
	}
	for k, v := range extra {
		labels[k] = v
	}
	ann := map[string]string{}
	if m.svc != nil {
		ann[AnnotationNS], ann[AnnotationName] = m.svc.Namespace, m.svc.Name
	}
	if opts.Cluster != "" {
		ann[AnnotationCluster] = opts.Cluster
	}
	return metav1.ObjectMeta{Name: name, Namespace: m.namespace, Labels: labels, Annotations: ann}
}

// kindCounts counts a mirror's objects by kind: a cache entry holds one,
// which a map would make ten times the size.
type kindCounts struct{ services, endpoints, slices int32 }

func (c *kindCounts) add(d kindCounts) {
	c.services, c.endpoints, c.slices = c.services+d.services, c.endpoints+d.endpoints, c.slices+d.slices
}

// addTo adds the counts to objects, by kind name.
func (c kindCounts) addTo(objects map[string]int) {
	for _, k := range [...]struct {
		kind string
		n    int32
	}{{"Service", c.services}, {"Endpoints", c.endpoints}, {"EndpointSlice", c.slices}} {
		if k.n > 0 {
			objects[k.kind] += int(k.n)
		}
	}
}

// made is what rendering a mirror makes besides its bytes: its objects by
// kind, and its warnings; a Cache keeps both with the bytes, so that a
// mirror taken from it warns as one rendered anew.
type made struct {
	counts kindCounts
	notes  []Skipped
}

// render appends the mirror's documents to buf, counts them by kind and
// notes its warnings in out. It fails with a *refusal when the endpoints
// hold a port no API server accepts.
func (m mirror) render(buf []byte, opts Options, out *made) ([]byte, error) {
	if m.lazy {
		var sc screening
		var err error
		if m.groups, sc, err = endpointGroups(m.svc, m.eps, m.slcs, opts.DenyCIDRs); err != nil {
			return nil, err
		}
		out.notes = sc.notes(m.remote, m.name, "endpoint addresses")
	}
	var docs []any
	if m.spec != nil {
		docs = append(docs, m.service(opts))
	}
	if opts.EndpointsAPI == kubeapi.Endpoints || opts.EndpointsAPI == kubeapi.Both {
		ep, total := m.endpoints(opts)
		docs = append(docs, ep)
		if kept := MaxEndpointsPerSlice; opts.EndpointsAPI == kubeapi.Endpoints && total > kept {
			out.notes = append(out.notes, Skipped{Service: m.remote, Mirror: m.name, Reason: ReasonOverSliceLimit,
				Message: fmt.Sprintf("%d addresses, %d left out: the Endpoints object holds %d, ready ones first, annotated %s: %s as Kubernetes' endpoints controller does; render endpointslices (--endpoints-api endpointslices or both) to mirror them all",
					total, total-kept, kept, corev1.EndpointsOverCapacity, overCapacity)})
		}
	}
	if opts.EndpointsAPI == kubeapi.EndpointSlices || opts.EndpointsAPI == kubeapi.Both {
		for _, s := range m.endpointSlices(opts) {
			docs = append(docs, s)
		}
	}
	var err error
	if buf, err = marshalDocs(buf, docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		switch d.(type) {
		case serviceDoc:
			out.counts.services++
		case *corev1.Endpoints:
			out.counts.endpoints++
		case *discoveryv1.EndpointSlice:
			out.counts.slices++
		}
	}
	return buf, nil
}

// mirrorSpec is the selector-less local Service of an endpoints-mode
// mirror: ClusterIP, or headless when the remote is, whatever the remote
// type was; only the ports' identity is kept, with targetPort spelled out as
// the API server would default it.
func mirrorSpec(svc *corev1.Service) corev1.ServiceSpec {
	spec := corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, PublishNotReadyAddresses: svc.Spec.PublishNotReadyAddresses}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		spec.ClusterIP = corev1.ClusterIPNone
	}
	for _, p := range svc.Spec.Ports {
		spec.Ports = append(spec.Ports, corev1.ServicePort{
			Name:        p.Name,
			Protocol:    cmp.Or(p.Protocol, corev1.ProtocolTCP),
			AppProtocol: p.AppProtocol,
			Port:        p.Port,
			TargetPort:  intstr.FromInt32(p.Port),
		})
	}
	sortServicePorts(spec.Ports)
	return spec
}

func sortServicePorts(ps []corev1.ServicePort) {
	slices.SortFunc(ps, func(a, b corev1.ServicePort) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), strings.Compare(string(a.Protocol), string(b.Protocol)), strings.Compare(a.Name, b.Name))
	})
}

func (m mirror) service(opts Options) serviceDoc {
	meta := m.meta(m.name, opts, nil)
	if !m.adopted { // never on a Service ssm did not create
		meta.Annotations[AnnotationFluxForce] = "enabled"
	}
	return serviceDoc{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		Metadata: meta,
		Spec:     *m.spec,
	}
}

// endpoints is the mirror's Endpoints object, of at most
// MaxEndpointsPerSlice addresses, and how many addresses it would hold
// without that limit.
func (m mirror) endpoints(opts Options) (*corev1.Endpoints, int) {
	var extra map[string]string
	if opts.EndpointsAPI == kubeapi.Both {
		extra = map[string]string{LabelSkipMirror: "true"}
	}
	ep := &corev1.Endpoints{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: m.meta(m.name, opts, extra),
	}
	for _, g := range m.groups {
		// Sized up front: grown by append, ten addresses cost three
		// times their size in garbage.
		ready := 0
		for _, a := range g.addrs {
			if a.ready {
				ready++
			}
		}
		var ss corev1.EndpointSubset
		if ready > 0 {
			ss.Addresses = make([]corev1.EndpointAddress, 0, ready)
		}
		if ready < len(g.addrs) {
			ss.NotReadyAddresses = make([]corev1.EndpointAddress, 0, len(g.addrs)-ready)
		}
		for _, a := range g.addrs {
			ea := corev1.EndpointAddress{IP: a.ip.String(), Hostname: a.hostname}
			if a.ready {
				ss.Addresses = append(ss.Addresses, ea)
			} else {
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, ea)
			}
		}
		for _, p := range g.ports {
			ss.Ports = append(ss.Ports, corev1.EndpointPort{Name: p.name, Port: p.port, Protocol: p.protocol, AppProtocol: ptrOrNil(p.appProtocol)})
		}
		ep.Subsets = append(ep.Subsets, ss)
	}
	var total int
	if ep.Subsets, total = truncateSubsets(ep.Subsets, MaxEndpointsPerSlice); total > MaxEndpointsPerSlice {
		ep.Annotations[corev1.EndpointsOverCapacity] = overCapacity
	}
	return ep, total
}

// overCapacity is the endpoints.kubernetes.io/over-capacity value of a
// truncated Endpoints object.
const overCapacity = "truncated"

// truncateSubsets keeps at most limit addresses of subsets, as Kubernetes'
// endpoints controller does (truncateEndpoints): ready addresses first;
// the addresses of the kind that does not fit all are shared among the
// subsets in proportion to what each holds, rounded up, until none is
// left. Subsets left without addresses go, as the API server refuses them.
// It returns the subsets and how many addresses they held before.
func truncateSubsets(subsets []corev1.EndpointSubset, limit int) ([]corev1.EndpointSubset, int) {
	ready, notReady := 0, 0
	for _, ss := range subsets {
		ready, notReady = ready+len(ss.Addresses), notReady+len(ss.NotReadyAddresses)
	}
	if ready+notReady <= limit {
		return subsets, ready + notReady
	}
	truncateReady := ready > limit
	room, of := limit-ready, notReady // what the truncated kind may keep, of how many
	if truncateReady {
		room, of = limit, ready
	}
	left := room
	kept := subsets[:0]
	for _, ss := range subsets {
		addrs := &ss.NotReadyAddresses
		if truncateReady {
			addrs, ss.NotReadyAddresses = &ss.Addresses, nil
		}
		share := min((len(*addrs)*room+of-1)/of, left, len(*addrs)) // ⌈len·room/of⌉
		*addrs = (*addrs)[:share]
		left -= share
		if len(ss.Addresses)+len(ss.NotReadyAddresses) > 0 {
			kept = append(kept, ss)
		}
	}
	return kept, ready + notReady
}

// endpointSlices splits the groups by address family and into slices of at
// most MaxEndpointsPerSlice endpoints, named <mirror>-<family>[-<n>].
func (m mirror) endpointSlices(opts Options) []*discoveryv1.EndpointSlice {
	return cutSlices(m.groups, nil, true, nil, func(fam discoveryv1.AddressType, n int, eps []discoveryv1.Endpoint, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta: m.meta(sliceName(m.name, "-", fam, n), opts, map[string]string{
				discoveryv1.LabelServiceName: m.name,
				discoveryv1.LabelManagedBy:   SliceManagedBy,
			}),
			AddressType: fam,
			Endpoints:   eps,
			Ports:       ports,
		}
	})
}

// cutSlices cuts groups into EndpointSlices of at most MaxEndpointsPerSlice
// endpoints, by address family, numbered from 1 within each family, for
// every kind of output: keep says which ports of a group stay (nil: all),
// and a group left with none is dropped unless the Service has no ports
// (portless); hint, unless nil, sets the zones and hints of a group's
// endpoints; build makes the slice of family fam numbered n.
func cutSlices(groups []group, keep func(epPort) bool, portless bool, hint func([]discoveryv1.Endpoint, group),
	build func(fam discoveryv1.AddressType, n int, eps []discoveryv1.Endpoint, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, fam := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
		n := 0
		for _, g := range groups {
			ports := g.ports
			if keep != nil {
				ports = slices.DeleteFunc(slices.Clone(g.ports), func(p epPort) bool { return !keep(p) })
				if len(ports) == 0 && !portless {
					continue
				}
			}
			eps := sliceEndpoints(g, fam == discoveryv1.AddressTypeIPv6)
			if hint != nil {
				hint(eps, g)
			}
			for chunk := range slices.Chunk(eps, MaxEndpointsPerSlice) {
				n++
				out = append(out, build(fam, n, chunk, slicePorts(ports)))
			}
		}
	}
	return out
}

// sliceName is base, the family and, from the second slice of a family
// on, its number, joined by sep.
func sliceName(base, sep string, fam discoveryv1.AddressType, n int) string {
	name := base + sep + strings.ToLower(string(fam))
	if n > 1 {
		name += sep + strconv.Itoa(n)
	}
	return name
}

// zoneOf maps each address of g to its remote zone.
func (g group) zoneOf() map[string]string {
	out := make(map[string]string, len(g.addrs))
	for _, a := range g.addrs {
		out[a.ip.String()] = a.zone
	}
	return out
}

func sliceEndpoints(g group, v6 bool) []discoveryv1.Endpoint {
	n := 0
	for _, a := range g.addrs {
		if a.ip.Is6() == v6 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	eps := make([]discoveryv1.Endpoint, 0, n) // sized up front, as in endpoints
	for _, a := range g.addrs {
		if a.ip.Is6() != v6 {
			continue
		}
		ready := a.ready
		eps = append(eps, discoveryv1.Endpoint{
			Addresses:  []string{a.ip.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: a.serving, Terminating: a.terminating},
			Hostname:   ptrOrNil(a.hostname),
		})
	}
	return eps
}

func slicePorts(ps []epPort) []discoveryv1.EndpointPort {
	out := make([]discoveryv1.EndpointPort, 0, len(ps))
	for _, p := range ps {
		out = append(out, discoveryv1.EndpointPort{Name: &p.name, Port: &p.port, Protocol: &p.protocol, AppProtocol: ptrOrNil(p.appProtocol)})
	}
	return out
}

func ptrOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Kustomize adds a kustomization.yaml to every directory of files: it lists
// the directory's files, then its subdirectories, in path order, after the
// ownership Header. The root's is always there, so one `-k` or one GitOps
// path applies everything.
func Kustomize(files map[string][]byte) {
	entries := map[string][]string{".": nil}
	listed := map[string]bool{} // directories their parent lists
	for p := range files {
		base := path.Base(p)
		if base == KustomizationFile {
			continue
		}
		dir := path.Dir(p)
		entries[dir] = append(entries[dir], base)
		// Every ancestor lists the directory below it once.
		for d := dir; d != "." && !listed[d]; d = path.Dir(d) {
			listed[d] = true
			parent := path.Dir(d)
			entries[parent] = append(entries[parent], path.Base(d)+"/")
			if _, ok := entries[d]; !ok {
				entries[d] = nil
			}
		}
	}
	for dir, names := range entries {
		files[path.Join(dir, KustomizationFile)] = kustomization(names)
	}
}

// kustomization lists files before directories (names ending in /), each
// group in name order.
func kustomization(names []string) []byte {
	slices.SortFunc(names, func(a, b string) int {
		if da, db := strings.HasSuffix(a, "/"), strings.HasSuffix(b, "/"); da != db {
			return boolCmp(da, db)
		}
		return strings.Compare(a, b)
	})
	const head = Header + "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
	size := len(head) + len("resources: []\n")
	for _, n := range names {
		size += len(n) + 5
	}
	b := make([]byte, 0, size)
	b = append(b, head...)
	if len(names) == 0 {
		return append(b, "resources: []\n"...)
	}
	b = append(b, "resources:\n"...)
	for _, n := range names {
		b = append(b, "- "...)
		b = appendName(b, strings.TrimSuffix(n, "/"))
		b = append(b, '\n')
	}
	return b
}

// appendName appends a file or folder name as a YAML string: quoted when
// YAML would read it plain as something else. A folder is named after a
// remote namespace (--layout namespaces) or a cluster, and namespaces such
// as "on", "no", "null", "0123" or "1e3" are valid: plain, kustomize reads
// them as a boolean, null or a number and refuses the whole tree. A name
// starting with a letter is a string but for YAML 1.1's words: names are
// of Kubernetes objects and clusters, letters, digits, '-', '_' and '.'.
func appendName(b []byte, name string) []byte {
	if c := name[0]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') || yamlWords[strings.ToLower(name)] {
		return strconv.AppendQuote(b, name)
	}
	return append(b, name...)
}

// yamlWords are the plain scalars starting with a letter that YAML 1.1
// reads as booleans or null.
var yamlWords = map[string]bool{"y": true, "yes": true, "n": true, "no": true, "true": true, "false": true, "on": true, "off": true, "null": true}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}
