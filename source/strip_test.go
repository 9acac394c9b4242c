package source

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// An EndpointSlice keeps the label that ties it to its Service, and no other.
func TestStripSliceLabels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   map[string]string
	}{
		{name: "copied Service labels", labels: map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io", "app": "web"},
			want: map[string]string{discoveryv1.LabelServiceName: "web"}},
		{name: "service name only", labels: map[string]string{discoveryv1.LabelServiceName: "web"}, want: map[string]string{discoveryv1.LabelServiceName: "web"}},
		{name: "no service name", labels: map[string]string{"app": "web"}, want: nil},
		{name: "none", labels: nil, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := stripTransform(&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Labels: tc.labels}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, obj.(*discoveryv1.EndpointSlice).Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
}

// hugeAnnotation is what a remote may attach to any object: up to 256 KiB
// of annotations, which no render reads.
var hugeAnnotation = strings.Repeat("x", 256<<10)

// TestStripAnnotations: the informers' caches keep only the annotations
// ssm reads (barrelman's ignore mark on Services) and the labels it needs
// (a Service's, for global routing and local barrelman Services), of
// every kind it watches.
func TestStripAnnotations(t *testing.T) {
	ann := func() map[string]string {
		return map[string]string{"tfw.io/barrelman": "ignore", "big": hugeAnnotation, lastApplied: "{}"}
	}
	labels := map[string]string{"app": "web", "tfw.io/barrelman": "true"}
	for _, tc := range []struct {
		obj        metav1.Object
		ann, label map[string]string
	}{
		{obj: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Annotations: ann(), Labels: labels}},
			ann: map[string]string{"tfw.io/barrelman": "ignore"}, label: labels},
		{obj: &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "e", Annotations: ann(), Labels: labels}}},
		{obj: &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "es", Annotations: ann(), Labels: labels}}},
		{obj: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: ann(), Labels: labels}}},
	} {
		if _, err := stripTransform(tc.obj); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.ann, tc.obj.GetAnnotations(), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%T annotations (-want +got):\n%.300s", tc.obj, diff)
		}
		if diff := cmp.Diff(tc.label, tc.obj.GetLabels(), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%T labels (-want +got):\n%s", tc.obj, diff)
		}
	}
}
