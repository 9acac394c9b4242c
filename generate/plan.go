package generate

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// mirror is a remote Service planned for rendering, with its endpoints
// normalised into groups that share one port set.
type mirror struct {
	remote    string // namespace/name of the Service it comes from
	namespace string // where the mirror lives locally
	name      string
	file      string
	svc       *corev1.Service     // the Service it comes from, for annotations
	spec      *corev1.ServiceSpec // the Service to render; nil renders endpoints only
	labels    map[string]string   // on every object of the mirror
	groups    []group
	// eps and slcs are the Service's endpoint objects, made into groups
	// only when the mirror is rendered (not when a Cache has it).
	eps  []*corev1.Endpoints
	slcs []*discoveryv1.EndpointSlice
	lazy bool
	// key names its inputs for a Cache (see inputs); hit says the cache
	// holds the mirror, rendered from them: data, and what else it made.
	key  string
	hit  bool
	data []byte
	made made
	rank int // place in the last render's order; -1: none
	// adopted marks a mirror taking over a local Service ssm did not
	// render (claimAdopted).
	adopted bool
}

type epPort struct {
	name        string
	port        int32
	protocol    corev1.Protocol
	appProtocol string
}

type epAddr struct {
	ip                   netip.Addr
	hostname             string
	zone                 string // only global Services' local endpoints render it
	ready                bool
	serving, terminating *bool
}

// group is a set of addresses that all serve the same ports: one Endpoints
// subset, or the endpoints of EndpointSlices with equal ports.
type group struct {
	ports []epPort
	addrs []epAddr
}

func key(ns, name string) string { return ns + "/" + name }

// mirrorFile is where a mirror of a Service of remote namespace ns, named
// name, is rendered: <name>.yaml, or <ns>/<name>.yaml by namespace.
func mirrorFile(opts Options, ns, name string) string {
	if opts.ByNamespace {
		return ns + "/" + name + ".yaml"
	}
	return name + ".yaml"
}

// plan decides what to render: one mirror per valid remote Service, sorted
// by mirror name, and the Services left out with why. A mirror cache
// holds from the same inputs is taken as it is. Warnings come with each
// mirror's rendering (see made).
func plan(state State, opts Options, cache *Cache) ([]mirror, []Skipped) {
	eps, slcs, changed := cache.endpointIndex(state)
	mirrors := cache.planRoom(len(state.Services))
	local := ownersOf(state.Local, opts)
	heir := semaphoreMirrorMade(opts.ServicePrefix)
	var skipped []Skipped
	for _, svc := range state.Services {
		n := cache.namesOf(svc, func() names {
			name := MirrorName(opts.ServicePrefix, svc.Namespace, svc.Name)
			return names{remote: key(svc.Namespace, svc.Name), name: name, file: mirrorFile(opts, svc.Namespace, name)}
		})
		claim := local.claim(opts.MirrorNamespace, n.name, heir)
		if claim == claimTaken {
			skipped = append(skipped, taken(n.remote, opts.MirrorNamespace, n.name))
			continue
		}
		id := objectKey{svc.Namespace, svc.Name}
		m := mirror{remote: n.remote, namespace: opts.MirrorNamespace, name: n.name, file: n.file,
			svc: svc, lazy: true, rank: cache.rankOf(n), adopted: claim == claimAdopted}
		// A mirror rendered before from these very inputs is valid and
		// needs no planning; its endpoint objects are looked up only when
		// it may not be.
		e, hit := cache.sameObjects(m, changed(id))
		if hit {
			m.key = e.inputs
		} else {
			m.eps, m.slcs = eps[id], slcs[id]
			e, m.key, hit = cache.lookup(m)
		}
		if m.hit = hit; m.hit {
			m.data, m.made = e.data, e.made
		} else {
			if s, ok := m.check(); !ok {
				skipped = append(skipped, s)
				continue
			}
			spec := mirrorSpec(svc)
			m.spec, m.labels = &spec, mirrorLabels(opts)
		}
		mirrors = append(mirrors, m)
	}
	// The same Service objects as the last render's go back to their
	// places; anything else is sorted, and ranked for the next render.
	if cache != nil {
		if cache.same = placed(mirrors); !cache.same {
			sortMirrors(mirrors)
			cache.rank(mirrors)
		}
	} else {
		sortMirrors(mirrors)
	}
	kept, skipped := distinct(mirrors, skipped)
	return kept, skipped
}

