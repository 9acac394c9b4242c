package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/ssm-dev/ssm/internal/kubeapi"
)

// snapshotScheme knows only the kinds a snapshot may hold; anything else in
// the file is ignored.
var snapshotCodecs = func() serializer.CodecFactory {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	_ = discoveryv1.AddToScheme(s)
	return serializer.NewCodecFactory(s)
}()

// LoadFile reads a snapshot from path, or from stdin when path is "-".
func LoadFile(path string, sel Selection, stdin io.Reader) (State, error) {
	var r io.Reader = stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return State{}, fmt.Errorf("read snapshot: %w", err)
		}
		defer f.Close()
		r, name = f, path
	}
	st, err := Parse(r, sel)
	if err != nil {
		return State{}, fmt.Errorf("read snapshot %s: %w", name, err)
	}
	return st, nil
}

// Parse reads a snapshot: what `kubectl get services,endpoints,endpointslices
// -A -o yaml` prints (a v1 List), typed lists, or single objects, as JSON or
// multi-document YAML. The selection applies exactly as to a live cluster.
func Parse(r io.Reader, sel Selection) (State, error) {
	selector, api, err := sel.parse()
	if err != nil {
		return State{}, err
	}
	st := State{NoServices: true}
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReaderSize(r, 1<<16), 4096)
	for doc := 1; ; doc++ {
		var raw runtime.RawExtension
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return State{}, fmt.Errorf("document %d: %w", doc, err)
		}
		raw.Raw = bytes.TrimSpace(raw.Raw)
		if len(raw.Raw) == 0 || bytes.Equal(raw.Raw, []byte("null")) {
			continue
		}
		if err := st.addRaw(raw.Raw, filter{selector, api, sel}); err != nil {
			return State{}, fmt.Errorf("document %d: %w", doc, err)
		}
	}
	return st, nil
}

// filter is a parsed Selection.
type filter struct {
	labels labels.Selector
	api    kubeapi.EndpointsAPI
	Selection
}

func (st *State) addRaw(data []byte, sel filter) error {
	obj, gvk, err := snapshotCodecs.UniversalDeserializer().Decode(data, nil, nil)
	if runtime.IsNotRegisteredError(err) {
		return nil // another kind: not ours to mirror
	}
	if err != nil {
		return err
	}
	switch o := obj.(type) {
	case *corev1.List:
		for i, item := range o.Items {
			if err := st.addRaw(item.Raw, sel); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
	case *corev1.ServiceList:
		st.NoServices = st.NoServices && len(o.Items) == 0
		for i := range o.Items {
			st.add(&o.Items[i], sel)
		}
	case *corev1.EndpointsList:
		for i := range o.Items {
			st.add(&o.Items[i], sel)
		}
	case *discoveryv1.EndpointSliceList:
		for i := range o.Items {
			st.add(&o.Items[i], sel)
		}
	case *corev1.NodeList:
		for i := range o.Items {
			st.addNode(&o.Items[i], sel.Nodes)
		}
	case *corev1.Node:
		st.addNode(o, sel.Nodes)
	case *corev1.NamespaceList:
		for i := range o.Items {
			st.addNamespace(&o.Items[i], sel.Namespaces)
		}
	case *corev1.Namespace:
		st.addNamespace(o, sel.Namespaces)
	default:
		if !isKnown(gvk) {
			return nil
		}
		st.add(obj, sel)
	}
	return nil
}

func isKnown(gvk *schema.GroupVersionKind) bool {
	return gvk != nil && (gvk.Kind == "Service" || gvk.Kind == "Endpoints" || gvk.Kind == "EndpointSlice")
}

func (st *State) addNode(n *corev1.Node, want bool) {
	if want {
		strip(&n.ObjectMeta)
		st.Nodes = append(st.Nodes, n)
	}
}

func (st *State) addNamespace(n *corev1.Namespace, want bool) {
	if want {
		strip(&n.ObjectMeta)
		n.Spec, n.Status = corev1.NamespaceSpec{}, corev1.NamespaceStatus{}
		st.Namespaces = append(st.Namespaces, n)
	}
}

// add keeps obj when the selection wants it, as a server-side list would.
func (st *State) add(obj runtime.Object, f filter) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	if _, isService := obj.(*corev1.Service); isService {
		st.NoServices = false
	}
	if !f.labels.Matches(labels.Set(m.GetLabels())) || (f.Namespace != "" && m.GetNamespace() != f.Namespace) {
		return
	}
	switch o := obj.(type) {
	case *corev1.Service:
		strip(&o.ObjectMeta)
		st.Services = append(st.Services, o)
	case *corev1.Endpoints:
		if f.api == kubeapi.Endpoints {
			strip(&o.ObjectMeta)
			st.Endpoints = append(st.Endpoints, o)
		}
	case *discoveryv1.EndpointSlice:
		if f.api == kubeapi.EndpointSlices {
			strip(&o.ObjectMeta)
			st.EndpointSlices = append(st.EndpointSlices, o)
		}
	}
}
