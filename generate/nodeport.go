package generate

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// barrelman's label and annotation, kept so its users' Services and
// policies carry over.
const (
	LabelBarrelman = "tfw.io/barrelman"
	// BarrelmanManaged marks the Services NodePort mode renders.
	BarrelmanManaged = "managed-resource"
	// BarrelmanManual marks hand-written local Services whose endpoints
	// NodePort mode renders.
	BarrelmanManual = "true"
	// BarrelmanIgnore, as the annotation's value on a remote Service, keeps
	// it from being mirrored.
	BarrelmanIgnore = "ignore"

	// NamespacesFile, in NamespacesDir, holds the Namespaces NodePort mode
	// renders, marked so that Argo CD and Flux never prune them. They have a
	// directory and kustomization of their own so that kubectl can apply
	// them without pruning, and prune MirrorsDir.
	NamespacesDir  = "namespaces"
	NamespacesFile = "namespaces.yaml"
	// MirrorsDir holds NodePort mode's Services and endpoints.
	MirrorsDir = "mirrors"
)

// nodePortPlan decides what NodePort mode renders: a Service and its
// endpoints per remote Service with node ports, endpoints only for
// hand-written local Services, and the namespaces of the former.
func nodePortPlan(state State, opts Options) (mirrors []mirror, namespaces []localNamespace, skipped, warnings []Skipped) {
	nodes, screened := backends(state.Nodes, opts)
	warnings = append(warnings, screened.notes("", "", "remote node addresses")...)
	local := ownersOf(state.Local, opts)
	manual := map[string]bool{}
	if state.Local != nil && opts.ManualEndpoints {
		hand, twice := sortedServices(state.Local.Services)
		for _, svc := range twice {
			if svc.Labels[LabelBarrelman] == BarrelmanManual {
				skipped = append(skipped, listedTwice(svc, "local"))
			}
		}
		for _, svc := range hand {
			if svc.Labels[LabelBarrelman] != BarrelmanManual {
				continue
			}
			if r := checkPorts(svc.Spec.Ports, portRules{targetPorts: true}); r != nil {
				skipped = append(skipped, r.skippedFor(key(svc.Namespace, svc.Name), ""))
				continue
			}
			m, w, ok := manualMirror(svc, nodes, opts)
			warnings = append(warnings, w...)
			if s, bad := nodePortNames(svc, opts); bad {
				skipped = append(skipped, s)
				continue
			}
			if !ok {
				skipped = append(skipped, Skipped{Service: m.remote, Reason: ReasonNoNodePort,
					Message: "local Service has no port with a numeric targetPort to point at the remote nodes"})
				continue
			}
			manual[m.remote] = true
			mirrors = append(mirrors, m)
		}
	}
	ns := map[string]bool{}
	remote, twice := sortedServices(state.Services)
	for _, svc := range twice {
		skipped = append(skipped, listedTwice(svc, "remote"))
	}
	for _, svc := range remote {
		if slices.Contains(opts.IgnoreNamespaces, svc.Namespace) || svc.Annotations[LabelBarrelman] == BarrelmanIgnore ||
			(svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer) {
			continue
		}
		if s, bad := nodePortNames(svc, opts); bad {
			skipped = append(skipped, s)
			continue
		}
		if r := checkPorts(svc.Spec.Ports, portRules{nodePorts: true}); r != nil {
			skipped = append(skipped, r.skippedFor(key(svc.Namespace, svc.Name), ""))
			continue
		}
		m, w := autoMirror(svc, nodes, opts)
		c := local.claim(svc.Namespace, svc.Name, barrelmanMade)
		if c != claimTaken || manual[m.remote] {
			warnings = append(warnings, w...)
		}
		switch {
		case m.spec == nil:
			skipped = append(skipped, Skipped{Service: m.remote, Reason: ReasonNoNodePort, Message: "remote Service has no node port to reach it by"})
		case manual[m.remote]:
			skipped = append(skipped, Skipped{Service: m.remote, Reason: ReasonLocalService,
				Message: "a local Service of that name is labelled tfw.io/barrelman=true: it is left to its owner and only its endpoints are rendered"})
		case c == claimTaken:
			skipped = append(skipped, taken(m.remote, svc.Namespace, svc.Name))
		default:
			m.adopted = c == claimAdopted
			mirrors = append(mirrors, m)
			ns[svc.Namespace] = true
		}
	}
	slices.SortFunc(mirrors, func(a, b mirror) int { return strings.Compare(a.file, b.file) })
	for _, n := range slices.Sorted(maps.Keys(ns)) {
		if render, keep := local.namespace(n); render {
			namespaces = append(namespaces, localNamespace{name: n, keep: keep})
		}
	}
	return mirrors, namespaces, skipped, warnings
}

// localNamespace is a namespace NodePort mode renders; keep marks it never
// to be pruned.
type localNamespace struct {
	name string
	keep bool
}

