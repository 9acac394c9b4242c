// Package source reads the remote state that ssm mirrors: live from a
// Kubernetes API (a one-shot List, or informers that keep it current) or
// from a snapshot file as `kubectl get -o yaml` prints it. Both apply the
// same label selection and strip what the API server owns (managedFields,
// last-applied annotations). Of this module, it imports only the leaves
// internal/redact, which masks the secrets of URLs in messages, and
// internal/kubeapi, which names the endpoints APIs as generate does.
package source

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

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
	// NoServices marks a snapshot that holds no Service at all, selected or
	// not: an empty file, or one of other kinds, is more likely a mistake
	// than a cluster without Services.
	NoServices bool
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

// strip removes what ssm never needs from an object's metadata, so caches
// and snapshots hold only what rendering reads.
func strip(m *metav1.ObjectMeta) {
	m.ManagedFields = nil
	if _, ok := m.Annotations[lastApplied]; ok {
		delete(m.Annotations, lastApplied)
	}
}
