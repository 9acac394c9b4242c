package generate

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ipTable is what the stored tree says of ClusterSetIPs: the IPs of each
// stored ServiceImport, and the imports that hold each IP. It is the
// allocation table: an import keeps its IPs from render to render, replica
// to replica, and an IP is free again only once no stored import holds it,
// that is once the removal of its import is written.
type ipTable struct {
	byImport map[objectKey][]netip.Addr
	holders  map[netip.Addr][]objectKey
}

// storedImport is what the table reads of a stored document.
type storedImport struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		IPs []string `json:"ips"`
	} `json:"spec"`
}

// readTable reads the ServiceImports of the stored tree's imports/. A
// document it cannot read is an error, not an empty entry: an IP it did
// not see could be given to a second Service.
func readTable(stored map[string][]byte, memo *clusterSetMemo) (ipTable, error) {
	t := ipTable{byImport: map[objectKey][]netip.Addr{}, holders: map[netip.Addr][]objectKey{}}
	var errs []error
	for p, b := range stored {
		if !strings.HasPrefix(p, ImportsDir+"/") || path.Base(p) == KustomizationFile || !strings.HasSuffix(p, ".yaml") {
			continue
		}
		entries, err := memo.parsed(p, b)
		if err != nil {
			errs = append(errs, fmt.Errorf("stored %s: %w: the stored ServiceImports are the table ClusterSetIPs are allocated from; restore or remove the file", p, err))
			continue
		}
		for _, e := range entries {
			t.byImport[e.key] = append(t.byImport[e.key], e.ips...)
			for _, ip := range e.ips {
				t.holders[ip] = append(t.holders[ip], e.key)
			}
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	for ip, keys := range t.holders {
		slices.SortFunc(keys, compareKeys)
		t.holders[ip] = slices.Compact(keys)
	}
	return t, errors.Join(errs...)
}

// tableEntry is what a stored file says of one ServiceImport.
type tableEntry struct {
	key objectKey
	ips []netip.Addr
}

// parseImports reads the ServiceImports of a stored file.
func parseImports(b []byte) ([]tableEntry, error) {
	var out []tableEntry
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if !bytes.Contains(doc, []byte("ServiceImport")) {
			continue // a derived Service, say: no need to parse it
		}
		var si storedImport
		if err := yaml.Unmarshal(doc, &si); err != nil {
			return nil, err
		}
		group, _, _ := strings.Cut(si.APIVersion, "/")
		if si.Kind != "ServiceImport" || group != "multicluster.x-k8s.io" {
			continue
		}
		e := tableEntry{key: objectKey{si.Metadata.Namespace, si.Metadata.Name}}
		for _, s := range si.Spec.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil || ip.Zone() != "" {
				return nil, fmt.Errorf("ServiceImport %s/%s: ClusterSetIP %q is not an IP address", e.key.namespace, e.key.name, s)
			}
			e.ips = append(e.ips, ip.Unmap())
		}
		out = append(out, e)
	}
}

func compareKeys(a, b objectKey) int {
	return cmp.Or(strings.Compare(a.namespace, b.namespace), strings.Compare(a.name, b.name))
}

// ipRange is a ClusterSetIP range: every address of the prefix but its
// first (the network address) and, in IPv4, its last (the broadcast
// address), which an allocator of a Service CIDR never hands out either.
type ipRange netip.Prefix

// maxRangeSize bounds the addresses a range is searched in: an IPv6 /64
// holds more than any search needs.
const maxRangeSize = 1 << 62

// rangeSize is how many addresses of p a ClusterSetIP may take.
func rangeSize(p netip.Prefix) uint64 {
	host := p.Addr().BitLen() - p.Bits()
	if host > 62 {
		return maxRangeSize
	}
	n := uint64(1) << host
	if p.Addr().Is4() && n > 2 {
		return n - 2
	}
	if n > 1 {
		return n - 1
	}
	return 0
}

// nth returns the i-th address a ClusterSetIP may take (i < rangeSize).
func (r ipRange) nth(i uint64) netip.Addr {
	b := netip.Prefix(r).Addr().As16()
	lo := binary.BigEndian.Uint64(b[8:]) + i + 1 // host bits are zero: no carry for i < rangeSize
	binary.BigEndian.PutUint64(b[8:], lo)
	a := netip.AddrFrom16(b)
	if netip.Prefix(r).Addr().Is4() {
		return a.Unmap()
	}
	return a
}

// holds reports whether a is an address of r a ClusterSetIP may take.
func (r ipRange) holds(a netip.Addr) bool {
	p := netip.Prefix(r)
	if !p.Contains(a) || a == p.Addr() {
		return false
	}
	size := rangeSize(p)
	return size == maxRangeSize || a.Compare(r.nth(size-1)) <= 0
}

// family is the IP family of r.
func (r ipRange) family() corev1.IPFamily { return familyOf(netip.Prefix(r).Addr()) }

func familyOf(a netip.Addr) corev1.IPFamily {
	if a.Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// free returns the first address of r, from a place that depends on key
// only, that taken does not hold: a Service made again gets its former IP
// back while it is free, and IPs freed are not all handed out again first.
func (r ipRange) free(key objectKey, taken func(netip.Addr) bool) (netip.Addr, bool) {
	size := rangeSize(netip.Prefix(r))
	h := fnv.New64a()
	h.Write([]byte(key.namespace + "/" + key.name))
	start := h.Sum64() % size
	for probe := range size {
		if a := r.nth((start + probe) % size); !taken(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}
