package generate

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Why an endpoint or node address is never rendered: the reason label of
// ssm_dropped_addresses and the words of an AddressDropped warning. A
// remote controls every address it lists, and a mirror routes local
// clients to them: to the local node's own services (loopback), the cloud
// metadata service (169.254.169.254), whatever a broadcast or multicast
// address reaches, or the local Service and node ranges the user denies.
// The local API server also refuses loopback, unspecified and link-local
// endpoint addresses, so one of them would fail the apply of every mirror.
const (
	AddressLoopback    = "Loopback"    // 127.0.0.0/8, ::1
	AddressUnspecified = "Unspecified" // 0.0.0.0/8 ("this network", never a destination), ::
	AddressLinkLocal   = "LinkLocal"   // 169.254.0.0/16 (cloud metadata), fe80::/10
	AddressMulticast   = "Multicast"   // 224.0.0.0/4, ff00::/8
	AddressBroadcast   = "Broadcast"   // 255.255.255.255
	// AddressIPv4Mapped is ::ffff:a.b.c.d: an IPv4 address in IPv6
	// clothes, which would slip past IPv6 ranges; no API server writes one.
	AddressIPv4Mapped = "IPv4Mapped"
	AddressDenied     = "Denied"  // in Options.DenyCIDRs
	AddressInvalid    = "Invalid" // not an IP address, or one with a zone
)

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// screenAddress parses raw, an address as the remote gave it, and says
// why it is never rendered: "" when it may be.
func screenAddress(raw string, deny []netip.Prefix) (netip.Addr, string) {
	ip, err := netip.ParseAddr(raw)
	switch {
	case err != nil || ip.Zone() != "":
		return ip, AddressInvalid
	case ip.Is4In6():
		return ip, AddressIPv4Mapped
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return ip, AddressUnspecified
	case ip.IsLoopback():
		return ip, AddressLoopback
	case ip.IsLinkLocalUnicast():
		return ip, AddressLinkLocal
	case ip.IsMulticast():
		return ip, AddressMulticast
	case ip == broadcast:
		return ip, AddressBroadcast
	}
	for _, p := range deny {
		if p.Contains(ip) {
			return ip, AddressDenied
		}
	}
	return ip, ""
}

// examplesShown is how many refused values a warning quotes.
const examplesShown = 3

// screening is what the address policy and hostname validation left out
// of one Service's endpoints (or of the remote's nodes), counted once per
// distinct value, with the smallest few as examples so that the warning
// is the same whatever the order of the input.
type screening struct {
	dropped          map[string]int // by Address* reason
	addrs            map[string]bool
	examples         []string
	hostnames        map[string]bool
	hostnameExamples []string
}

func (s *screening) dropAddress(raw, why string) {
	if s.addrs[raw] {
		return
	}
	if s.addrs == nil {
		s.addrs, s.dropped = map[string]bool{}, map[string]int{}
	}
	s.addrs[raw] = true
	s.dropped[why]++
	s.examples = smallest(s.examples, raw)
}

func (s *screening) dropHostname(h string) {
	if s.hostnames == nil {
		s.hostnames = map[string]bool{}
	}
	if !s.hostnames[h] {
		s.hostnames[h] = true
		s.hostnameExamples = smallest(s.hostnameExamples, h)
	}
}

// smallest adds v to the examplesShown smallest values of sorted.
func smallest(sorted []string, v string) []string {
	i, _ := slices.BinarySearch(sorted, v)
	if i >= examplesShown {
		return sorted
	}
	sorted = slices.Insert(sorted, i, v)
	return sorted[:min(len(sorted), examplesShown)]
}

// notes are the warnings of what s left out of the mirror of service
// (namespace/name) named mirror; what is the kind of address.
func (s screening) notes(service, mirror, what string) []Skipped {
	var out []Skipped
	if n := len(s.addrs); n > 0 {
		out = append(out, Skipped{Service: service, Mirror: mirror, Reason: ReasonAddressDropped, Dropped: s.dropped,
			Message: fmt.Sprintf("%d %s left out (%s), e.g. %s: ssm never mirrors loopback, unspecified, link-local, multicast, broadcast or IPv4-mapped addresses, nor those of --deny-cidr",
				n, what, countsText(s.dropped), quoted(s.examples))})
	}
	if n := len(s.hostnames); n > 0 {
		out = append(out, Skipped{Service: service, Mirror: mirror, Reason: ReasonInvalidHostname,
			Message: fmt.Sprintf("%d endpoint hostnames left out, e.g. %s: not DNS-1123 labels; their addresses are mirrored without them", n, quoted(s.hostnameExamples))})
	}
	return out
}

func countsText(counts map[string]int) string {
	var parts []string
	for _, k := range keysSorted(counts) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return strings.Join(parts, ", ")
}

