package generate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// allocate gives every ClusterSetIP import an IP of each of its families:
// the one the stored tree holds for it, else a free one of the family's
// range. Free means held by no stored import (one whose removal this very
// render writes included: were that removal held, its import would keep
// the IP), no import of this render and no local Service. An import whose
// stored IP another holds, or for which the range is full, is not
// rendered: never two Services on one IP.
func (cs *clusterSet) allocate() {
	keys := cs.keys()
	given := map[netip.Addr]objectKey{}
	for _, k := range keys {
		imp := cs.imports[k]
		if imp.headless {
			continue
		}
		imp.ips = make([]netip.Addr, len(imp.families))
		if msg := cs.keepStoredIPs(imp, given); msg != "" {
			cs.skip(imp, ReasonIPTaken, msg)
		}
	}
	taken := func(a netip.Addr) bool {
		_, g := given[a]
		_, s := cs.table.holders[a]
		_, l := cs.localIPs[a]
		return g || s || l
	}
	for _, k := range keys {
		imp := cs.imports[k]
		if imp == nil || imp.headless {
			continue
		}
		for i, f := range imp.families {
			if imp.ips[i].IsValid() {
				continue
			}
			r := cs.rangeOf(f)
			a, ok := r.free(k, taken)
			if !ok {
				cs.skip(imp, ReasonRangeFull, fmt.Sprintf("no ClusterSetIP of --clusterset-ip-range %s is free for the ServiceImport %s/%s: every one of its %d addresses is held by a ServiceImport or a local Service; give a larger range, or remove imports",
					netip.Prefix(r), k.namespace, k.name, rangeSize(netip.Prefix(r))))
				break
			}
			imp.ips[i], given[a] = a, k
		}
	}
}

// keepStoredIPs gives imp the IPs the stored tree holds for it, of the
// families it still wants, and returns why it cannot have one: another
// stored import, or a local Service but its own derived Service, holds it.
func (cs *clusterSet) keepStoredIPs(imp *mcsImport, given map[netip.Addr]objectKey) string {
	k := imp.key
	for _, ip := range cs.table.byImport[k] {
		i := slices.Index(imp.families, familyOf(ip))
		if i < 0 || imp.ips[i].IsValid() {
			continue // a family it no longer has: the IP is free once this render is stored
		}
		if r := cs.rangeOf(familyOf(ip)); !r.holds(ip) {
			cs.warnAll(imp, ReasonIPMoved, fmt.Sprintf("its ClusterSetIP %s is in no --clusterset-ip-range given now (%s): it is given one that is, and its derived Service is made again (a clusterIP is immutable)",
				ip, netip.Prefix(r)))
			continue
		}
		if holders := cs.table.holders[ip]; holders[0] != k {
			return fmt.Sprintf("the stored tree gives its ClusterSetIP %s to the ServiceImport %s/%s too (edited by hand?): %s/%s keeps it, and this one is not rendered until one of them is changed",
				ip, holders[0].namespace, holders[0].name, holders[0].namespace, holders[0].name)
		}
		if holder, held := cs.localIPs[ip]; held && holder != (ipHolder{"Service", objectKey{k.namespace, imp.derived}}) {
			return fmt.Sprintf("its ClusterSetIP %s is held by the local %s: it is not rendered while that holds it (keep --clusterset-ip-range in the static band of the Service CIDR, docs/mcs.md)",
				ip, holder)
		}
		imp.ips[i], given[ip] = ip, k
	}
	return ""
}

// rangeOf is the range of family f: planFamilies keeps only the
// families that have one.
func (cs *clusterSet) rangeOf(f corev1.IPFamily) ipRange {
	i := slices.IndexFunc(cs.ranges, func(r ipRange) bool { return r.family() == f })
	return cs.ranges[i]
}

func (cs *clusterSet) warnAll(imp *mcsImport, reason, msg string) {
	for _, e := range imp.exporters {
		cs.warn(imp, e, reason, msg)
	}
}

// ipStrings are ips as a Service spells them.
func ipStrings(ips []netip.Addr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// joinPrefixes lists ranges for messages.
func joinPrefixes(rs []ipRange) string {
	var out []string
	for _, r := range rs {
		out = append(out, netip.Prefix(r).String())
	}
	return strings.Join(out, ", ")
}
