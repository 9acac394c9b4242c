package mirror_test

import (
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// fuzzDeny is the range FuzzSnapshotRender denies.
var fuzzDeny = []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("fd00:96::/32")}

// hostileSeeds are snapshots of what a remote may list that no mirror may
// carry: addresses the policy refuses, ports, protocols, appProtocols,
// names and hostnames the API server refuses, in Endpoints and slices.
var hostileSeeds = []string{
	`{"kind":"List","apiVersion":"v1","items":[
{"kind":"Service","apiVersion":"v1","metadata":{"name":"a","namespace":"n"},"spec":{"ports":[{"name":"http","port":80}]}},
{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"a","namespace":"n"},"subsets":[{"addresses":[{"ip":"127.0.0.1"},{"ip":"::1"},{"ip":"0.0.0.0"},{"ip":"169.254.169.254"},{"ip":"fe80::1"},{"ip":"224.0.0.1"},{"ip":"ff02::1"},{"ip":"255.255.255.255"},{"ip":"::ffff:127.0.0.2"},{"ip":"10.96.0.1"},{"ip":"fd00:96::5"},{"ip":"10.0.0.1","hostname":"A.b"}],"notReadyAddresses":[{"ip":"10.0.0.2","hostname":"x\u001b"}],"ports":[{"name":"http","port":8080}]}]},
{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"a-1","namespace":"n","labels":{"kubernetes.io/service-name":"a"}},"addressType":"IPv6","endpoints":[{"addresses":["::ffff:10.0.0.1"]},{"addresses":["ff05::1"]},{"addresses":["fd00::1"],"hostname":"h_1"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}]}`,
	`{"kind":"List","apiVersion":"v1","items":[
{"kind":"Service","apiVersion":"v1","metadata":{"name":"p1","namespace":"n"},"spec":{"ports":[{"name":"http","port":70000}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"p2","namespace":"n"},"spec":{"ports":[{"name":"http","port":-5}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"p3","namespace":"n"},"spec":{"ports":[{"name":"ping","port":7,"protocol":"ICMP"}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"p4","namespace":"n"},"spec":{"ports":[{"name":"h","port":80,"appProtocol":"a\u001b[2J\nb"}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"p5","namespace":"n"},"spec":{"ports":[{"port":80},{"port":81}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"p6","namespace":"n"},"spec":{"ports":[{"name":"HTTP","port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"p7","namespace":"n"},"spec":{"ports":[{"name":"a","port":80},{"name":"a","port":81}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"p8","namespace":"n"},"spec":{"ports":[{"name":"http","port":80}]}},
{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"p8","namespace":"n"},"subsets":[{"addresses":[{"ip":"10.0.0.1"}],"ports":[{"name":"http","port":99999,"protocol":"SCTP"},{"name":"http","port":8080,"protocol":"XTP"}]}]},
{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"p8-1","namespace":"n","labels":{"kubernetes.io/service-name":"p8"}},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"]}],"ports":[{"name":"http","port":-1,"appProtocol":"x y"}]}]}`,
}

// refused says why the address policy refuses ip: the oracle the rendered
// addresses are checked against, written apart from generate's.
func refused(ip netip.Addr) string {
	switch {
	case ip.Is4In6():
		return "IPv4-mapped"
	case ip.IsUnspecified() || (ip.Is4() && ip.As4()[0] == 0):
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, p := range fuzzDeny {
		if p.Contains(ip) {
			return "denied"
		}
	}
	return ""
}

func checkAddress(t *testing.T, p, ip, hostname string) {
	t.Helper()
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" || a.String() != ip {
		t.Fatalf("%s: address %q is not a canonical IP address (%v)", p, ip, err)
	}
	if why := refused(a); why != "" {
		t.Fatalf("%s: %s address %s rendered", p, why, ip)
	}
	if errs := validation.IsDNS1123Label(hostname); hostname != "" && len(errs) > 0 {
		t.Fatalf("%s: hostname %q rendered: %v", p, hostname, errs)
	}
}

