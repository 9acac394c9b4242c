package generate

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// Local is what the local cluster holds where ssm renders, read (never
// written) so that no rendered object takes a name the local cluster holds
// and ssm does not own: a remote cannot make the GitOps agent's apply, and
// later its prune, take over a local Service by naming one of its own
// Services alike.
type Local struct {
	// Services are the local Services of the namespaces ssm renders
	// Services into: every namespace in NodePort mode, the mirror
	// namespace otherwise.
	Services []*corev1.Service
	// Namespaces are the local namespaces, for NodePort mode and the
	// Multi-Cluster Services API, which render the namespaces of their
	// Services that the local cluster lacks.
	Namespaces []*corev1.Namespace
	// ServiceImports and EndpointSlices are what the local cluster holds of
	// the Multi-Cluster Services API (the slices labelled
	// multicluster.kubernetes.io/service-name): no ServiceImport is
	// rendered for a name another implementation serves there.
	ServiceImports []*mcsv1a1.ServiceImport
	EndpointSlices []*discoveryv1.EndpointSlice
}

// ReasonLocalServiceExists is a remote Service not rendered because the
// local cluster holds a Service of the name its mirror would take, which
// ssm did not render (Options.Adopt lets ssm take it over).
const ReasonLocalServiceExists = "LocalServiceExists"

// claim is what rendering a Service under a local name may do.
type claim uint8

const (
	// claimFree: the local cluster does not hold the name, holds it as
	// ssm's, or was not read. The Service is rendered with the annotation
	// that lets Flux delete and create it again on an immutable field.
	claimFree claim = iota
	// claimAdopted: another owner's Service that ssm takes over on
	// purpose (Options.Adopt, or barrelman's own in NodePort mode). It is
	// rendered, but never with that annotation: ssm did not create it.
	claimAdopted
	// claimTaken: another owner's Service. It is not rendered.
	claimTaken
)

// owners indexes the local objects that are not ssm's: those alone decide
// anything, and the local cluster holds few of them where ssm renders.
type owners struct {
	read     bool // the local cluster was read
	services map[objectKey]*corev1.Service
	// foreign counts, by namespace, the Services ssm did not render.
	foreign    map[string]int
	namespaces map[string]*corev1.Namespace
	adopt      []string
}

func ownersOf(l *Local, opts Options) owners {
	o := owners{read: l != nil, adopt: opts.Adopt}
	if l == nil {
		return o
	}
	o.services, o.foreign = map[objectKey]*corev1.Service{}, map[string]int{}
	for _, s := range l.Services {
		if s.Labels[LabelManagedBy] == ManagedBy {
			continue
		}
		// A snapshot may list a name twice: the claim must not depend on
		// which comes last, so one barrelman did not make wins.
		k := objectKey{s.Namespace, s.Name}
		if have, ok := o.services[k]; !ok || have.Labels[LabelBarrelman] == BarrelmanManaged {
			o.services[k] = s
		}
		o.foreign[s.Namespace]++
	}
	o.namespaces = make(map[string]*corev1.Namespace, len(l.Namespaces)) // read for NodePort mode and the MCS API
	for _, n := range l.Namespaces {
		if have, ok := o.namespaces[n.Name]; !ok || have.Labels[LabelManagedBy] == ManagedBy {
			o.namespaces[n.Name] = n
		}
	}
	return o
}

// claim says whether a Service may be rendered as ns/name, and how. What
// the controller ssm replaces made under that name, as its labels say
// (heir), is taken over: barrelman's in NodePort mode (tfw.io/barrelman:
// managed-resource), semaphore-service-mirror's mirrors of the same
// prefix and its global Services, so that moving over replaces them in
// place instead of skipping every one as another owner's.
func (o owners) claim(ns, name string, heir map[string]string) claim {
	s, held := o.services[objectKey{ns, name}]
	switch {
	case !held:
		return claimFree
	case slices.Contains(o.adopt, ns+"/"+name), len(heir) > 0 && hasLabels(s, heir):
		return claimAdopted
	}
	return claimTaken
}

// The labels of what barrelman and semaphore-service-mirror v0.4 made.
var (
	barrelmanMade       = map[string]string{LabelBarrelman: BarrelmanManaged}
	semaphoreGlobalMade = map[string]string{LabelGlobal: "true"}
)

func semaphoreMirrorMade(prefix string) map[string]string {
	return map[string]string{LabelMirrored: "true", LabelPrefixSync: prefix}
}

func hasLabels(s *corev1.Service, want map[string]string) bool {
	for k, v := range want {
		if s.Labels[k] != v {
			return false
		}
	}
	return true
}

// taken is the Skipped of a remote Service whose local name another owner
// holds.
func taken(remote, ns, name string) Skipped {
	return Skipped{Service: remote, Mirror: name, Reason: ReasonLocalServiceExists,
		Message: fmt.Sprintf("the local cluster holds a Service %s/%s that ssm did not render (it lacks the label %s: %s): it is left to its owner; "+
			"to let ssm take it over, list it with --adopt-service %s/%s", ns, name, LabelManagedBy, ManagedBy, ns, name)}
}

// namespace says whether NodePort mode (or the MCS API) renders the
// namespace name of its mirrors (imports), and whether it must never be
// pruned. Without the local
// cluster, every namespace is rendered and never pruned, as barrelman
// never deleted one. With it, a namespace the local cluster holds and ssm
// did not create is not rendered; one ssm creates is pruned with its last
// mirror, unless it holds Services of others, which a prune would delete.
func (o owners) namespace(name string) (render, keep bool) {
	if !o.read {
		return true, true
	}
	if n, held := o.namespaces[name]; held && n.Labels[LabelManagedBy] != ManagedBy {
		return false, false
	}
	return true, o.foreign[name] > 0
}
