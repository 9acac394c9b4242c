package generate

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// clusterSet is a Multi-Cluster Services API render being planned.
type clusterSet struct {
	opts    MCSOptions
	owners  owners
	table   ipTable
	ranges  []ipRange
	imports map[objectKey]*mcsImport
	// localIPs are the IPs the local cluster holds, and who: every
	// Service's cluster IPs, and other implementations' ClusterSetIPs.
	localIPs map[netip.Addr]ipHolder
	// foreign names, by namespace and name, what the local cluster holds
	// of another MCS implementation for an import: its ServiceImport or
	// EndpointSlices.
	foreign           map[objectKey]string
	skipped, warnings []Skipped
	memo              *clusterSetMemo // nil: none
}

// exporter is one cluster's Service exported to the clusterset.
type exporter struct {
	cluster string
	svc     *corev1.Service
	since   time.Time // when it was exported: its ServiceExport's creation, else its Service's
	groups  []group
	// eps and slcs are its endpoint objects, whose versions name what a
	// memo rendered it from.
	eps  []*corev1.Endpoints
	slcs []*discoveryv1.EndpointSlice
}

// mcsImport is one ServiceImport being planned: a namespace/name and the
// clusters that export it, oldest export first.
type mcsImport struct {
	key       objectKey
	exporters []exporter
	headless  bool
	ports     []corev1.ServicePort // the import's, sorted; targetPort is the port
	affinity  corev1.ServiceAffinity
	affConfig *corev1.SessionAffinityConfig
	families  []corev1.IPFamily // wanted, primary first
	ips       []netip.Addr      // by family, as families
	derived   string            // the derived Service's name
	adopted   bool              // the derived Service takes over a local one ssm did not render
	inputs    string            // what it renders from, for a memo (see clusterSet.inputs)
}

func newClusterSet(opts MCSOptions, local *Local, table ipTable, memo *clusterSetMemo) *clusterSet {
	cs := &clusterSet{opts: opts, owners: ownersOf(local, Options{Adopt: opts.Adopt}), table: table, memo: memo,
		imports: map[objectKey]*mcsImport{}, localIPs: map[netip.Addr]ipHolder{}, foreign: map[objectKey]string{}}
	for _, p := range opts.ClusterSetIPRanges {
		cs.ranges = append(cs.ranges, ipRange(p))
	}
	if local == nil {
		return cs
	}
	for _, s := range local.Services {
		cs.hold(append([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs...), ipHolder{"Service", objectKey{s.Namespace, s.Name}})
	}
	for _, si := range local.ServiceImports {
		if si.Labels[LabelManagedBy] != ManagedBy {
			cs.foreign[objectKey{si.Namespace, si.Name}] = fmt.Sprintf("a ServiceImport %s/%s%s", si.Namespace, si.Name, ownerOf(si.Labels))
			cs.hold(si.Spec.IPs, ipHolder{"ServiceImport", objectKey{si.Namespace, si.Name}})
		}
	}
	for _, s := range local.EndpointSlices {
		name := s.Labels[LabelMCSServiceName]
		if _, seen := cs.foreign[objectKey{s.Namespace, name}]; name == "" || seen || s.Labels[discoveryv1.LabelManagedBy] == SliceManagedBy {
			continue
		}
		cs.foreign[objectKey{s.Namespace, name}] = fmt.Sprintf("an EndpointSlice %s/%s of it%s", s.Namespace, s.Name, ownerOf(s.Labels))
	}
	return cs
}

// ipHolder is a local object holding an IP.
type ipHolder struct {
	kind string
	key  objectKey
}

func (h ipHolder) String() string { return h.kind + " " + h.key.namespace + "/" + h.key.name }

// hold notes that h holds ips, wherever a ClusterSetIP could be.
func (cs *clusterSet) hold(ips []string, h ipHolder) {
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil {
			cs.localIPs[a.Unmap()] = h
		}
	}
}