// nodePortNames reports a Service that NodePort mode cannot render under
// its own namespace and name: one the API server would refuse (only a
// snapshot file holds one), or, by namespace, a Service whose file would
// be the folder's kustomization.
func nodePortNames(svc *corev1.Service, opts Options) (Skipped, bool) {
	s := Skipped{Service: key(svc.Namespace, svc.Name), Mirror: svc.Name, Reason: ReasonInvalidName}
	if errs := validation.IsDNS1123Label(svc.Namespace); len(errs) > 0 {
		s.Message = fmt.Sprintf("namespace %q is not a valid namespace name: %s", svc.Namespace, strings.Join(errs, "; "))
		return s, true
	}
	if errs := validation.IsDNS1035Label(svc.Name); len(errs) > 0 {
		s.Message = fmt.Sprintf("name %q is not a valid Service name: %s", svc.Name, strings.Join(errs, "; "))
		return s, true
	}
	if opts.ByNamespace && path.Base(nodePortFile(opts, svc)) == KustomizationFile {
		s.Reason = ReasonNameCollision
		s.Message = fmt.Sprintf("its file %s would be the kustomization of the folder: --layout namespaces cannot render a Service named %q", nodePortFile(opts, svc), svc.Name)
		return s, true
	}
	return Skipped{}, false
}

// sortedServices sorts svcs by namespace and name, and sets apart those
// listed more than once (only a snapshot file can): which one to render
// would depend on the order of the input, so none is.
func sortedServices(svcs []*corev1.Service) (once, twice []*corev1.Service) {
	out := slices.Clone(svcs)
	slices.SortFunc(out, func(a, b *corev1.Service) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && out[j].Namespace == out[i].Namespace && out[j].Name == out[i].Name {
			j++
		}
		if j-i == 1 {
			once = append(once, out[i])
		} else {
			twice = append(twice, out[i])
		}
		i = j
	}
	return once, twice
}

// listedTwice is the Skipped of a Service a snapshot lists more than once.
func listedTwice(svc *corev1.Service, cluster string) Skipped {
	return Skipped{Service: key(svc.Namespace, svc.Name), Mirror: svc.Name, Reason: ReasonNameCollision,
		Message: fmt.Sprintf("the %s snapshot lists more than one Service %s/%s", cluster, svc.Namespace, svc.Name)}
}

// nodePortFile is where NodePort mode renders svc's mirror:
// mirrors/<ns>.<name>.yaml, or mirrors/<ns>/<name>.yaml by namespace.
func nodePortFile(opts Options, svc *corev1.Service) string {
	if opts.ByNamespace {
		return MirrorsDir + "/" + svc.Namespace + "/" + svc.Name + ".yaml"
	}
	return MirrorsDir + "/" + svc.Namespace + "." + svc.Name + ".yaml"
}

// autoMirror renders a remote Service with node ports under its own
// namespace and name: each port keeps its name, protocol and number, and
// targets the remote node port. spec is nil when no port has a node port.
func autoMirror(svc *corev1.Service, nodes []epAddr, opts Options) (mirror, []Skipped) {
	m := mirror{remote: key(svc.Namespace, svc.Name), namespace: svc.Namespace, name: svc.Name,
		file: nodePortFile(opts, svc), svc: svc,
		labels: map[string]string{LabelBarrelman: BarrelmanManaged, LabelManagedBy: ManagedBy}}
	spec := corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}
	if opts.NodePortService {
		spec.Type = corev1.ServiceTypeNodePort
	}
	var ports []epPort
	var warnings []Skipped
	for _, p := range svc.Spec.Ports {
		if p.NodePort == 0 {
			warnings = append(warnings, Skipped{Service: m.remote, Reason: ReasonNoNodePort,
				Message: fmt.Sprintf("port %q (%d) has no node port and is left out", p.Name, p.Port)})
			continue
		}
		sp := corev1.ServicePort{Name: p.Name, Protocol: cmp.Or(p.Protocol, corev1.ProtocolTCP), AppProtocol: p.AppProtocol,
			Port: p.Port, TargetPort: intstr.FromInt32(p.NodePort)}
		if opts.NodePortService {
			sp.NodePort = p.NodePort
		}
		spec.Ports = append(spec.Ports, sp)
		ports = append(ports, epPort{name: p.Name, port: p.NodePort, protocol: sp.Protocol, appProtocol: deref(p.AppProtocol)})
	}
	if len(ports) == 0 {
		return m, warnings
	}
	sortServicePorts(spec.Ports)
	m.spec = &spec
	m.groups = nodeGroups(ports, nodes)
	return m, warnings
}

