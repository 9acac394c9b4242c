package mirror_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
)

// mcsOracle checks clusterset renders, written apart from generate: every
// path valid and every folder's kustomization listing exactly its
// entries; imports/ holds ServiceImports, each with its derived Service
// pinned to its ClusterSetIPs unless it is Headless, <cluster>/ the
// EndpointSlices of imports rendered, namespaces/ the Namespaces ssm
// creates, every one reading back strictly as its type; every slice
// carries both MCS labels, at most 1,000 endpoints and screened
// addresses; every ClusterSetIP is in the range of its family, held by
// one import alone, and by no local object but its own derived Service;
// nothing takes a name another owner holds in the local cluster, and every
// import's namespace is the local cluster's or rendered.
type mcsOracle struct {
	t     *testing.T
	opts  generate.MCSOptions
	local *generate.Local
}

// mcsTree is a render as the oracle read it.
type mcsTree struct {
	files      map[string][]byte
	imports    map[string]*importSeen // by namespace/name
	holders    map[netip.Addr]string  // ClusterSetIP → import
	namespaces []*corev1.Namespace
	services   []*corev1.Service
	slices     []*discoveryv1.EndpointSlice
	objects    map[string]string // kind namespace/name → file
}

type importSeen struct {
	si        *mcsv1a1.ServiceImport
	derived   string
	ports     map[string]corev1.Protocol
	exporters int
}

func (o *mcsOracle) render(clusters []generate.Cluster, local *generate.Local, stored map[string][]byte) *mcsTree {
	o.t.Helper()
	res, err := generate.ClusterSet(clusters, o.opts, local, stored)
	if err != nil {
		o.t.Fatalf("ClusterSet refuses a parsed snapshot: %v", err)
	}
	if err := fileset.Files(res.Files).Validate(); err != nil {
		o.t.Fatalf("a rendered path: %v", err)
	}
	checkRendered(o.t, res.Files, func(string) bool { return false })
	tree := &mcsTree{files: res.Files, imports: map[string]*importSeen{}, holders: map[netip.Addr]string{}, objects: map[string]string{}}
	paths := slices.Sorted(maps.Keys(res.Files))
	for _, p := range paths { // the imports first: slices are checked against them
		switch top, _, _ := strings.Cut(p, "/"); {
		case path.Base(p) == generate.KustomizationFile || top == "east" || top == "west":
		case top == generate.ImportsDir:
			o.importFile(tree, p)
		case p == generate.NamespacesDir+"/namespaces.yaml":
			o.namespacesFile(tree, p)
		default:
			o.t.Fatalf("%s: no file of a clusterset", p)
		}
	}
	unread := map[string]bool{}
	for _, c := range clusters {
		unread[c.Name] = c.Unread
	}
	for _, p := range paths {
		top, _, _ := strings.Cut(p, "/")
		switch {
		case top != "east" && top != "west" || path.Base(p) == generate.KustomizationFile:
		case unread[top] && !bytes.Equal(res.Files[p], stored[p]):
			o.t.Fatalf("%s: cluster %s is unread, and its file is not kept as stored", p, top)
		default:
			o.sliceFile(tree, p, top, unread[top])
		}
	}
	o.crossCheck(tree)
	return tree
}

// fileKey is the namespace/name the file at p under dir is of.
func (o *mcsOracle) fileKey(p, dir string) (ns, name string) {
	rest := strings.TrimSuffix(strings.TrimPrefix(p, dir+"/"), ".yaml")
	sep := "."
	if o.opts.ByNamespace {
		sep = "/"
	}
	ns, name, ok := strings.Cut(rest, sep)
	if !ok || !strings.HasSuffix(p, ".yaml") || strings.Contains(name, "/") {
		o.t.Fatalf("%s: not a file of a namespace/name under %s/", p, dir)
	}
	return ns, name
}

