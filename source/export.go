package source

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// The Multi-Cluster Services API (multicluster.x-k8s.io/v1alpha1) objects
// ssm reads, never writes: a remote's ServiceExports, which say which of
// its Services are exported, and the local cluster's ServiceImports, so
// that ssm never takes one another controller made.
const (
	ServiceExportsResource = "serviceexports"
	ServiceImportsResource = "serviceimports"
)

// importSlices selects the EndpointSlices of an MCS implementation:
// those labelled multicluster.kubernetes.io/service-name, whoever made them.
var importSlices = func() labels.Selector {
	r, err := labels.NewRequirement(mcsv1a1.LabelServiceName, selection.Exists, nil)
	utilruntime.Must(err)
	return labels.NewSelector().Add(*r)
}()

func init() {
	utilruntime.Must(mcsv1a1.Install(clientScheme))
}

func init() {
	kinds[ServiceExportsResource] = kind{mcs: true, newList: func() runtime.Object { return &mcsv1a1.ServiceExportList{} }}
	kinds[ServiceImportsResource] = kind{mcs: true, newList: func() runtime.Object { return &mcsv1a1.ServiceImportList{} }}
}

var (
	exportsResource      = resource{name: ServiceExportsResource, example: &mcsv1a1.ServiceExport{}, transform: stripMCS}
	importsResource      = resource{name: ServiceImportsResource, example: &mcsv1a1.ServiceImport{}, transform: stripMCS}
	importSlicesResource = resource{name: EndpointSlicesResource, example: &discoveryv1.EndpointSlice{}, transform: stripImportSlice}
)

// mcsResources are what s reads of the Multi-Cluster Services API, with
// the label selector of each: ServiceExports and ServiceImports are not
// labelled as the Services they name.
func (s Selection) mcsResources() ([]resource, []string) {
	var out []resource
	var selectors []string
	if s.ServiceExports {
		out, selectors = append(out, exportsResource), append(selectors, "")
	}
	if s.Imports {
		out, selectors = append(out, importsResource, importSlicesResource), append(selectors, "", importSlices.String())
	}
	return out, selectors
}

// addMCS adds a Multi-Cluster Services API object, or an EndpointSlice
// of one, as its resource's transform left it.
func (st *State) addMCS(obj any) {
	switch o := obj.(type) {
	case *mcsv1a1.ServiceExport:
		st.ServiceExports = append(st.ServiceExports, o)
	case *mcsv1a1.ServiceImport:
		st.ServiceImports = append(st.ServiceImports, o)
	case *discoveryv1.EndpointSlice:
		st.EndpointSlices = append(st.EndpointSlices, o)
	}
}

// stripMCS keeps of a ServiceExport its identity and age (the oldest
// export of a Service decides its conflicts), and of a ServiceImport its
// identity, labels (whose it is) and IPs (which no other may take): ssm
// renders from neither more.
func stripMCS(obj any) (any, error) {
	switch o := obj.(type) {
	case *mcsv1a1.ServiceExport:
		o.ManagedFields, o.Annotations, o.Labels = nil, nil, nil
		o.Spec, o.Status = mcsv1a1.ServiceExportSpec{}, mcsv1a1.ServiceExportStatus{}
	case *mcsv1a1.ServiceImport:
		o.ManagedFields, o.Annotations = nil, nil
		o.Spec, o.Status = mcsv1a1.ServiceImportSpec{IPs: o.Spec.IPs}, mcsv1a1.ServiceImportStatus{}
	}
	return obj, nil
}

// importSliceLabels are the labels of an MCS implementation's EndpointSlice
// that say whose it is and what it serves.
var importSliceLabels = []string{mcsv1a1.LabelServiceName, mcsv1a1.LabelSourceCluster, discoveryv1.LabelManagedBy,
	discoveryv1.LabelServiceName, "app.kubernetes.io/managed-by"}

// stripImportSlice keeps of a local EndpointSlice of an MCS implementation
// its identity and the labels that say whose it is: the local cluster's
// are read only so that ssm takes no name another controller serves, and
// its own slices (a thousand endpoints each) are not kept in memory again.
func stripImportSlice(obj any) (any, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return stripTransform(obj)
	}
	kept := make(map[string]string, len(importSliceLabels))
	for _, k := range importSliceLabels {
		if v, ok := s.Labels[k]; ok {
			kept[k] = v
		}
	}
	s.ObjectMeta = metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion, Labels: kept}
	s.Endpoints, s.Ports = nil, nil
	return s, nil
}

// addMCSSnapshot adds the ServiceExports and ServiceImports of a snapshot
// document that sel reads: of its namespace, whatever their labels.
func (st *State) addMCSSnapshot(obj runtime.Object, sel filter) {
	var items []runtime.Object
	switch o := obj.(type) {
	case *mcsv1a1.ServiceExportList:
		for i := range o.Items {
			items = append(items, &o.Items[i])
		}
	case *mcsv1a1.ServiceImportList:
		for i := range o.Items {
			items = append(items, &o.Items[i])
		}
	default:
		items = []runtime.Object{obj}
	}
	for _, item := range items {
		m, ok := item.(metav1.Object)
		if !ok || (sel.Namespace != "" && m.GetNamespace() != sel.Namespace) {
			continue
		}
		switch item.(type) {
		case *mcsv1a1.ServiceExport:
			if !sel.ServiceExports {
				continue
			}
		case *mcsv1a1.ServiceImport:
			if !sel.Imports {
				continue
			}
		}
		o, _ := stripMCS(item)
		st.addMCS(o)
	}
}