// ownerOf names the owner of another implementation's object, when its
// labels say.
func ownerOf(labels map[string]string) string {
	for _, k := range []string{discoveryv1.LabelManagedBy, LabelManagedBy} {
		if v := labels[k]; v != "" {
			return " (" + k + ": " + v + ")"
		}
	}
	return ""
}

// DerivedName is the name of the derived Service of the ServiceImport
// ns/name, as mcs-api's reference controller and Cilium name it:
// "derived-" and ten characters of a hash of ns/name.
func DerivedName(ns, name string) string {
	h := sha256.Sum256([]byte(ns + "/" + name))
	return "derived-" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:]))[:10]
}

// collect gathers the exported Services of every cluster read.
func (cs *clusterSet) collect(clusters []Cluster) {
	for _, c := range clusters {
		if c.Local || c.Unread {
			continue
		}
		exports := exportTimes(c.Mirror.ServiceExports)
		eps, slcs := endpointIndex(c.Mirror)
		once, twice := sortedServices(c.Mirror.Services)
		for _, svc := range twice {
			cs.skipped = append(cs.skipped, listedTwice(svc, c.Name))
		}
		for _, svc := range once {
			k := objectKey{svc.Namespace, svc.Name}
			since := svc.CreationTimestamp.Time
			if cs.opts.ServiceExports {
				t, ok := exports[k]
				if !ok {
					continue
				}
				since = t
			}
			if s, bad := cs.unexportable(svc); bad {
				s.Cluster = c.Name
				cs.skipped = append(cs.skipped, s)
				continue
			}
			groups, notes, refused := screenEndpoints(c, svc, eps[k], slcs[k], svc.Name)
			if refused != nil {
				cs.skipped = append(cs.skipped, *refused)
				continue
			}
			cs.warnings = append(cs.warnings, notes...)
			imp := cs.imports[k]
			if imp == nil {
				imp = &mcsImport{key: k}
				cs.imports[k] = imp
			}
			imp.exporters = append(imp.exporters, exporter{cluster: c.Name, svc: svc, since: since, groups: groups, eps: eps[k], slcs: slcs[k]})
		}
	}
}

// exportTimes are the creation times of a cluster's ServiceExports. A
// snapshot may list one twice: the oldest counts, whatever the order, as
// the oldest export decides conflicts.
func exportTimes(exports []*mcsv1a1.ServiceExport) map[objectKey]time.Time {
	out := make(map[objectKey]time.Time, len(exports))
	for _, e := range exports {
		k := objectKey{e.Namespace, e.Name}
		if t, seen := out[k]; !seen || e.CreationTimestamp.Time.Before(t) {
			out[k] = e.CreationTimestamp.Time
		}
	}
	return out
}

// unexportable reports a Service no ServiceImport can stand for.
func (cs *clusterSet) unexportable(svc *corev1.Service) (Skipped, bool) {
	s := Skipped{Service: key(svc.Namespace, svc.Name), Mirror: svc.Name, Reason: ReasonInvalidName}
	nsErrs, nameErrs := validation.IsDNS1123Label(svc.Namespace), validation.IsDNS1035Label(svc.Name)
	switch portErr := checkPorts(svc.Spec.Ports, portRules{}); {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		s.Reason, s.Message = ReasonExternalName, "ExternalName Services have no endpoints to import"
	case len(nsErrs) > 0:
		s.Message = fmt.Sprintf("namespace %q is not a valid namespace name: %s", svc.Namespace, strings.Join(nsErrs, "; "))
	case len(nameErrs) > 0:
		s.Message = fmt.Sprintf("name %q is not a valid Service name: %s", svc.Name, strings.Join(nameErrs, "; "))
	case portErr != nil:
		return portErr.skippedFor(s.Service, svc.Name), true
	case cs.opts.ByNamespace && svc.Name+".yaml" == KustomizationFile:
		s.Reason = ReasonNameCollision
		s.Message = fmt.Sprintf("its files would be the kustomizations of their folders: --layout namespaces cannot render a ServiceImport named %q", svc.Name)
	default:
		return Skipped{}, false
	}
	return s, true
}