// check reports why a Service cannot be mirrored, if it cannot.
func (m mirror) check() (Skipped, bool) {
	if m.svc.Spec.Type == corev1.ServiceTypeExternalName {
		return Skipped{Service: m.remote, Mirror: m.name, Reason: ReasonExternalName,
			Message: "ExternalName Services have no endpoints to mirror"}, false
	}
	if errs := validation.IsDNS1035Label(m.name); len(errs) > 0 {
		return Skipped{Service: m.remote, Mirror: m.name, Reason: ReasonInvalidName,
			Message: fmt.Sprintf("mirror name %q (%d characters) is not a valid Service name: %s", m.name, len(m.name), strings.Join(errs, "; "))}, false
	}
	if r := checkPorts(m.svc.Spec.Ports, portRules{}); r != nil {
		return r.skippedFor(m.remote, m.name), false
	}
	return Skipped{}, true
}

// sortMirrors sorts mirrors by name. It sorts indices and then moves the
// mirrors, which are large, in place.
func sortMirrors(mirrors []mirror) {
	order := make([]int, len(mirrors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(mirrors[a].name, mirrors[b].name) })
	// mirrors[i] = the mirror at order[i], one cycle of the permutation at
	// a time; a placed index points at itself.
	for i := range order {
		if order[i] == i {
			continue
		}
		first, j := mirrors[i], i
		for {
			k := order[j]
			order[j] = j
			if k == i {
				mirrors[j] = first
				break
			}
			mirrors[j], j = mirrors[k], k
		}
	}
}

// placed puts every mirror at its rank and reports true when their ranks
// are exactly 0 to len(mirrors)-1: the Service objects of the render that
// ranked them, in its order. Otherwise it leaves mirrors as they are.
func placed(mirrors []mirror) bool {
	seen := make([]bool, len(mirrors))
	for _, m := range mirrors {
		if m.rank < 0 || m.rank >= len(mirrors) || seen[m.rank] {
			return false
		}
		seen[m.rank] = true
	}
	for i := range mirrors {
		for mirrors[i].rank != i {
			r := mirrors[i].rank
			mirrors[i], mirrors[r] = mirrors[r], mirrors[i]
		}
	}
	return true
}

// distinct leaves out of sorted mirrors those that share a name, and sorts
// the skipped by Service.
func distinct(mirrors []mirror, skipped []Skipped) ([]mirror, []Skipped) {
	kept := mirrors[:0]
	for i := 0; i < len(mirrors); {
		j := i + 1
		for j < len(mirrors) && mirrors[j].name == mirrors[i].name {
			j++
		}
		if n := j - i; n > 1 {
			for _, m := range mirrors[i:j] {
				skipped = append(skipped, Skipped{Service: m.remote, Mirror: m.name, Reason: ReasonNameCollision,
					Message: fmt.Sprintf("%d remote Services would be mirrored as %q", n, m.name)})
			}
		} else {
			kept = append(kept, mirrors[i]) // at or before i: read already
		}
		i = j
	}
	slices.SortFunc(skipped, func(a, b Skipped) int {
		return cmp.Or(strings.Compare(a.Service, b.Service), strings.Compare(a.Reason, b.Reason))
	})
	return kept, skipped
}

// objectKey is the namespace and name of an object.
type objectKey struct{ namespace, name string }

// endpointIndex maps a Service's namespace and name to its endpoint
// objects. A Service's one Endpoints object (the rule) is a slice of
// state's own, allocated only when a second one comes; the slices are
// state's: keep a copy.
func endpointIndex(state State) (map[objectKey][]*corev1.Endpoints, map[objectKey][]*discoveryv1.EndpointSlice) {
	eps := make(map[objectKey][]*corev1.Endpoints, len(state.Endpoints))
	for i, e := range state.Endpoints {
		k := objectKey{e.Namespace, e.Name}
		if have, ok := eps[k]; ok {
			eps[k] = append(have, e) // a copy: the capacity is the length
		} else {
			eps[k] = state.Endpoints[i : i+1 : i+1]
		}
	}
	slcs := map[objectKey][]*discoveryv1.EndpointSlice{}
	for i, s := range state.EndpointSlices {
		if k, ok := sliceKey(s); ok {
			if have, ok := slcs[k]; ok {
				slcs[k] = append(have, s)
			} else {
				slcs[k] = state.EndpointSlices[i : i+1 : i+1]
			}
		}
	}
	return eps, slcs
}

