package source

import (
	"testing"

	"github.com/google/go-cmp/cmp"
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
