package config

import (
	"fmt"
	"net/netip"
	"slices"
)

// ParseDenyCIDRs reads ranges no rendered endpoint may point into, as
// given at what (a flag, or a key of the file). A range with host bits set
// (10.96.0.1/12) means its network; a bare address is refused, as a CIDR
// is wanted.
func ParseDenyCIDRs(what string, values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, v := range values {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			at := what
			if len(values) > 1 {
				at = fmt.Sprintf("%s[%d]", what, i)
			}
			return nil, fmt.Errorf("%s %q: want a CIDR range such as 10.96.0.0/12 or fd00:10:96::/112", at, v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// denyUnion is every range of the lists, each once, in order: the same
// ranges given any way render the same.
func denyUnion(lists ...[]netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}