// checkPort checks a port as the API server's Service and endpoint
// validation does.
func checkPort(t *testing.T, p, name string, port int32, protocol corev1.Protocol, app *string, names map[string]bool, several bool) {
	t.Helper()
	id := fmt.Sprintf("%s: port %q (%d)", p, name, port)
	switch {
	case len(validation.IsValidPortNum(int(port))) > 0:
		t.Fatalf("%s: number out of range", id)
	case protocol != corev1.ProtocolTCP && protocol != corev1.ProtocolUDP && protocol != corev1.ProtocolSCTP:
		t.Fatalf("%s: protocol %q", id, protocol)
	case app != nil && len(validation.IsQualifiedName(*app)) > 0:
		t.Fatalf("%s: appProtocol %q", id, *app)
	case name == "" && several:
		t.Fatalf("%s: unnamed among several", id)
	case name != "" && len(validation.IsDNS1123Label(name)) > 0:
		t.Fatalf("%s: name not a DNS-1123 label", id)
	case names[name]:
		t.Fatalf("%s: a second port of that name", id)
	}
	names[name] = true
}

func checkServicePorts(t *testing.T, p string, ports []corev1.ServicePort) {
	t.Helper()
	names, numbers := map[string]bool{}, map[string]bool{}
	for _, sp := range ports {
		checkPort(t, p, sp.Name, sp.Port, sp.Protocol, sp.AppProtocol, names, len(ports) > 1)
		if tp := sp.TargetPort.IntValue(); len(validation.IsValidPortNum(tp)) > 0 {
			t.Fatalf("%s: targetPort %d", p, tp)
		}
		num := fmt.Sprintf("%d/%s", sp.Port, sp.Protocol)
		if numbers[num] {
			t.Fatalf("%s: port %s twice", p, num)
		}
		numbers[num] = true
	}
}

func checkEndpoints(t *testing.T, p string, e *corev1.Endpoints) {
	t.Helper()
	n := 0
	for _, ss := range e.Subsets {
		if len(ss.Addresses)+len(ss.NotReadyAddresses) == 0 {
			t.Fatalf("%s: a subset without addresses", p)
		}
		for _, a := range append(ss.Addresses, ss.NotReadyAddresses...) {
			checkAddress(t, p, a.IP, a.Hostname)
			n++
		}
		names := map[string]bool{}
		for _, port := range ss.Ports {
			checkPort(t, p, port.Name, port.Port, port.Protocol, port.AppProtocol, names, len(ss.Ports) > 1)
		}
	}
	if n > 1000 {
		t.Fatalf("%s: Endpoints of %d addresses", p, n)
	}
	if over := e.Annotations[corev1.EndpointsOverCapacity]; over != "" && (over != "truncated" || n != 1000) {
		t.Fatalf("%s: %d addresses, over-capacity %q", p, n, over)
	}
}

func checkSlice(t *testing.T, p string, s *discoveryv1.EndpointSlice) {
	t.Helper()
	if len(s.Endpoints) > 1000 {
		t.Fatalf("%s: EndpointSlice of %d endpoints", p, len(s.Endpoints))
	}
	for _, e := range s.Endpoints {
		for _, a := range e.Addresses {
			hostname := ""
			if e.Hostname != nil {
				hostname = *e.Hostname
			}
			checkAddress(t, p, a, hostname)
			if a6 := netip.MustParseAddr(a); a6.Is6() != (s.AddressType == discoveryv1.AddressTypeIPv6) {
				t.Fatalf("%s: %s in an %s slice", p, a, s.AddressType)
			}
		}
	}
	names := map[string]bool{}
	for _, port := range s.Ports {
		if port.Name == nil || port.Port == nil || port.Protocol == nil {
			t.Fatalf("%s: a port without name, number or protocol", p)
		}
		checkPort(t, p, *port.Name, *port.Port, *port.Protocol, port.AppProtocol, names, false)
	}
}