// sliceKey is the Service an EndpointSlice belongs to, by its
// kubernetes.io/service-name label.
func sliceKey(s *discoveryv1.EndpointSlice) (objectKey, bool) {
	svc := s.Labels[discoveryv1.LabelServiceName]
	return objectKey{s.Namespace, svc}, svc != ""
}

// endpointGroups normalises the endpoints of svc: EndpointSlices when there
// are any, else Endpoints. Ports are kept when their name matches a Service
// port; addresses are screened (see screenAddress; deny: the ranges denied
// besides), deduplicated by IP (ready wins) and sorted; groups with equal
// port sets are merged. Remote-only fields (targetRef, nodeName, zone) are
// dropped here. It fails with a *refusal when a port kept is one no API
// server accepts.
func endpointGroups(svc *corev1.Service, eps []*corev1.Endpoints, slcs []*discoveryv1.EndpointSlice, deny []netip.Prefix) ([]group, screening, error) {
	wanted := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		wanted[p.Name] = true
	}
	m := groupMerger{wanted: wanted, portless: len(svc.Spec.Ports) == 0, groups: map[string]*mergedGroup{}, deny: deny}
	if len(slcs) > 0 {
		for _, s := range slcs {
			m.addSlice(s)
		}
	} else {
		for _, e := range eps {
			for _, ss := range e.Subsets {
				m.addSubset(ss)
			}
		}
	}
	if m.refused != nil {
		return nil, screening{}, m.refused
	}
	return m.result(), m.screen, nil
}

// mergedGroup holds every address added for its ports, an IP perhaps
// several times: result keeps the preferred entry of each. A slice, not a
// map by IP: the map and the sorted copy made of it were the largest
// garbage of a full render.
type mergedGroup struct {
	ports []epPort
	addrs []epAddr
}

type groupMerger struct {
	wanted   map[string]bool
	portless bool
	groups   map[string]*mergedGroup
	deny     []netip.Prefix
	screen   screening
	// refused is the port problem of the smallest message, so that the
	// one reported does not depend on the order of the input.
	refused *refusal
}

func (m *groupMerger) addSubset(ss corev1.EndpointSubset) {
	ports := make([]epPort, 0, len(ss.Ports))
	for _, p := range ss.Ports {
		ports = append(ports, epPort{name: p.Name, port: p.Port, protocol: p.Protocol, appProtocol: deref(p.AppProtocol)})
	}
	g := m.group(ports, len(ss.Addresses)+len(ss.NotReadyAddresses))
	if g == nil {
		return
	}
	for _, a := range ss.Addresses {
		m.add(g, epAddr{hostname: a.Hostname, ready: true}, a.IP)
	}
	for _, a := range ss.NotReadyAddresses {
		m.add(g, epAddr{hostname: a.Hostname}, a.IP)
	}
}

func (m *groupMerger) addSlice(s *discoveryv1.EndpointSlice) {
	if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
		return // FQDN slices are deprecated and carry no IPs
	}
	ports := make([]epPort, 0, len(s.Ports))
	for _, p := range s.Ports {
		ports = append(ports, epPort{name: deref(p.Name), port: deref(p.Port), protocol: deref(p.Protocol), appProtocol: deref(p.AppProtocol)})
	}
	g := m.group(ports, len(s.Endpoints))
	if g == nil {
		return
	}
	for _, e := range s.Endpoints {
		if len(e.Addresses) == 0 {
			continue
		}
		// A nil ready condition means unknown, which consumers treat as ready.
		ready := e.Conditions.Ready == nil || *e.Conditions.Ready
		m.add(g, epAddr{hostname: deref(e.Hostname), zone: deref(e.Zone), ready: ready, serving: e.Conditions.Serving, terminating: e.Conditions.Terminating}, e.Addresses[0])
	}
}

