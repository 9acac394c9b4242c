// Package kubeapi names what of the Kubernetes API source, which reads a
// cluster, and generate, which renders its mirrors, must call alike: the
// API that carries a Service's endpoints. Each checks the values it takes
// (source.EndpointsAPIs, generate.EndpointsAPIs). It imports no package of
// this module.
package kubeapi

// EndpointsAPI says which objects carry the endpoints of a Service: those
// source reads of a remote, or those generate renders for a mirror.
type EndpointsAPI string

const (
	Endpoints      EndpointsAPI = "endpoints"      // v1 Endpoints (semaphore-service-mirror's choice)
	EndpointSlices EndpointsAPI = "endpointslices" // discovery.k8s.io/v1 EndpointSlices: dual-stack, over 1,000 endpoints
	Both           EndpointsAPI = "both"           // rendered: both, the Endpoints marked skip-mirror
	NoEndpoints    EndpointsAPI = "none"           // read: Services only (NodePort mode needs no remote endpoints)
)
