package source

import (
	"fmt"

	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	discoveryv1 "k8s.io/client-go/kubernetes/typed/discovery/v1"
	"k8s.io/client-go/rest"
)

// Client is the part of a Kubernetes clientset ssm uses: core/v1
// (Services, Endpoints, nodes) and discovery/v1 (EndpointSlices). A full
// clientset (kubernetes.Interface, a fake one in tests) is one; NewClient
// makes one without linking every API group's client into the binary.
type Client interface {
	CoreV1() corev1.CoreV1Interface
	DiscoveryV1() discoveryv1.DiscoveryV1Interface
}

type client struct {
	core      *corev1.CoreV1Client
	discovery *discoveryv1.DiscoveryV1Client
}

func (c client) CoreV1() corev1.CoreV1Interface                { return c.core }
func (c client) DiscoveryV1() discoveryv1.DiscoveryV1Interface { return c.discovery }

// NewClient returns a Client for rc, sharing one HTTP client (and so its
// connections and transport wrappers) between the two API groups.
func NewClient(rc *rest.Config) (Client, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("http client: %w", err)
	}
	core, err := corev1.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("core/v1 client: %w", err)
	}
	discovery, err := discoveryv1.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("discovery/v1 client: %w", err)
	}
	return client{core: core, discovery: discovery}, nil
}
