// Package kubetest adapts a client-go clientset, a fake one in unit tests
// or a real one in end-to-end tests, to source.Client. Only tests import
// it: it links client-go's typed clients, which ssm itself does without.
package kubetest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/ssm-dev/ssm/source"
)

// Client returns cs as a source.Client.
func Client(cs kubernetes.Interface) source.Client { return client{cs} }

type client struct{ cs kubernetes.Interface }

// listWatcher is a typed client of one resource, whose lists are L.
type listWatcher[L runtime.Object] interface {
	List(context.Context, metav1.ListOptions) (L, error)
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}

// lw is the list and watch of one resource.
type lw struct {
	list  func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watch func(context.Context, metav1.ListOptions) (watch.Interface, error)
}

func of[L runtime.Object](c listWatcher[L]) lw {
	return lw{list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, o) }, watch: c.Watch}
}

func (c client) resource(name, ns string) (lw, error) {
	switch name {
	case source.ServicesResource:
		return of[*corev1.ServiceList](c.cs.CoreV1().Services(ns)), nil
	case source.EndpointsResource:
		return of[*corev1.EndpointsList](c.cs.CoreV1().Endpoints(ns)), nil
	case source.EndpointSlicesResource:
		return of[*discoveryv1.EndpointSliceList](c.cs.DiscoveryV1().EndpointSlices(ns)), nil
	case source.NodesResource:
		return of[*corev1.NodeList](c.cs.CoreV1().Nodes()), nil
	case source.NamespacesResource:
		return of[*corev1.NamespaceList](c.cs.CoreV1().Namespaces()), nil
	}
	return lw{}, fmt.Errorf("kubetest: no such resource %q", name)
}

func (c client) List(ctx context.Context, resource, ns string, o metav1.ListOptions) (runtime.Object, error) {
	r, err := c.resource(resource, ns)
	if err != nil {
		return nil, err
	}
	return r.list(ctx, o)
}

func (c client) Watch(ctx context.Context, resource, ns string, o metav1.ListOptions) (watch.Interface, error) {
	r, err := c.resource(resource, ns)
	if err != nil {
		return nil, err
	}
	return r.watch(ctx, o)
}
