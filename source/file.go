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
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/internal/kubeapi"
)

// snapshotScheme knows only the kinds a snapshot may hold; anything else in
// the file is ignored.
var snapshotCodecs = func() serializer.CodecFactory {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	_ = discoveryv1.AddToScheme(s)
	_ = mcsv1a1.Install(s)
	return serializer.NewCodecFactory(s)
}()

// DefaultMaxSnapshotSize is the size of the largest snapshot read when no
// other limit is given: generous (a remote of 10,000 Services with ten
// endpoints each is about 40 MiB of YAML), and what parsing it takes
// (three times as much memory, or more) is still a fraction of a machine.
const DefaultMaxSnapshotSize = 256 << 20

// SnapshotTooLargeError is a snapshot over its size limit.
type SnapshotTooLargeError struct{ Limit int64 }

func (e *SnapshotTooLargeError) Error() string {
	return "over the snapshot size limit of " + apiresource.NewQuantity(e.Limit, apiresource.BinarySI).String()
}

// LoadFile reads a snapshot from path, or from stdin when path is "-", of
// at most maxSize bytes (0: DefaultMaxSnapshotSize). A file known to be
// larger is refused before it is read; stdin (or a pipe) is refused once
// it is.
func LoadFile(path string, sel Selection, stdin io.Reader, maxSize int64) (State, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSnapshotSize
	}
	var r io.Reader = stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return State{}, fmt.Errorf("read snapshot: %w", err)
		}
		defer f.Close()
		r, name = f, path
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > maxSize {
			return State{}, fmt.Errorf("read snapshot %s (%d bytes): %w", name, fi.Size(), &SnapshotTooLargeError{Limit: maxSize})
		}
	}
	st, err := parse(r, sel, maxSize)
	if err != nil {
		return State{}, fmt.Errorf("read snapshot %s: %w", name, err)
	}
	return st, nil
}

// Parse reads a snapshot: what `kubectl get services,endpoints,endpointslices
// -A -o yaml` prints (a v1 List), typed lists, or single objects, as JSON or
// multi-document YAML, of at most DefaultMaxSnapshotSize bytes. The
// selection applies exactly as to a live cluster.
func Parse(r io.Reader, sel Selection) (State, error) {
	return parse(r, sel, DefaultMaxSnapshotSize)
}

func parse(r io.Reader, sel Selection, maxSize int64) (State, error) {
	selector, api, err := sel.parse()
	if err != nil {
		return State{}, err
	}
	st := State{NoServices: true}
	lr := &limitedReader{r: r, left: maxSize, limit: maxSize}
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReaderSize(lr, 1<<16), 4096)
	for doc := 1; ; doc++ {
		var raw runtime.RawExtension
		err := dec.Decode(&raw)
		if lr.over { // whatever the decoder made of the cut
			return State{}, &SnapshotTooLargeError{Limit: maxSize}
		}
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return State{}, fmt.Errorf("document %d: %w", doc, readable(err))
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

// limitedReader fails once more than limit bytes have been read of r, so
// that a snapshot of no known size is refused as soon as it passes its
// limit, not once all of it sits in memory.
type limitedReader struct {
	r           io.Reader
	left, limit int64
	over        bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.over {
		return 0, &SnapshotTooLargeError{Limit: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte past the limit tells a file of exactly limit bytes from a larger one
	}
	n, err := l.r.Read(p)
	if l.left -= int64(n); l.left < 0 {
		l.over = true
		return 0, &SnapshotTooLargeError{Limit: l.limit}
	}
	return n, err
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
		return readable(err)
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
	case *mcsv1a1.ServiceExportList, *mcsv1a1.ServiceExport, *mcsv1a1.ServiceImportList, *mcsv1a1.ServiceImport:
		st.addMCSSnapshot(o, sel)
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
		strip(n)
		st.Nodes = append(st.Nodes, n)
	}
}

func (st *State) addNamespace(n *corev1.Namespace, want bool) {
	if want {
		st.Namespaces = append(st.Namespaces, strip(n).(*corev1.Namespace))
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
		st.SnapshotServices++
	}
	if !f.labels.Matches(labels.Set(m.GetLabels())) || (f.Namespace != "" && m.GetNamespace() != f.Namespace) {
		return
	}
	switch o := obj.(type) {
	case *corev1.Service:
		st.Services = append(st.Services, strip(o).(*corev1.Service))
	case *corev1.Endpoints:
		if f.api == kubeapi.Endpoints {
			st.Endpoints = append(st.Endpoints, strip(o).(*corev1.Endpoints))
		}
	case *discoveryv1.EndpointSlice:
		switch _, mcs := o.Labels[mcsv1a1.LabelServiceName]; {
		case f.api == kubeapi.EndpointSlices:
			st.EndpointSlices = append(st.EndpointSlices, strip(o).(*discoveryv1.EndpointSlice))
		case f.Imports && mcs:
			s, _ := stripImportSlice(o)
			st.EndpointSlices = append(st.EndpointSlices, s.(*discoveryv1.EndpointSlice))
		}
	}
}
