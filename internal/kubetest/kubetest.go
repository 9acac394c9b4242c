// Package kubetest adapts a client-go clientset, a fake one in unit tests
// or a real one in end-to-end tests, to source.Client. Only tests import
// it: it links client-go's typed clients, which ssm itself does without.
package kubetest

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/ssm-dev/ssm/source"
)

// Client returns cs as a source.Client.
func Client(cs kubernetes.Interface) source.Client { return client{cs} }

type client struct{ cs kubernetes.Interface }

func (c client) List(ctx context.Context, resource string, o metav1.ListOptions) (runtime.Object, error) {
	switch resource {
	case source.ServicesResource:
		return c.cs.CoreV1().Services(metav1.NamespaceAll).List(ctx, o)
	case source.EndpointsResource:
		return c.cs.CoreV1().Endpoints(metav1.NamespaceAll).List(ctx, o)
	case source.EndpointSlicesResource:
		return c.cs.DiscoveryV1().EndpointSlices(metav1.NamespaceAll).List(ctx, o)
	case source.NodesResource:
		return c.cs.CoreV1().Nodes().List(ctx, o)
	}
	return nil, fmt.Errorf("kubetest: no such resource %q", resource)
}

func (c client) Watch(ctx context.Context, resource string, o metav1.ListOptions) (watch.Interface, error) {
	switch resource {
	case source.ServicesResource:
		return c.cs.CoreV1().Services(metav1.NamespaceAll).Watch(ctx, o)
	case source.EndpointsResource:
		return c.cs.CoreV1().Endpoints(metav1.NamespaceAll).Watch(ctx, o)
	case source.EndpointSlicesResource:
		return c.cs.DiscoveryV1().EndpointSlices(metav1.NamespaceAll).Watch(ctx, o)
	case source.NodesResource:
		return c.cs.CoreV1().Nodes().Watch(ctx, o)
	}
	return nil, fmt.Errorf("kubetest: no such resource %q", resource)
}
