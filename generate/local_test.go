package generate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClaimHeirs: what the controller ssm replaces made under a name is
// taken over (semaphore-service-mirror's mirrors of the same prefix and
// its global Services, barrelman's Services); the same name made by
// anyone else, or semaphore-service-mirror's mirror of another prefix, is
// another owner's.
func TestClaimHeirs(t *testing.T) {
	svc := func(name string, labels map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: name, Labels: labels}}
	}
	o := ownersOf(&Local{Services: []*corev1.Service{
		svc("east-a-73736d-x", semaphoreMirrorMade("east")),
		svc("east-a-73736d-y", semaphoreMirrorMade("west")),
		svc("east-a-73736d-z", map[string]string{LabelMirrored: "true"}),
		svc("gl-a-73736d-x", semaphoreGlobalMade),
		svc("gl-a-73736d-y", nil),
		svc("b", barrelmanMade),
	}}, Options{})
	for _, tc := range []struct {
		name string
		heir map[string]string
		want claim
	}{
		{"east-a-73736d-x", semaphoreMirrorMade("east"), claimAdopted},
		{"east-a-73736d-y", semaphoreMirrorMade("east"), claimTaken},
		{"east-a-73736d-z", semaphoreMirrorMade("east"), claimTaken},
		{"gl-a-73736d-x", semaphoreGlobalMade, claimAdopted},
		{"gl-a-73736d-y", semaphoreGlobalMade, claimTaken},
		{"b", barrelmanMade, claimAdopted},
		{"b", semaphoreGlobalMade, claimTaken},
		{"free", semaphoreGlobalMade, claimFree},
	} {
		if got := o.claim("m", tc.name, tc.heir); got != tc.want {
			t.Errorf("claim(%s, %v) = %d, want %d", tc.name, tc.heir, got, tc.want)
		}
	}
}
