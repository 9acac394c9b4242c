package generate

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ssm-dev/ssm/generate/internal/yamlemit"
)

// semaphore-service-mirror's names for global Services and their slices,
// kept so that queries and policies written for it carry over.
const (
	GlobalPrefix             = "gl"
	LabelGlobal              = "global-svc"
	AnnotationGlobalClusters = "global-svc-clusters"
	LabelMirroredSlice       = "mirrored-endpoint-slice"
	LabelSliceCluster        = "mirror-endpointslice-sync-name"
	// RemoteZone is the zone, and the only zone hint, of remote endpoints
	// of a local-first global Service: no local node is in it, so kube-proxy
	// routes to them only when no local endpoint is ready.
	RemoteZone = "remote"
	// AnnotationTopologyMode asks for topology-aware routing; ssm renders
	// the hints itself.
	AnnotationTopologyMode = corev1.AnnotationTopologyMode
)

// GlobalName is the name of the global Service of every ns/name:
// gl-<ns>-73736d-<name>. It may be invalid; see Tree.
func GlobalName(ns, name string) string {
	return GlobalPrefix + "-" + ns + "-" + Separator + "-" + name
}

// member is one cluster's Service contributing to a global Service.
type member struct {
	cluster string
	local   bool
	svc     *corev1.Service
	groups  []group
	notes   []Skipped // warnings about its endpoints
}

// globalServices renders, for every namespace/name selected as global in
// any cluster, global/<gl-name>.yaml with the Service and
// global/<cluster>/<gl-name>.yaml with that cluster's EndpointSlices.
func globalServices(clusters []Cluster, g GlobalOptions, local *Local) (Result, error) {
	res := Result{Files: map[string][]byte{}, Objects: map[string]int{}}
	var routing labels.Selector
	if g.RoutingStrategy != "" {
		var err error
		if routing, err = labels.Parse(g.RoutingStrategy); err != nil {
			return Result{}, fmt.Errorf("routing strategy label %q: %w", g.RoutingStrategy, err)
		}
	}
	members := map[string][]member{}
	for _, c := range clusters {
		if c.Unread {
			continue
		}
		eps, slcs := endpointIndex(c.Global)
		for _, svc := range c.Global.Services {
			m, refused := newMember(c, svc, eps, slcs)
			if refused != nil {
				res.Skipped = append(res.Skipped, *refused)
				continue
			}
			k := key(svc.Namespace, svc.Name)
			members[k] = append(members[k], m)
		}
	}
	if len(members) == 0 {
		return res, nil
	}
	if errs := validation.IsDNS1123Label(g.MirrorNamespace); len(errs) > 0 {
		return Result{}, fmt.Errorf("mirror namespace %q: %s", g.MirrorNamespace, strings.Join(errs, "; "))
	}
	byName := map[string][]string{}
	for k := range members {
		ns, name, _ := strings.Cut(k, "/")
		byName[GlobalName(ns, name)] = append(byName[GlobalName(ns, name)], k)
	}
	var buf []byte
	owners := ownersOf(local, Options{Adopt: g.Adopt})
	for _, name := range keysSorted(byName) {
		keys := byName[name]
		if skipped := unnamable(name, keys, members); len(skipped) > 0 {
			res.Skipped = append(res.Skipped, skipped...)
			continue
		}
		claim := owners.claim(g.MirrorNamespace, name, semaphoreGlobalMade)
		if claim == claimTaken {
			for _, m := range members[keys[0]] {
				s := taken(keys[0], g.MirrorNamespace, name)
				s.Cluster = m.cluster
				res.Skipped = append(res.Skipped, s)
			}
			continue
		}
		gs := globalService{name: name, namespace: g.MirrorNamespace, members: members[keys[0]], adopted: claim == claimAdopted}
		slices.SortFunc(gs.members, func(a, b member) int { return strings.Compare(a.cluster, b.cluster) })
		skipped, warnings := gs.admit()
		res.Skipped, res.Warnings = append(res.Skipped, skipped...), append(res.Warnings, warnings...)
		if len(gs.members) == 0 {
			continue
		}
		for _, m := range gs.members {
			res.Warnings = append(res.Warnings, m.notes...)
		}
		res.Warnings = append(res.Warnings, gs.plan(routing)...)
		// Into a scratch result: a global Service that cannot be rendered
		// leaves nothing half written.
		one := Result{Files: map[string][]byte{}, Objects: map[string]int{}}
		var err error
		if buf, err = gs.render(buf, g, &one); err != nil {
			for _, m := range gs.members {
				res.Skipped = append(res.Skipped, Skipped{Cluster: m.cluster, Service: key(m.svc.Namespace, m.svc.Name), Mirror: name,
					Reason: ReasonUnrenderable, Message: err.Error()})
			}
			continue
		}
		res.add("", one)
	}
	return res, nil
}