// plan decides each import: whether ssm may render it, its type, ports
// and session affinity, by the oldest export (KEP-1645's rule of
// conflicts), and the IP families it wants.
func (cs *clusterSet) plan() {
	for _, k := range cs.keys() {
		imp := cs.imports[k]
		slices.SortFunc(imp.exporters, func(a, b exporter) int {
			return cmp.Or(a.since.Compare(b.since), strings.Compare(a.cluster, b.cluster))
		})
		imp.headless = imp.exporters[0].svc.Spec.ClusterIP == corev1.ClusterIPNone
		imp.derived = DerivedName(k.namespace, k.name)
		if reason, msg, ok := cs.owned(imp); !ok {
			cs.skip(imp, reason, msg)
			continue
		}
		cs.planType(imp)
		cs.planPorts(imp)
		if !imp.headless {
			cs.planFamilies(imp)
		}
	}
}

// keys lists the imports, sorted.
func (cs *clusterSet) keys() []objectKey {
	out := make([]objectKey, 0, len(cs.imports))
	for k := range cs.imports {
		out = append(out, k)
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// skip leaves imp out, with reason, for every cluster that exports it.
func (cs *clusterSet) skip(imp *mcsImport, reason, msg string) {
	for _, e := range imp.exporters {
		cs.skipped = append(cs.skipped, Skipped{Cluster: e.cluster, Service: key(imp.key.namespace, imp.key.name), Mirror: imp.key.name, Reason: reason, Message: msg})
	}
	delete(cs.imports, imp.key)
}

// owned reports whether ssm may render imp: no other MCS implementation
// serves its name locally, and its derived Service takes no local
// Service ssm did not render.
func (cs *clusterSet) owned(imp *mcsImport) (reason, msg string, ok bool) {
	k := imp.key
	if what, held := cs.foreign[k]; held {
		return ReasonImportOwned, fmt.Sprintf("the local cluster holds %s, which ssm did not render: another Multi-Cluster Services implementation serves %s/%s, and ssm leaves it to it",
			what, k.namespace, k.name), false
	}
	if imp.headless {
		return "", "", true
	}
	switch cs.owners.claim(k.namespace, imp.derived, nil) {
	case claimTaken:
		s := taken(key(k.namespace, k.name), k.namespace, imp.derived)
		return s.Reason, "its derived Service: " + s.Message, false
	case claimAdopted:
		imp.adopted = true
	}
	return "", "", true
}

// planType warns of the exports that disagree with the oldest on being
// headless: the oldest decides, and their endpoints are imported all the
// same, as they are the Service's pods either way.
func (cs *clusterSet) planType(imp *mcsImport) {
	what := map[bool]string{true: "headless", false: "not headless"}
	first := imp.exporters[0]
	imp.affinity, imp.affConfig = first.svc.Spec.SessionAffinity, first.svc.Spec.SessionAffinityConfig
	for _, e := range imp.exporters[1:] {
		if h := e.svc.Spec.ClusterIP == corev1.ClusterIPNone; h != imp.headless {
			cs.warn(imp, e, ReasonTypeConflict, fmt.Sprintf("cluster %s's Service is %s, the oldest export's (cluster %s) %s: the ServiceImport is %s; its endpoints are imported all the same",
				e.cluster, what[h], first.cluster, what[imp.headless], map[bool]string{true: "Headless", false: "ClusterSetIP"}[imp.headless]))
		}
		if !imp.headless && cmp.Or(e.svc.Spec.SessionAffinity, corev1.ServiceAffinityNone) != cmp.Or(imp.affinity, corev1.ServiceAffinityNone) {
			cs.warn(imp, e, ReasonAffinityConflict, fmt.Sprintf("cluster %s's Service has session affinity %q, the oldest export's (cluster %s) %q, which the ServiceImport takes",
				e.cluster, e.svc.Spec.SessionAffinity, first.cluster, imp.affinity))
		}
	}
}

func (cs *clusterSet) warn(imp *mcsImport, e exporter, reason, msg string) {
	cs.warnings = append(cs.warnings, Skipped{Cluster: e.cluster, Service: key(imp.key.namespace, imp.key.name), Mirror: imp.key.name, Reason: reason, Message: msg})
}

// planPorts makes the import's ports the union of every export's, a name
// or number taken by an older export's other port left out
// (KEP-1645). A port whose name an older export uses with another number
// but the same protocol stays in that export's EndpointSlices: clients
// reach its endpoints on the older export's port.
func (cs *clusterSet) planPorts(imp *mcsImport) {
	byName, byNumber := map[string]corev1.ServicePort{}, map[string]corev1.ServicePort{}
	owner := map[string]string{} // port name → the cluster whose port it is
	for _, e := range imp.exporters {
		for _, p := range mirrorSpec(e.svc).Ports {
			num := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
			named, nameUsed := byName[p.Name]
			numbered, numUsed := byNumber[num]
			switch {
			case nameUsed && named.Port == p.Port && named.Protocol == p.Protocol:
				continue // the same port
			case nameUsed:
				cs.warn(imp, e, ReasonPortConflict, fmt.Sprintf("port %q %s of cluster %s differs from the ServiceImport's %d/%s, the oldest export's (cluster %s): %s",
					p.Name, num, e.cluster, named.Port, named.Protocol, owner[p.Name], portFate(imp.headless, p.Protocol == named.Protocol, e.cluster, named.Port)))
				continue
			case numUsed:
				cs.warn(imp, e, ReasonPortConflict, fmt.Sprintf("port %q %s of cluster %s: the ServiceImport has that number as port %q, the oldest export's (cluster %s): it is left out",
					p.Name, num, e.cluster, numbered.Name, owner[numbered.Name]))
				continue
			}
			byName[p.Name], byNumber[num], owner[p.Name] = p, p, e.cluster
			imp.ports = append(imp.ports, p)
		}
	}
	sortServicePorts(imp.ports)
}

// portFate says what becomes of the endpoints of a port that differs
// from the import's port of its name.
func portFate(headless, sameProtocol bool, cluster string, port int32) string {
	switch {
	case !sameProtocol:
		return fmt.Sprintf("cluster %s's endpoints of it are left out", cluster)
	case headless:
		return fmt.Sprintf("cluster %s's endpoints of it are imported with their own port numbers", cluster)
	}
	return fmt.Sprintf("clients reach cluster %s's endpoints of it on port %d", cluster, port)
}

// planFamilies decides the IP families of a ClusterSetIP import: those of
// the exported Services, the oldest export's first, that a range is
// given for.
func (cs *clusterSet) planFamilies(imp *mcsImport) {
	var wanted []corev1.IPFamily
	for _, e := range imp.exporters {
		wanted = append(wanted, serviceFamilies(e.svc)...)
	}
	if len(wanted) == 0 && len(cs.ranges) > 0 {
		wanted = []corev1.IPFamily{cs.ranges[0].family()}
	}
	for _, f := range wanted {
		if !slices.Contains(imp.families, f) && slices.ContainsFunc(cs.ranges, func(r ipRange) bool { return r.family() == f }) {
			imp.families = append(imp.families, f)
		}
	}
	if len(imp.families) == 0 {
		cs.skip(imp, ReasonNoFamily, fmt.Sprintf("the exported Services are %v, and no --clusterset-ip-range of those families is given (given: %s)", wanted, cmp.Or(joinPrefixes(cs.ranges), "none")))
	}
}

// serviceFamilies are the IP families of a Service: its ipFamilies, else
// those of its cluster IPs (a snapshot may hold no ipFamilies).
func serviceFamilies(svc *corev1.Service) []corev1.IPFamily {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies
	}
	var out []corev1.IPFamily
	for _, ip := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		if a, err := netip.ParseAddr(ip); err == nil && !slices.Contains(out, familyOf(a.Unmap())) {
			out = append(out, familyOf(a.Unmap()))
		}
	}
	return out
}