// quoted quotes values for a message, control characters escaped and
// each cut at 64 bytes: a remote chose them.
func quoted(values []string) string {
	out := make([]string, len(values))
	for i, v := range values {
		if len(v) > 64 {
			v = v[:64] + "…"
		}
		out[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(out, ", ")
}

// refusal is a value of a remote object that no local API server would
// accept: the Service is skipped for reason, not rendered.
type refusal struct{ reason, msg string }

func (r *refusal) Error() string { return r.msg }

// portRules are the checks the API server's Service validation makes of
// ports, which ssm copies into a mirror's Service, targetPorts and
// endpoints.
type portRules struct {
	nodePorts   bool // NodePort mode: node ports become targetPorts and endpoint ports
	targetPorts bool // NodePort mode's local Services: numeric targetPorts become endpoint ports
}

// checkPorts returns why ports cannot be mirrored as they are, if they
// cannot: the first of the API server's objections (ValidateService):
// numbers within 1–65535, TCP, UDP or SCTP (empty is TCP), an appProtocol
// that is a qualified name, names that are DNS-1123 labels, required when
// there are several, each name and each number/protocol once. It
// allocates nothing for valid ports: every Service of every render passes
// here.
func checkPorts(ports []corev1.ServicePort, rules portRules) *refusal {
	for i, p := range ports {
		id := func() string { return fmt.Sprintf("port %q (%d)", p.Name, p.Port) }
		if r := checkPort(id, p.Name, p.Port, p.Protocol, deref(p.AppProtocol), p.AppProtocol != nil); r != nil {
			return r
		}
		if p.Name == "" && len(ports) > 1 {
			return &refusal{ReasonInvalidPort, id() + " has no name: each port of a Service of several must have one"}
		}
		for _, q := range ports[:i] {
			switch {
			case q.Name == p.Name:
				return &refusal{ReasonInvalidPort, id() + ": a second port of that name"}
			case q.Port == p.Port && cmp.Or(q.Protocol, corev1.ProtocolTCP) == cmp.Or(p.Protocol, corev1.ProtocolTCP):
				return &refusal{ReasonInvalidPort, fmt.Sprintf("%s: a second port %d/%s", id(), p.Port, cmp.Or(p.Protocol, corev1.ProtocolTCP))}
			}
		}
		if rules.nodePorts && p.NodePort != 0 {
			if errs := validation.IsValidPortNum(int(p.NodePort)); len(errs) > 0 {
				return &refusal{ReasonInvalidPort, fmt.Sprintf("%s: node port %d %s", id(), p.NodePort, strings.Join(errs, "; "))}
			}
		}
		if rules.targetPorts && p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal != 0 {
			if errs := validation.IsValidPortNum(int(p.TargetPort.IntVal)); len(errs) > 0 {
				return &refusal{ReasonInvalidPort, fmt.Sprintf("%s: targetPort %d %s", id(), p.TargetPort.IntVal, strings.Join(errs, "; "))}
			}
		}
	}
	return nil
}

// checkPort checks what a Service port and an endpoint port share: name,
// number, protocol and appProtocol (hasApp: given, even empty). id names
// the port in a refusal.
func checkPort(id func() string, name string, port int32, protocol corev1.Protocol, app string, hasApp bool) *refusal {
	if name != "" {
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return &refusal{ReasonInvalidPort, fmt.Sprintf("%s: name %s", id(), strings.Join(errs, "; "))}
		}
	}
	if port < 1 || port > 65535 {
		return &refusal{ReasonInvalidPort, fmt.Sprintf("%s: %s", id(), strings.Join(validation.IsValidPortNum(int(port)), "; "))}
	}
	switch protocol {
	case "", corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
	default:
		return &refusal{ReasonInvalidProtocol, fmt.Sprintf("%s: protocol %q: want TCP, UDP or SCTP", id(), protocol)}
	}
	if hasApp {
		if errs := validation.IsQualifiedName(app); len(errs) > 0 {
			return &refusal{ReasonInvalidProtocol, fmt.Sprintf("%s: appProtocol %q: %s", id(), app, strings.Join(errs, "; "))}
		}
	}
	return nil
}

// skippedFor is the Skipped of a Service r refuses.
func (r *refusal) skippedFor(service, mirror string) Skipped {
	return Skipped{Service: service, Mirror: mirror, Reason: r.reason, Message: r.msg}
}

// screenEndpoints screens the endpoints of svc, a Service of cluster c
// rendered as mirror, as every output does (endpointGroups with c's deny
// ranges): a refusal comes back as c's Skipped, the addresses left out as
// c's notes.
func screenEndpoints(c Cluster, svc *corev1.Service, eps []*corev1.Endpoints, slcs []*discoveryv1.EndpointSlice, mirror string) ([]group, []Skipped, *Skipped) {
	service := key(svc.Namespace, svc.Name)
	groups, sc, err := endpointGroups(svc, eps, slcs, c.Options.DenyCIDRs)
	if r, ok := errors.AsType[*refusal](err); ok {
		s := r.skippedFor(service, mirror)
		s.Cluster = c.Name
		return nil, nil, &s
	}
	notes := sc.notes(service, mirror, "endpoint addresses")
	for i := range notes {
		notes[i].Cluster = c.Name
	}
	return groups, notes, nil
}