// newMember screens a Service of cluster c selected as global, and its
// endpoints (from eps and slcs), as a mirror's: a Service with a port no
// API server accepts is refused, addresses the policy refuses are left out
// (with the cluster's own deny ranges, which the local cluster has none of:
// its addresses are local by definition).
func newMember(c Cluster, svc *corev1.Service, eps map[objectKey][]*corev1.Endpoints, slcs map[objectKey][]*discoveryv1.EndpointSlice) (member, *Skipped) {
	id, name := objectKey{svc.Namespace, svc.Name}, GlobalName(svc.Namespace, svc.Name)
	m := member{cluster: c.Name, local: c.Local, svc: svc}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return m, nil // admit leaves it out, with its reason
	}
	if r := checkPorts(svc.Spec.Ports, portRules{}); r != nil {
		s := r.skippedFor(key(svc.Namespace, svc.Name), name)
		s.Cluster = c.Name
		return m, &s
	}
	groups, notes, refused := screenEndpoints(c, svc, eps[id], slcs[id], name)
	if refused != nil {
		return m, refused
	}
	m.groups, m.notes = groups, notes
	return m, nil
}

// unnamable reports the Services whose global Service cannot be named: an
// invalid name, or two namespace/name pairs with the same one.
func unnamable(name string, keys []string, members map[string][]member) []Skipped {
	var out []Skipped
	reason, msg := "", ""
	errs := validation.IsDNS1035Label(name)
	switch {
	case len(keys) > 1:
		reason, msg = ReasonNameCollision, fmt.Sprintf("%d Services would share the global Service %q", len(keys), name)
	case len(errs) > 0:
		reason = ReasonInvalidName
		msg = fmt.Sprintf("global Service name %q (%d characters) is not a valid Service name: %s", name, len(name), strings.Join(errs, "; "))
	default:
		return nil
	}
	for _, k := range keys {
		for _, m := range members[k] {
			out = append(out, Skipped{Cluster: m.cluster, Service: k, Mirror: name, Reason: reason, Message: msg})
		}
	}
	return out
}

// globalService is one global Service being planned.
type globalService struct {
	name, namespace string
	adopted         bool     // takes over a local Service ssm did not render
	members         []member // sorted by cluster
	spec            corev1.ServiceSpec
	topology        bool
}

// admit leaves out ExternalName Services, and Services that disagree with
// the majority on being headless (a tie makes it a ClusterIP Service).
func (gs *globalService) admit() (skipped, warnings []Skipped) {
	kept := gs.members[:0:0]
	headless := 0
	for _, m := range gs.members {
		if m.svc.Spec.Type == corev1.ServiceTypeExternalName {
			skipped = append(skipped, Skipped{Cluster: m.cluster, Service: key(m.svc.Namespace, m.svc.Name), Mirror: gs.name,
				Reason: ReasonExternalName, Message: "ExternalName Services have no endpoints to mirror"})
			continue
		}
		if m.svc.Spec.ClusterIP == corev1.ClusterIPNone {
			headless++
		}
		kept = append(kept, m)
	}
	wantHeadless := headless*2 > len(kept)
	gs.members = kept[:0:0]
	for _, m := range kept {
		if (m.svc.Spec.ClusterIP == corev1.ClusterIPNone) != wantHeadless {
			what := map[bool]string{true: "headless", false: "not headless"}
			warnings = append(warnings, Skipped{Cluster: m.cluster, Service: key(m.svc.Namespace, m.svc.Name), Mirror: gs.name, Reason: ReasonHeadless,
				Message: fmt.Sprintf("left out of the global Service: cluster %s's Service is %s, most others' are %s",
					m.cluster, what[!wantHeadless], what[wantHeadless])})
			continue
		}
		gs.members = append(gs.members, m)
	}
	return skipped, warnings
}

// plan decides the Service: the first member's (by cluster name) spec with
// the union of every member's ports, and local-first routing when any
// member's Service matches the routing strategy.
func (gs *globalService) plan(routing labels.Selector) []Skipped {
	gs.spec = mirrorSpec(gs.members[0].svc)
	type owned struct {
		port    corev1.ServicePort
		cluster string
	}
	var all []owned
	for _, m := range gs.members {
		for _, p := range mirrorSpec(m.svc).Ports {
			all = append(all, owned{p, m.cluster})
		}
		gs.topology = gs.topology || (routing != nil && routing.Matches(labels.Set(m.svc.Labels)))
	}
	slices.SortStableFunc(all, func(a, b owned) int {
		return cmp.Or(cmp.Compare(a.port.Port, b.port.Port), strings.Compare(string(a.port.Protocol), string(b.port.Protocol)),
			strings.Compare(a.port.Name, b.port.Name), strings.Compare(a.cluster, b.cluster))
	})
	var warnings []Skipped
	gs.spec.Ports = nil
	names, numbers := map[string]corev1.ServicePort{}, map[string]corev1.ServicePort{}
	for _, o := range all {
		num := fmt.Sprintf("%d/%s", o.port.Port, o.port.Protocol)
		byName, nameUsed := names[o.port.Name]
		byNum, numUsed := numbers[num]
		switch {
		case nameUsed && numUsed && byName.Name == byNum.Name && byName.Port == byNum.Port:
			continue // the same port in another cluster
		case nameUsed || numUsed:
			warnings = append(warnings, Skipped{Cluster: o.cluster, Service: key(gs.members[0].svc.Namespace, gs.members[0].svc.Name),
				Mirror: gs.name, Reason: ReasonPortConflict,
				Message: fmt.Sprintf("port %q %s left out of the global Service: its name or number is taken by another cluster's port", o.port.Name, num)})
			continue
		}
		names[o.port.Name], numbers[num] = o.port, o.port
		gs.spec.Ports = append(gs.spec.Ports, o.port)
	}
	sortServicePorts(gs.spec.Ports)
	return warnings
}

