package yamlemit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// sameAsLibrary fails unless Marshal writes v exactly as
// sigs.k8s.io/yaml does, and reports whether the emitter itself (not the
// fallback) wrote it.
func sameAsLibrary(t *testing.T, v any) bool {
	t.Helper()
	want, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal differs from sigs.k8s.io/yaml for %#v:\n--- got\n%s--- want\n%s", v, got, want)
	}
	j, _ := json.Marshal(v)
	var doc any
	_ = json.Unmarshal(j, &doc)
	return plainDocument(doc)
}

func TestMarshalYAMLRenderedObjects(t *testing.T) {
	ready, no := true, false
	name, port, proto := "dns", int32(53), corev1.ProtocolUDP
	objs := []any{
		serviceDoc{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			Metadata: metav1.ObjectMeta{Name: "p-n-73736d-s", Namespace: "n", Labels: map[string]string{"mirrored-svc": "true", "a9": "x", "a10": "y", "a_b": "z", "aB": "w"},
				Annotations: map[string]string{"ssm.dev/remote-namespace": "y", "x": "NO", "z": "fd00::1", "q": "Prune=false"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", PublishNotReadyAddresses: true,
				Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, {Name: "on", Port: 1}}}},
		&corev1.Endpoints{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"}, ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "off"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", Hostname: "pg-0"}}, NotReadyAddresses: []corev1.EndpointAddress{{IP: "fd00::2"}},
				Ports: []corev1.EndpointPort{{Name: "dns", Port: 1053, Protocol: corev1.ProtocolUDP}}}, {}}},
		&corev1.Endpoints{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"}, ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "m"}},
		&discoveryv1.EndpointSlice{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}, ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "m"},
			AddressType: discoveryv1.AddressTypeIPv6, Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"fd00::1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &no}}}},
		&discoveryv1.EndpointSlice{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}, AddressType: "IPv4", Endpoints: []discoveryv1.Endpoint{}, Ports: []discoveryv1.EndpointPort{}},
	}
	for _, o := range objs {
		if !sameAsLibrary(t, o) {
			t.Errorf("fell back to the library for %#v", o)
		}
	}
}

// TestMarshalYAMLRandomStrings compares the emitter with the library on
// random values drawn from the characters it handles itself, plus words
// YAML 1.1 reads as booleans, null or numbers. Keys have no digits: with
// digits, yaml.v2's key order is not a total order and the library's own
// output depends on Go's random map order.
func TestMarshalYAMLRandomStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcnoyfteNOYTFxz0123456789._/:=-"
	key := func() string {
		b := []byte{"abnoyNOYxz"[r.IntN(10)]}
		for range r.IntN(8) {
			b = append(b, "abnoyNOYxz._/:=-"[r.IntN(16)])
		}
		return string(b)
	}
	word := func() string {
		if r.IntN(8) == 0 {
			return []string{"y", "Yes", "NO", "on", "Off", "true", "False", "null", "Null", "10.1.2.3", "1e3", "0x1F", "12", "1:20", "~", ""}[r.IntN(16)]
		}
		b := []byte{"abcnoyfteNOYTFxz"[r.IntN(16)]}
		for range r.IntN(8) {
			b = append(b, alphabet[r.IntN(len(alphabet))])
		}
		return string(b)
	}
	emitted := 0
	for range 20000 {
		m := map[string]any{}
		for range 1 + r.IntN(4) {
			m[key()] = word()
		}
		m["list"] = []any{word(), map[string]any{key(): word(), key(): []any{}}}
		if sameAsLibrary(t, m) {
			emitted++
		}
	}
	if emitted < 5000 {
		t.Errorf("only %d of 20000 documents took the emitter's path", emitted)
	}
}

// TestMarshalYAMLLongKeys: yaml.v2 writes a key of over 128 bytes as an
// explicit "? key" (an annotation key may be 317); the output stays the
// library's, at 128 and at 129.
func TestMarshalYAMLLongKeys(t *testing.T) {
	for _, n := range []int{maxSimpleKey, maxSimpleKey + 1, 317} {
		key := "example.com/" + strings.Repeat("k", n-len("example.com/"))
		doc := map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: "x", "y": "z"}}}
		if plain := sameAsLibrary(t, doc); plain != (n <= maxSimpleKey) {
			t.Errorf("a %d-byte key: written by the emitter = %v", n, plain)
		}
	}
}

// TestMarshalYAMLFoldedLineBreak: yaml.v2 writes U+0085 inside quotes,
// where YAML reads it back as a space; such a value is refused, not
// changed on its way.
func TestMarshalYAMLFoldedLineBreak(t *testing.T) {
	doc := map[string]any{"hostname": "a\u0085b"}
	if b, err := Marshal(nil, doc); err == nil {
		t.Errorf("Marshal wrote %q, want an error", b)
	}
	if _, err := Marshal(nil, map[string]any{"hostname": "2001:db8::1"}); err != nil { // written by the library
		t.Errorf("Marshal of an IPv6 address: %v", err)
	}
}

// serviceDoc is a Service as generate renders it: no status.
type serviceDoc struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta  `json:"metadata"`
	Spec            corev1.ServiceSpec `json:"spec"`
}
