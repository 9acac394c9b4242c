// Package migrate finds what a controller that ssm replaces left in the
// local cluster and ssm will not render: objects nobody prunes, since the
// GitOps agent prunes only what it applied. It lists the local cluster
// (never writes it) through a source.Client, compares with the files ssm
// renders, and writes the leftovers as a kubectl delete script or a list
// of manifests, each with why it is left. Of this module it imports source
// and fileset.
package migrate

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/source"
)

// The labels semaphore-service-mirror v0.4 puts on what it writes.
const (
	labelMirrored      = "mirrored-svc"                   // "true" on mirror Services and their Endpoints
	labelPrefix        = "mirror-svc-prefix-sync"         // the remote's servicePrefix, on the same
	labelGlobal        = "global-svc"                     // "true" on global Services
	labelGlobalSlice   = "mirrored-endpoint-slice"        // "true" on the EndpointSlices of global Services
	labelSliceCluster  = "mirror-endpointslice-sync-name" // the cluster a global slice came from
	labelServiceName   = discoveryv1.LabelServiceName
	labelManagedBy     = "app.kubernetes.io/managed-by" // "ssm" on what ssm renders: never a leftover
	managedBySSM       = "ssm"
	mirroringNote      = "; the local EndpointSlice mirroring controller deletes the slices it made of them"
	globalSliceDetails = "ssm renders a global Service's endpoints as its own slices, gl-<namespace>-73736d-<name>-<cluster>-<family>"
)

// Leftover is an object the old controller left that ssm does not render.
type Leftover struct {
	APIVersion, Kind, Resource string
	Namespace, Name            string
	Why                        string
}

// Options say where semaphore-service-mirror wrote and what ssm renders.
type Options struct {
	Client    source.Client // the local cluster: only listed
	Namespace string        // its mirror namespace (global.mirrorNamespace)
	Rendered  fileset.Files // what ssm renders, as files of manifests
	Prefixes  []string      // the servicePrefix of every remote of the configuration
	Timeout   time.Duration // of each request; 0: none
}

// SemaphoreServiceMirror lists, in the mirror namespace, the mirror and
// global Services, Endpoints and global EndpointSlices that
// semaphore-service-mirror v0.4 wrote (by its labels) and ssm does not
// render, sorted by kind and name. What ssm renders under the same name
// and kind it takes over when the agent applies it; what ssm labelled as
// its own is the agent's to prune.
func SemaphoreServiceMirror(ctx context.Context, opts Options) ([]Leftover, error) {
	rendered, err := objects(opts.Rendered)
	if err != nil {
		return nil, err
	}
	var out []Leftover
	for _, q := range queries {
		list, err := listed(ctx, opts, q.resource, q.selector)
		if err != nil {
			return nil, err
		}
		for _, m := range list {
			key := q.kind + "/" + m.GetName()
			if rendered[key] || m.GetLabels()[labelManagedBy] == managedBySSM {
				continue
			}
			out = append(out, Leftover{APIVersion: q.apiVersion, Kind: q.kind, Resource: q.resource, Namespace: m.GetNamespace(), Name: m.GetName(),
				Why: q.why(m, rendered, opts.Prefixes)})
		}
	}
	return out, nil
}

type query struct {
	resource, selector, apiVersion, kind string
	why                                  func(m metav1.Object, rendered map[string]bool, prefixes []string) string
}

var queries = []query{
	{source.ServicesResource, labelMirrored + "=true", "v1", "Service", func(m metav1.Object, _ map[string]bool, prefixes []string) string {
		return "a mirror Service ssm does not render: " + gone(m, prefixes)
	}},
	{source.EndpointsResource, labelMirrored + "=true", "v1", "Endpoints", func(m metav1.Object, rendered map[string]bool, prefixes []string) string {
		if rendered["Service/"+m.GetName()] {
			return "the Endpoints of a mirror ssm renders with EndpointSlices (endpointsAPI): left, they would keep sending kube-proxy their addresses, " +
				"stale once semaphore-service-mirror stops, through the slices the local cluster mirrors from them" + mirroringNote
		}
		return "the Endpoints of a mirror Service ssm does not render: " + gone(m, prefixes) + mirroringNote
	}},
	{source.ServicesResource, labelGlobal + "=true", "v1", "Service", func(metav1.Object, map[string]bool, []string) string {
		return "a global Service ssm does not render: no cluster's Service matches the global selector under its name any more"
	}},
	{source.EndpointSlicesResource, labelGlobalSlice + "=true", "discovery.k8s.io/v1", "EndpointSlice", func(m metav1.Object, rendered map[string]bool, _ []string) string {
		svc := m.GetLabels()[labelServiceName]
		if !rendered["Service/"+svc] {
			return fmt.Sprintf("an EndpointSlice of the global Service %s, which ssm does not render", svc)
		}
		return fmt.Sprintf("an EndpointSlice of the global Service %s from cluster %s, named after the remote slice it copied: %s, "+
			"so kube-proxy would read both, this one stale", svc, m.GetLabels()[labelSliceCluster], globalSliceDetails)
	}},
}

// gone says why a mirror is not rendered: its remote is no longer in the
// configuration, or its remote Service is gone or no longer selected.
func gone(m metav1.Object, prefixes []string) string {
	if p := m.GetLabels()[labelPrefix]; p != "" && !slices.Contains(prefixes, p) {
		return fmt.Sprintf("it mirrors a remote (servicePrefix %s) the configuration no longer names", p)
	}
	return "its remote Service is gone, or no longer matches the label selector"
}

// listed lists one resource of the mirror namespace by label.
func listed(ctx context.Context, opts Options, resource, selector string) ([]metav1.Object, error) {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	obj, err := opts.Client.List(ctx, resource, opts.Namespace, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list %s -l %s in namespace %s: %w", resource, selector, opts.Namespace, err)
	}
	var out []metav1.Object
	add := func(o runtime.Object) { out = append(out, o.(metav1.Object)) }
	switch l := obj.(type) {
	case *corev1.ServiceList:
		for i := range l.Items {
			add(&l.Items[i])
		}
	case *corev1.EndpointsList:
		for i := range l.Items {
			add(&l.Items[i])
		}
	case *discoveryv1.EndpointSliceList:
		for i := range l.Items {
			add(&l.Items[i])
		}
	default:
		return nil, fmt.Errorf("list %s: got a %T", resource, obj)
	}
	slices.SortFunc(out, func(a, b metav1.Object) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, nil
}

// objects names the objects the rendered files hold, as "Kind/name".
func objects(files fileset.Files) (map[string]bool, error) {
	out := map[string]bool{}
	for p, b := range files {
		for doc := range bytes.SplitSeq(b, []byte("\n---\n")) {
			var o struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(doc, &o); err != nil {
				return nil, fmt.Errorf("read rendered %s: %w", p, err)
			}
			if o.Kind != "" && o.Metadata.Name != "" {
				out[o.Kind+"/"+o.Metadata.Name] = true
			}
		}
	}
	return out, nil
}