// group returns the merged group for a port set, or nil when none of its
// ports belongs to the Service. A new group's addresses are sized for n,
// the addresses about to be added.
func (m *groupMerger) group(ports []epPort, n int) *mergedGroup {
	kept := ports[:0]
	for _, p := range ports {
		if !m.wanted[p.name] || p.port == 0 {
			continue
		}
		if p.protocol == "" {
			p.protocol = corev1.ProtocolTCP
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 && !m.portless {
		return nil
	}
	slices.SortFunc(kept, comparePorts)
	kept = slices.CompactFunc(kept, func(a, b epPort) bool { return comparePorts(a, b) == 0 })
	m.checkPorts(kept)
	k := portsKey(kept)
	g := m.groups[k]
	if g == nil {
		g = &mergedGroup{ports: slices.Clone(kept), addrs: make([]epAddr, 0, n)}
		m.groups[k] = g
	}
	return g
}

// checkPorts notes a port of kept, sorted by name, that no API server
// accepts in an Endpoints object or an EndpointSlice.
func (m *groupMerger) checkPorts(kept []epPort) {
	for i, p := range kept {
		id := func() string { return fmt.Sprintf("endpoint port %q (%d)", p.name, p.port) }
		r := checkPort(id, p.name, p.port, p.protocol, p.appProtocol, p.appProtocol != "")
		if r == nil && i > 0 && kept[i-1].name == p.name {
			r = &refusal{ReasonInvalidPort, id() + ": a second endpoint port of that name"}
		}
		if r != nil && (m.refused == nil || r.msg < m.refused.msg) {
			m.refused = r
		}
	}
}

// add adds a, whose IP is ip, to g unless the address policy refuses it.
// A hostname that is not a DNS-1123 label is left out.
func (m *groupMerger) add(g *mergedGroup, a epAddr, ip string) {
	addr, why := screenAddress(ip, m.deny)
	if why != "" {
		m.screen.dropAddress(ip, why)
		return
	}
	if a.hostname != "" && len(validation.IsDNS1123Label(a.hostname)) > 0 {
		m.screen.dropHostname(a.hostname)
		a.hostname = ""
	}
	a.ip = addr
	g.addrs = append(g.addrs, a)
}

// preferAddr decides between two entries for one IP independently of their
// order: ready first, then the smaller hostname, then fewer conditions,
// then the smaller zone. Entries neither of which it prefers are equal in
// everything rendered.
func preferAddr(a, b epAddr) bool {
	if a.ready != b.ready {
		return a.ready
	}
	if a.hostname != b.hostname {
		return b.hostname == "" || (a.hostname != "" && a.hostname < b.hostname)
	}
	return cmp.Or(strings.Compare(condKey(a), condKey(b)), strings.Compare(a.zone, b.zone)) < 0
}

func condKey(a epAddr) string {
	f := func(b *bool) string {
		if b == nil {
			return "-"
		}
		return fmt.Sprint(*b)
	}
	return f(a.serving) + f(a.terminating)
}

func (m *groupMerger) result() []group {
	keys := make([]string, 0, len(m.groups))
	for k, g := range m.groups {
		if len(g.addrs) > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]group, 0, len(keys))
	for _, k := range keys {
		g := m.groups[k]
		out = append(out, group{ports: g.ports, addrs: preferred(g.addrs)})
	}
	return out
}

// preferred sorts addrs by IP, in place, and keeps the entry preferAddr
// prefers of each IP.
func preferred(addrs []epAddr) []epAddr {
	slices.SortFunc(addrs, func(a, b epAddr) int {
		if c := a.ip.Compare(b.ip); c != 0 {
			return c
		}
		switch {
		case preferAddr(a, b):
			return -1
		case preferAddr(b, a):
			return 1
		}
		return 0
	})
	return slices.CompactFunc(addrs, func(a, b epAddr) bool { return a.ip == b.ip })
}

func comparePorts(a, b epPort) int {
	return cmp.Or(strings.Compare(a.name, b.name), cmp.Compare(a.port, b.port),
		strings.Compare(string(a.protocol), string(b.protocol)), strings.Compare(a.appProtocol, b.appProtocol))
}

func portsKey(ps []epPort) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s/%d/%s/%s,", p.name, p.port, p.protocol, p.appProtocol)
	}
	return b.String()
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