// docs reads the documents of a file as JSON, with their kinds.
func (o *mcsOracle) docs(p string, b []byte) (kinds []string, js [][]byte) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return kinds, js
		}
		j, err2 := yaml.YAMLToJSON(doc)
		var head struct {
			Kind string `json:"kind"`
		}
		if err := errors.Join(err, err2, json.Unmarshal(j, &head)); err != nil {
			o.t.Fatalf("%s, document %d: %v\n%s", p, len(js)+1, err, doc)
		}
		kinds, js = append(kinds, head.Kind), append(js, j)
	}
}

// object notes an object of the tree: no two of one kind and name.
func (o *mcsOracle) object(tree *mcsTree, p, kind, ns, name string) {
	id := kind + " " + ns + "/" + name
	if other, dup := tree.objects[id]; dup {
		o.t.Fatalf("%s and %s both hold %s", other, p, id)
	}
	tree.objects[id] = p
	if errs := validation.IsDNS1123Label(ns); kind != "Namespace" && len(errs) > 0 {
		o.t.Fatalf("%s: %s in namespace %q: %v", p, id, ns, errs)
	}
}

func (o *mcsOracle) importFile(tree *mcsTree, p string) {
	t := o.t
	ns, name := o.fileKey(p, generate.ImportsDir)
	kinds, js := o.docs(p, tree.files[p])
	if len(kinds) == 0 || kinds[0] != "ServiceImport" {
		t.Fatalf("%s: kinds %q, want a ServiceImport first", p, kinds)
	}
	var si mcsv1a1.ServiceImport
	strict(t, p, js[0], &si)
	if si.Name != name || si.Namespace != ns || si.APIVersion != mcsv1a1.GroupVersion.String() || len(validation.IsDNS1035Label(name)) > 0 {
		t.Fatalf("%s: %s ServiceImport %s/%s", p, si.APIVersion, si.Namespace, si.Name)
	}
	o.object(tree, p, "ServiceImport", ns, name)
	if si.Labels[generate.LabelManagedBy] != generate.ManagedBy {
		t.Fatalf("%s: ServiceImport labelled %v", p, si.Labels)
	}
	seen := &importSeen{si: &si, ports: map[string]corev1.Protocol{}}
	names := map[string]bool{}
	for _, sp := range si.Spec.Ports {
		checkPort(t, p, sp.Name, sp.Port, sp.Protocol, sp.AppProtocol, names, len(si.Spec.Ports) > 1)
		seen.ports[sp.Name] = sp.Protocol
	}
	tree.imports[ns+"/"+name] = seen
	switch si.Spec.Type {
	case mcsv1a1.Headless:
		if len(si.Spec.IPs) > 0 || len(kinds) != 1 || si.Annotations[generate.AnnotationDerivedService] != "" {
			t.Fatalf("%s: a Headless ServiceImport with IPs %q, derived Service %q, kinds %q", p, si.Spec.IPs, si.Annotations[generate.AnnotationDerivedService], kinds)
		}
	case mcsv1a1.ClusterSetIP:
		ips := o.clusterSetIPs(tree, p, &si)
		if len(kinds) != 2 || kinds[1] != "Service" {
			t.Fatalf("%s: kinds %q, want a ServiceImport and its derived Service", p, kinds)
		}
		seen.derived = si.Annotations[generate.AnnotationDerivedService]
		o.derivedService(tree, p, js[1], &si, ips)
	default:
		t.Fatalf("%s: ServiceImport of type %q", p, si.Spec.Type)
	}
}

