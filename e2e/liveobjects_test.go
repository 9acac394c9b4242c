package e2e

import (
	"slices"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Reading the live objects of a rendered tree one by one, as an agent
// applied them: blind to what controllers added beside them (the
// EndpointSlices of the mirroring controller), unlike assertApplied.

// kindResources are the resources of the kinds ssm renders.
var kindResources = map[string]schema.GroupVersionResource{
	"Service":       {Version: "v1", Resource: "services"},
	"Endpoints":     {Version: "v1", Resource: "endpoints"},
	"EndpointSlice": {Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
	"Namespace":     {Version: "v1", Resource: "namespaces"},
	"ServiceImport": {Group: "multicluster.x-k8s.io", Version: "v1alpha1", Resource: "serviceimports"},
}

// liveObject gets an object of the local cluster; nil when there is none.
func liveObject(t *testing.T, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	o, err := localDynamic(t).Resource(kindResources[kind]).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", kind, ns, name, err)
	}
	return o
}

func exists(t *testing.T, kind, ns, name string) bool {
	t.Helper()
	return liveObject(t, kind, ns, name) != nil
}

// missing lists the rendered objects of the kinds that the local cluster
// does not hold as rendered.
func missing(t *testing.T, dir string, kinds ...string) []string {
	t.Helper()
	var problems []string
	for _, o := range renderedObjects(t, dir) {
		if !slices.Contains(kinds, o.kind()) {
			continue
		}
		ns, _ := o.meta()["namespace"].(string)
		live := liveObject(t, o.kind(), ns, o.meta()["name"].(string))
		if live == nil {
			problems = append(problems, o.id()+": not in the local cluster")
			continue
		}
		if live.GetDeletionTimestamp() != nil {
			problems = append(problems, o.id()+": being deleted")
		}
		for _, field := range []string{"spec", "subsets", "endpoints", "ports", "addressType"} {
			if w, ok := o[field]; ok {
				problems = append(problems, subsetDiff(o.id()+" ."+field, w, live.Object[field])...)
			}
		}
		if w, ok := o.meta()["labels"]; ok {
			problems = append(problems, subsetDiff(o.id()+" .metadata.labels", w, live.Object["metadata"].(map[string]any)["labels"])...)
		}
	}
	return problems
}

// requireLive fails unless every rendered object of the kinds is live, as
// rendered.
func requireLive(t *testing.T, dir string, kinds ...string) {
	t.Helper()
	if p := missing(t, dir, kinds...); len(p) > 0 {
		t.Fatalf("the local cluster does not hold what was rendered:\n%s", strings.Join(p, "\n"))
	}
}

// requireAbsent fails if any rendered object of the kinds is live.
func requireAbsent(t *testing.T, dir string, kinds ...string) {
	t.Helper()
	n := 0
	for _, o := range renderedObjects(t, dir) {
		if !slices.Contains(kinds, o.kind()) {
			continue
		}
		n++
		ns, _ := o.meta()["namespace"].(string)
		if exists(t, o.kind(), ns, o.meta()["name"].(string)) {
			t.Errorf("%s: applied, want it excluded", o.id())
		}
	}
	if n == 0 {
		t.Fatalf("%s renders no %v: nothing to check", dir, kinds)
	}
}

var (
	localDynamicOnce   sync.Once
	localDynamicClient dynamic.Interface
	localDynamicErr    error
)

// localDynamic is a dynamic client of the local cluster, as admin.
func localDynamic(t *testing.T) dynamic.Interface {
	t.Helper()
	localDynamicOnce.Do(func() {
		cfg := &rest.Config{Host: local.URL, BearerToken: adminToken, TLSClientConfig: rest.TLSClientConfig{CAFile: local.CAFile},
			QPS: 50, Burst: 100, WarningHandler: rest.NoWarnings{}}
		localDynamicClient, localDynamicErr = dynamic.NewForConfig(cfg)
	})
	if localDynamicErr != nil {
		t.Fatal(localDynamicErr)
	}
	return localDynamicClient
}