// manualMirror renders only the endpoints of a hand-written local Service:
// the remote nodes at each port's numeric targetPort, a remote node port.
func manualMirror(svc *corev1.Service, nodes []epAddr, opts Options) (mirror, []Skipped, bool) {
	m := mirror{remote: key(svc.Namespace, svc.Name), namespace: svc.Namespace, name: svc.Name,
		file: nodePortFile(opts, svc), labels: map[string]string{LabelManagedBy: ManagedBy}}
	var warnings []Skipped
	if len(svc.Spec.Selector) > 0 {
		warnings = append(warnings, Skipped{Service: m.remote, Reason: ReasonSelector,
			Message: "local Service has a selector: the cluster's endpoints controller will overwrite the endpoints ssm renders"})
	}
	var ports []epPort
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.Type == intstr.String || p.TargetPort.IntValue() <= 0 {
			warnings = append(warnings, Skipped{Service: m.remote, Reason: ReasonNamedTargetPort,
				Message: fmt.Sprintf("port %q targets %q, not a remote node port number, and is left out", p.Name, p.TargetPort.String())})
			continue
		}
		ports = append(ports, epPort{name: p.Name, port: p.TargetPort.IntVal, protocol: cmp.Or(p.Protocol, corev1.ProtocolTCP), appProtocol: deref(p.AppProtocol)})
	}
	if len(ports) == 0 {
		return m, warnings, false
	}
	m.groups = nodeGroups(ports, nodes)
	return m, warnings, true
}

func nodeGroups(ports []epPort, nodes []epAddr) []group {
	if len(nodes) == 0 {
		return nil
	}
	slices.SortFunc(ports, comparePorts)
	return []group{{ports: ports, addrs: nodes}}
}

// backends are the InternalIPs, of both families, of the nodes that can
// take traffic: Ready, with a working network, and, when asked,
// schedulable; screened by the address policy as endpoint addresses are.
func backends(nodes []*corev1.Node, opts Options) ([]epAddr, screening) {
	seen := map[netip.Addr]bool{}
	var out []epAddr
	var sc screening
	for _, n := range nodes {
		if !nodeUsable(n) || (opts.ExcludeUnschedulable && n.Spec.Unschedulable) {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			ip, why := screenAddress(a.Address, opts.DenyCIDRs)
			if why != "" {
				sc.dropAddress(a.Address, why)
				continue
			}
			if !seen[ip] {
				seen[ip] = true
				out = append(out, epAddr{ip: ip, ready: true})
			}
		}
	}
	slices.SortFunc(out, func(a, b epAddr) int { return a.ip.Compare(b.ip) })
	return out, sc
}

func nodeUsable(n *corev1.Node) bool {
	ready := false
	for _, c := range n.Status.Conditions {
		switch {
		case c.Type == corev1.NodeReady:
			ready = c.Status == corev1.ConditionTrue
		case c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue:
			return false
		}
	}
	return ready
}

// namespaceAnnotations keep GitOps agents from deleting a namespace ssm
// rendered once it is no longer rendered (the agents read them on the
// live object), when it holds Services of others or the local cluster was
// not read; and keep Argo CD from holding an Application OutOfSync
// (syncing it again and again) once a kept namespace is not rendered.
var namespaceAnnotations = map[string]string{
	"argocd.argoproj.io/sync-options":    "Prune=false",
	"argocd.argoproj.io/compare-options": "IgnoreExtraneous",
	"kustomize.toolkit.fluxcd.io/prune":  "disabled",
}

func namespacesFile(names []localNamespace, counts map[string]int) ([]byte, error) {
	var buf []byte
	for i, n := range names {
		ns := corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{LabelManagedBy: ManagedBy}},
		}
		if n.keep {
			ns.Annotations = namespaceAnnotations
		}
		b, err := yaml.Marshal(struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        metav1.ObjectMeta `json:"metadata"`
		}{ns.TypeMeta, ns.ObjectMeta})
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf = append(buf, "---\n"...)
		}
		buf = append(buf, b...)
		counts["Namespace"]++
	}
	return buf, nil
}

// KeepNamespaces returns file, NodePort mode's namespaces file as rendered
// (nil: none), with the Namespace documents of names that it lacks taken
// from stored, the file as stored, sorted by name as rendered: the removal
// guard keeps the namespace of a held mirror, which a prune would delete
// with it. A name stored lacks too is not ssm's to keep.
func KeepNamespaces(file, stored []byte, names []string) []byte {
	have, old := namespaceDocs(file), namespaceDocs(stored)
	changed := false
	for _, n := range names {
		if _, ok := have[n]; ok {
			continue
		}
		if d, ok := old[n]; ok {
			have[n], changed = d, true
		}
	}
	if !changed {
		return file
	}
	var out []byte
	for i, n := range slices.Sorted(maps.Keys(have)) {
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, have[n]...)
	}
	return out
}

// namespaceDocs splits a namespaces file into its documents, by name.
func namespaceDocs(b []byte) map[string][]byte {
	out := map[string][]byte{}
	if len(b) == 0 {
		return out
	}
	// Documents are joined by "---" lines; each ends with a newline.
	for doc := range bytes.SplitSeq(b[:len(b)-1], []byte("\n---\n")) {
		doc = append(doc[:len(doc):len(doc)], '\n')
		var ns struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if len(doc) > 0 && yaml.Unmarshal(doc, &ns) == nil && ns.Metadata.Name != "" {
			out[ns.Metadata.Name] = doc
		}
	}
	return out
}