// clusterSetIPs checks the IPs of a ClusterSetIP import: one or two, of
// distinct families, each canonical, in the range of its family, held by
// no other import.
func (o *mcsOracle) clusterSetIPs(tree *mcsTree, p string, si *mcsv1a1.ServiceImport) []netip.Addr {
	t := o.t
	if n := len(si.Spec.IPs); n < 1 || n > 2 || len(si.Spec.IPFamilies) != n {
		t.Fatalf("%s: ClusterSetIPs %q of families %q", p, si.Spec.IPs, si.Spec.IPFamilies)
	}
	var ips []netip.Addr
	for i, s := range si.Spec.IPs {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.String() != s || ip.Is4In6() || familyOfIP(ip) != si.Spec.IPFamilies[i] {
			t.Fatalf("%s: ClusterSetIP %q of family %s (%v)", p, s, si.Spec.IPFamilies[i], err)
		}
		if i == 1 && familyOfIP(ips[0]) == familyOfIP(ip) {
			t.Fatalf("%s: two ClusterSetIPs of one family: %q", p, si.Spec.IPs)
		}
		if !inRanges(ip, o.opts.ClusterSetIPRanges) {
			t.Fatalf("%s: ClusterSetIP %s is in no range of %v a ClusterSetIP may take", p, ip, o.opts.ClusterSetIPRanges)
		}
		id := si.Namespace + "/" + si.Name
		if other, held := tree.holders[ip]; held {
			t.Fatalf("%s: ClusterSetIP %s of %s is %s's too", p, ip, id, other)
		}
		tree.holders[ip] = id
		ips = append(ips, ip)
	}
	return ips
}

// inRanges says whether ip may be a ClusterSetIP of ranges: of a range,
// but not its network address, nor its broadcast address in IPv4.
func inRanges(ip netip.Addr, ranges []netip.Prefix) bool {
	for _, r := range ranges {
		if !r.Contains(ip) || ip == r.Addr() {
			continue
		}
		if ip.Is4() {
			a := r.Addr().As4()
			last := binary.BigEndian.Uint32(a[:]) | uint32(1)<<(32-r.Bits()) - 1
			if b := ip.As4(); binary.BigEndian.Uint32(b[:]) == last {
				continue
			}
		}
		return true
	}
	return false
}

func familyOfIP(ip netip.Addr) corev1.IPFamily {
	if ip.Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// derivedService checks the Service kube-proxy serves an import by: the
// one its annotation names, selector-less, pinned to its IPs, with its
// ports and session affinity.
func (o *mcsOracle) derivedService(tree *mcsTree, p string, j []byte, si *mcsv1a1.ServiceImport, ips []netip.Addr) {
	t := o.t
	var svc corev1.Service
	strict(t, p, j, &svc)
	o.object(tree, p, "Service", svc.Namespace, svc.Name)
	policy := map[int]corev1.IPFamilyPolicy{1: corev1.IPFamilyPolicySingleStack, 2: corev1.IPFamilyPolicyRequireDualStack}[len(ips)]
	switch {
	case svc.Name != si.Annotations[generate.AnnotationDerivedService] || svc.Namespace != si.Namespace || len(validation.IsDNS1035Label(svc.Name)) > 0:
		t.Fatalf("%s: derived Service %s/%s of %s/%s, whose annotation names %q", p, svc.Namespace, svc.Name, si.Namespace, si.Name, si.Annotations[generate.AnnotationDerivedService])
	case svc.Labels[generate.LabelManagedBy] != generate.ManagedBy || svc.Labels[generate.LabelMCSServiceName] != si.Name:
		t.Fatalf("%s: derived Service labelled %v", p, svc.Labels)
	case svc.Annotations[generate.AnnotationFluxForce] == "": // no Service is adopted
		t.Fatalf("%s: derived Service %s, which ssm creates, without %s", p, svc.Name, generate.AnnotationFluxForce)
	case svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Selector) > 0 || svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != policy:
		t.Fatalf("%s: derived Service of type %q, selector %v, family policy %v", p, svc.Spec.Type, svc.Spec.Selector, svc.Spec.IPFamilyPolicy)
	case svc.Spec.ClusterIP != si.Spec.IPs[0] || !slices.Equal(svc.Spec.ClusterIPs, si.Spec.IPs) || !slices.Equal(svc.Spec.IPFamilies, si.Spec.IPFamilies):
		t.Fatalf("%s: derived Service of IPs %q %q (%q), its import's %q (%q)", p, svc.Spec.ClusterIP, svc.Spec.ClusterIPs, svc.Spec.IPFamilies, si.Spec.IPs, si.Spec.IPFamilies)
	case svc.Spec.SessionAffinity != si.Spec.SessionAffinity:
		t.Fatalf("%s: derived Service of session affinity %q, its import's %q", p, svc.Spec.SessionAffinity, si.Spec.SessionAffinity)
	}
	checkServicePorts(t, p, svc.Spec.Ports)
	var want []mcsv1a1.ServicePort
	for _, sp := range svc.Spec.Ports {
		want = append(want, mcsv1a1.ServicePort{Name: sp.Name, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol, Port: sp.Port})
	}
	if !slices.EqualFunc(want, si.Spec.Ports, func(a, b mcsv1a1.ServicePort) bool {
		return a.Name == b.Name && a.Protocol == b.Protocol && a.Port == b.Port
	}) {
		t.Fatalf("%s: derived Service's ports %v, its import's %v", p, svc.Spec.Ports, si.Spec.Ports)
	}
	tree.services = append(tree.services, &svc)
}

