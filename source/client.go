package source

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// The resources a Client lists and watches: in one namespace or all of
// them, but for nodes and namespaces, which belong to none.
const (
	ServicesResource       = "services"
	EndpointsResource      = "endpoints"
	EndpointSlicesResource = "endpointslices"
	NodesResource          = "nodes"
	NamespacesResource     = "namespaces"
)

// Client lists and watches what ssm reads of a cluster: core/v1 Services,
// Endpoints, nodes and namespaces, discovery/v1 EndpointSlices, and
// multicluster.x-k8s.io/v1alpha1 ServiceExports and ServiceImports.
// resource is one of the *Resource constants; namespace restricts a
// namespaced resource to one namespace ("": all of them), so that a Role
// of that namespace is enough to read it. List returns the matching list
// type (*corev1.ServiceList, *corev1.EndpointsList,
// *discoveryv1.EndpointSliceList, *corev1.NodeList, *corev1.NamespaceList).
//
// NewClient makes one from a REST config. It is not client-go's typed
// clientset on purpose: those import client-go's scheme, which registers
// every API group's types, and so link, and page in at start, code ssm
// never runs: ssm's binary is 25.9 MB without them, 43.0 MB with them.
// Tests adapt a clientset, fake or real, with internal/kubetest.
type Client interface {
	List(ctx context.Context, resource, namespace string, opts metav1.ListOptions) (runtime.Object, error)
	Watch(ctx context.Context, resource, namespace string, opts metav1.ListOptions) (watch.Interface, error)
}

// clientScheme knows the types a Client decodes, and nothing more.
var (
	clientScheme   = runtime.NewScheme()
	clientCodecs   = serializer.NewCodecFactory(clientScheme)
	parameterCodec = runtime.NewParameterCodec(clientScheme)
)

func init() {
	utilruntime.Must(corev1.AddToScheme(clientScheme))
	utilruntime.Must(discoveryv1.AddToScheme(clientScheme))
	// ListOptions as the unversioned v1 options, as client-go registers them.
	metav1.AddToGroupVersion(clientScheme, schema.GroupVersion{Version: "v1"})
}

// kind is where a resource lives and what its list decodes into.
type kind struct {
	core    bool // core/v1
	mcs     bool // multicluster.x-k8s.io/v1alpha1, custom resources; otherwise discovery.k8s.io/v1
	newList func() runtime.Object
}

var kinds = map[string]kind{
	ServicesResource:       {core: true, newList: func() runtime.Object { return &corev1.ServiceList{} }},
	EndpointsResource:      {core: true, newList: func() runtime.Object { return &corev1.EndpointsList{} }},
	NodesResource:          {core: true, newList: func() runtime.Object { return &corev1.NodeList{} }},
	NamespacesResource:     {core: true, newList: func() runtime.Object { return &corev1.NamespaceList{} }},
	EndpointSlicesResource: {newList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} }},
}

type restClient struct{ core, discovery, mcs *rest.RESTClient }

// NewClient returns a Client for rc, sharing one HTTP client (and so its
// connections and transport wrappers) between the two API groups. It asks
// for protobuf, as client-go's typed clients do for these types.
func NewClient(rc *rest.Config) (Client, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("http client: %w", err)
	}
	group := func(apiPath string, gv schema.GroupVersion) (*rest.RESTClient, error) {
		c := rest.CopyConfig(rc)
		c.APIPath, c.GroupVersion = apiPath, &gv
		c.NegotiatedSerializer = clientCodecs.WithoutConversion()
		if c.UserAgent == "" {
			c.UserAgent = rest.DefaultKubernetesUserAgent()
		}
		r, err := rest.RESTClientForConfigAndClient(c, hc)
		if err != nil {
			return nil, fmt.Errorf("%s client: %w", gv, err)
		}
		return r, nil
	}
	core, err := group("/api", corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	discovery, err := group("/apis", discoveryv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	mcs, err := group("/apis", mcsv1a1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return restClient{core: core, discovery: discovery, mcs: mcs}, nil
}

func (c restClient) request(resource, namespace string, opts *metav1.ListOptions) (*rest.Request, kind, error) {
	k, ok := kinds[resource]
	if !ok {
		return nil, kind{}, fmt.Errorf("source: no such resource %q", resource)
	}
	rc := c.discovery
	switch {
	case k.core:
		rc = c.core
	case k.mcs:
		rc = c.mcs
	}
	var timeout time.Duration
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	req := rc.Get()
	if !k.mcs { // custom resources have no protobuf form
		req = req.UseProtobufAsDefault()
	}
	return req.Namespace(namespace).Resource(resource).VersionedParams(opts, parameterCodec).Timeout(timeout), k, nil
}

func (c restClient) List(ctx context.Context, resource, namespace string, opts metav1.ListOptions) (runtime.Object, error) {
	req, k, err := c.request(resource, namespace, &opts)
	if err != nil {
		return nil, err
	}
	list := k.newList()
	if err := req.Do(ctx).Into(list); err != nil {
		return nil, err
	}
	return list, nil
}

func (c restClient) Watch(ctx context.Context, resource, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	req, _, err := c.request(resource, namespace, &opts)
	if err != nil {
		return nil, err
	}
	return req.Watch(ctx)
}
