// Package source reads the remote state that ssm mirrors: live from a
// Kubernetes API (a one-shot List, or informers that keep it current) or
// from a snapshot file as `kubectl get -o yaml` prints it. Both apply the
// same label selection and strip what rendering never reads (managedFields,
// annotations but the one ssm reads, pod references). Of this module, it
// imports only the leaf internal/redact, which masks the secrets of URLs
// in messages.
package source

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/cache"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/internal/kubeapi"
)

// EndpointsAPIs lists the endpoints APIs a selection reads.
var EndpointsAPIs = []kubeapi.EndpointsAPI{kubeapi.Endpoints, kubeapi.EndpointSlices, kubeapi.NoEndpoints}

// State is what was read: label-selected Services, the endpoint objects of
// the kind asked for, and the nodes when asked for.
type State struct {
	Services       []*corev1.Service
	Endpoints      []*corev1.Endpoints
	EndpointSlices []*discoveryv1.EndpointSlice
	Nodes          []*corev1.Node
	Namespaces     []*corev1.Namespace
	// ServiceExports are a remote's (Selection.ServiceExports), and
	// ServiceImports the local cluster's (Selection.Imports), whose
	// EndpointSlices labelled multicluster.kubernetes.io/service-name are
	// then in EndpointSlices, stripped to their identity and labels.
	ServiceExports []*mcsv1a1.ServiceExport
	ServiceImports []*mcsv1a1.ServiceImport
	// NoServices marks a snapshot that holds no Service at all, selected or
	// not: an empty file, or one of other kinds, is more likely a mistake
	// than a cluster without Services.
	NoServices bool
	// SnapshotServices counts the Services a snapshot holds, selected or
	// not; 0 for a live list, which the API server selects (CountServices).
	SnapshotServices int
}

// Selection says which objects are read.
type Selection struct {
	// LabelSelector selects Services and their endpoint objects, which carry
	// their Service's labels; empty selects everything.
	LabelSelector string
	EndpointsAPI  kubeapi.EndpointsAPI // empty means kubeapi.Endpoints
	// Nodes reads every node too (no label selection applies to them).
	Nodes bool
	// Namespace reads Services and their endpoint objects of this
	// namespace only ("": all), with requests a Role of it allows.
	Namespace string
	// Namespaces reads every namespace too (no label selection applies).
	Namespaces bool
	// ServiceExports reads the ServiceExports (multicluster.x-k8s.io) of
	// the namespace too, every one: they carry no label of their Service.
	ServiceExports bool
	// Imports reads what the cluster holds of the Multi-Cluster Services
	// API: every ServiceImport, and every EndpointSlice labelled
	// multicluster.kubernetes.io/service-name, whoever made them.
	Imports bool
}

func (s Selection) parse() (labels.Selector, kubeapi.EndpointsAPI, error) {
	sel, err := labels.Parse(s.LabelSelector)
	if err != nil {
		return nil, "", fmt.Errorf("label selector %q: %w", s.LabelSelector, err)
	}
	api := s.EndpointsAPI
	if api == "" {
		api = kubeapi.Endpoints
	}
	if !slices.Contains(EndpointsAPIs, api) {
		return nil, "", fmt.Errorf("remote endpoints API %q: must be one of %v", api, EndpointsAPIs)
	}
	if s.Namespace != "" {
		if errs := validation.IsDNS1123Label(s.Namespace); len(errs) > 0 {
			return nil, "", fmt.Errorf("namespace %q: %s", s.Namespace, strings.Join(errs, "; "))
		}
	}
	return sel, api, nil
}

// Validate reports a selection that cannot be read.
func (s Selection) Validate() error {
	_, _, err := s.parse()
	return err
}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// serviceAnnotations are the only annotations ssm reads of what it lists:
// barrelman's mark on a remote Service that keeps it from being mirrored
// (generate.LabelBarrelman, which this package may not import). Every
// other annotation, up to 256 KiB each and chosen by the remote, is
// dropped before it reaches a cache or a render.
var serviceAnnotations = []string{"tfw.io/barrelman"}

// strip removes what ssm never needs from an object before it is kept, so
// caches and snapshots hold only what rendering reads: managedFields and
// annotations everywhere (a Service keeps serviceAnnotations), the pod and
// node each endpoint names (a targetRef is about 200 bytes an address), a
// Service's status, a node's labels, images and volumes, and a namespace's
// spec and status. The labels of endpoint objects go too (the endpoints
// controller copies all of the Service's), but for the EndpointSlice's
// kubernetes.io/service-name, which ties it to its Service: they are
// selected before (by the API server, or by Parse), and rendering never
// reads them. Services and namespaces keep their labels: global routing
// selects on a Service's, and ownership is read of both. It returns obj.
func strip(obj any) any {
	if m, err := metaOf(obj); err == nil {
		m.SetManagedFields(nil)
		var keep []string
		if _, ok := m.(*corev1.Service); ok {
			keep = serviceAnnotations
		}
		trimAnnotations(m, keep)
	}
	switch o := obj.(type) {
	case *corev1.Endpoints:
		o.Labels = nil
		for i := range o.Subsets {
			forgetPods(o.Subsets[i].Addresses)
			forgetPods(o.Subsets[i].NotReadyAddresses)
		}
	case *discoveryv1.EndpointSlice:
		switch svc, ok := o.Labels[discoveryv1.LabelServiceName]; {
		case !ok:
			o.Labels = nil
		case len(o.Labels) > 1:
			o.Labels = map[string]string{discoveryv1.LabelServiceName: svc}
		}
		for i := range o.Endpoints {
			e := &o.Endpoints[i]
			e.TargetRef, e.NodeName, e.DeprecatedTopology = nil, nil, nil
		}
	case *corev1.Service:
		o.Status = corev1.ServiceStatus{}
	case *corev1.Node:
		o.Labels = nil
		o.Status.Images, o.Status.VolumesInUse, o.Status.VolumesAttached = nil, nil, nil
	case *corev1.Namespace:
		o.Spec, o.Status = corev1.NamespaceSpec{}, corev1.NamespaceStatus{}
	}
	return obj
}

// trimAnnotations leaves m only the annotations keep names, allocating
// nothing when it has none of them.
func trimAnnotations(m metav1.Object, keep []string) {
	a := m.GetAnnotations()
	if len(a) == 0 {
		return
	}
	var kept map[string]string
	for _, k := range keep {
		if v, ok := a[k]; ok {
			if kept == nil {
				kept = map[string]string{}
			}
			kept[k] = v
		}
	}
	if len(kept) != len(a) {
		m.SetAnnotations(kept)
	}
}

func forgetPods(addrs []corev1.EndpointAddress) {
	for i := range addrs {
		addrs[i].TargetRef, addrs[i].NodeName = nil, nil
	}
}

func metaOf(obj any) (metav1.Object, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}