// sliceFile checks a cluster's EndpointSlices of an import. Those of a
// cluster not read are kept as they were rendered: for the import as it
// was then, which may have changed type or ports since (the import is
// rendered from the clusters read).
func (o *mcsOracle) sliceFile(tree *mcsTree, p, cluster string, unread bool) {
	t := o.t
	ns, name := o.fileKey(p, cluster)
	imp, ok := tree.imports[ns+"/"+name]
	if !ok {
		t.Fatalf("%s: EndpointSlices of %s/%s, which the tree does not import", p, ns, name)
	}
	imp.exporters++
	kinds, js := o.docs(p, tree.files[p])
	if len(kinds) == 0 {
		t.Fatalf("%s: no EndpointSlice", p)
	}
	for i, kind := range kinds {
		if kind != "EndpointSlice" {
			t.Fatalf("%s: kind %q", p, kind)
		}
		var s discoveryv1.EndpointSlice
		strict(t, p, js[i], &s)
		o.object(tree, p, "EndpointSlice", s.Namespace, s.Name)
		want := map[string]string{generate.LabelManagedBy: generate.ManagedBy, discoveryv1.LabelManagedBy: generate.SliceManagedBy,
			generate.LabelMCSServiceName: name, generate.LabelMCSSourceCluster: cluster}
		switch derived, ok := s.Labels[discoveryv1.LabelServiceName]; {
		case unread && ok:
			want[discoveryv1.LabelServiceName] = derived
		case !unread && imp.derived != "":
			want[discoveryv1.LabelServiceName] = imp.derived
		}
		if !maps.Equal(s.Labels, want) || s.Namespace != ns || len(validation.IsDNS1123Subdomain(s.Name)) > 0 {
			t.Fatalf("%s: EndpointSlice %s/%s labelled %v, want %v", p, s.Namespace, s.Name, s.Labels, want)
		}
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			t.Fatalf("%s: EndpointSlice of address type %q", p, s.AddressType)
		}
		checkSlice(t, p, &s)
		for _, port := range s.Ports {
			if unread {
				break
			}
			if proto, ok := imp.ports[*port.Name]; !ok || proto != *port.Protocol {
				t.Fatalf("%s: EndpointSlice port %q/%s, which the import has not (%v)", p, *port.Name, *port.Protocol, imp.ports)
			}
		}
		tree.slices = append(tree.slices, &s)
	}
}

func (o *mcsOracle) namespacesFile(tree *mcsTree, p string) {
	kinds, js := o.docs(p, tree.files[p])
	for i, kind := range kinds {
		var n corev1.Namespace
		if kind != "Namespace" {
			o.t.Fatalf("%s: kind %q", p, kind)
		}
		strict(o.t, p, js[i], &n)
		o.object(tree, p, "Namespace", "", n.Name)
		if n.Labels[generate.LabelManagedBy] != generate.ManagedBy || len(validation.IsDNS1123Label(n.Name)) > 0 {
			o.t.Fatalf("%s: Namespace %q labelled %v", p, n.Name, n.Labels)
		}
		tree.namespaces = append(tree.namespaces, &n)
	}
}