// render appends the Service's file and each member's slice file to res.
func (gs *globalService) render(buf []byte, g GlobalOptions, res *Result) ([]byte, error) {
	first := gs.members[0].svc
	clusters := make([]string, len(gs.members))
	for i, m := range gs.members {
		clusters[i] = m.cluster
	}
	ann := map[string]string{AnnotationGlobalClusters: strings.Join(clusters, ","), AnnotationNS: first.Namespace, AnnotationName: first.Name}
	if !gs.adopted { // never on a Service ssm did not create
		ann[AnnotationFluxForce] = "enabled"
	}
	if gs.topology {
		ann[AnnotationTopologyMode] = "Auto"
	}
	svc := serviceDoc{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		Metadata: metav1.ObjectMeta{Name: gs.name, Namespace: gs.namespace, Annotations: ann,
			Labels: map[string]string{LabelGlobal: "true", LabelManagedBy: ManagedBy}},
		Spec: gs.spec,
	}
	var err error
	if buf, err = yamlemit.Marshal(buf[:0], svc); err != nil {
		return nil, err
	}
	file := path.Join(GlobalDir, gs.name+".yaml")
	res.Files[file] = slices.Clone(buf)
	res.Objects["Service"]++
	res.Mirrors = append(res.Mirrors, Mirror{Service: key(first.Namespace, first.Name), Name: gs.name, File: file})
	for _, m := range gs.members {
		buf = buf[:0]
		for i, s := range gs.slices(m, g.LocalZones) {
			if i > 0 {
				buf = append(buf, "---\n"...)
			}
			if buf, err = yamlemit.Marshal(buf, s); err != nil {
				return nil, err
			}
			res.Objects["EndpointSlice"]++
		}
		if len(buf) > 0 {
			res.Files[path.Join(GlobalDir, m.cluster, gs.name+".yaml")] = slices.Clone(buf)
		}
	}
	return buf, nil
}

// slices are a member's EndpointSlices, one per address family and port
// set, split at MaxEndpointsPerSlice, named
// <gl-name>-<cluster slug>-<family>[-<n>]. Only ports the global Service
// has are kept.
func (gs *globalService) slices(m member, localZones []string) []*discoveryv1.EndpointSlice {
	ports := map[string]bool{}
	for _, p := range gs.spec.Ports {
		ports[p.Name] = true
	}
	var hint func([]discoveryv1.Endpoint, group)
	if gs.topology {
		hint = func(eps []discoveryv1.Endpoint, grp group) { hintZones(eps, grp, m.local, localZones) }
	}
	base := gs.name + "-" + ClusterSlug(m.cluster)
	keep := func(p epPort) bool { return ports[p.name] }
	return cutSlices(m.groups, keep, len(gs.spec.Ports) == 0, hint, func(fam discoveryv1.AddressType, n int, eps []discoveryv1.Endpoint, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta: metav1.ObjectMeta{Name: sliceName(base, "-", fam, n), Namespace: gs.namespace,
				Labels: map[string]string{
					discoveryv1.LabelServiceName: gs.name, discoveryv1.LabelManagedBy: SliceManagedBy,
					LabelMirroredSlice: "true", LabelSliceCluster: m.cluster, LabelManagedBy: ManagedBy,
				},
				Annotations: map[string]string{AnnotationCluster: m.cluster, AnnotationNS: m.svc.Namespace, AnnotationName: m.svc.Name}},
			AddressType: fam,
			Endpoints:   eps,
			Ports:       ports,
		}
	})
}

// hintZones sets local-first topology, as semaphore-service-mirror does:
// remote endpoints are in, and hinted for, RemoteZone only; local endpoints
// keep their zone and are hinted for every local zone. kube-proxy uses
// hints only when every endpoint has them.
func hintZones(eps []discoveryv1.Endpoint, grp group, local bool, localZones []string) {
	zones := []discoveryv1.ForZone{{Name: RemoteZone}}
	if local {
		names := slices.Clone(localZones)
		if len(names) == 0 {
			names = []string{"local"}
		}
		slices.Sort(names)
		zones = zones[:0]
		for _, z := range slices.Compact(names) {
			zones = append(zones, discoveryv1.ForZone{Name: z})
		}
	}
	zoneOf := grp.zoneOf()
	for i := range eps {
		eps[i].Hints = &discoveryv1.EndpointHints{ForZones: zones}
		z := RemoteZone
		if local {
			z = zoneOf[eps[i].Addresses[0]]
		}
		eps[i].Zone = ptrOrNil(z)
	}
}
