package yamlemit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// FuzzEmitter compares Marshal with sigs.k8s.io/yaml on the kinds of
// object ssm renders, with names, label and annotation keys and values,
// IPs, hostnames and ports taken from the fuzzer: the bytes must be the
// same, and they must read back into the object that was written.
//
// One thing is not compared byte for byte: the order of a mapping's keys
// when yaml.v2's key comparison is not a strict total order on them (keys
// mixing digits with other characters: it has the cycle "a01" < "a10" <
// "a1a" < "a01", see TestEmitterAmbiguousKeys). yaml.v2
// sorts with that comparison, so for those keys its own output depends on
// Go's random map order and no emitter could match it every time. For such
// a document the two outputs must hold the same lines (quoting and
// indentation are still compared) and read back to the same object, and
// the emitter's output must be the same on every call.
func FuzzEmitter(f *testing.F) {
	for _, s := range emitterSeeds(f) {
		f.Add(s.kind, s.name, s.namespace, s.key, s.value, s.ip, s.host, s.port, s.num)
	}
	f.Fuzz(func(t *testing.T, kind uint8, name, namespace, key, value, ip, host, port string, num int32) {
		sameAsLibraryOrReordered(t, emitterObject(kind, name, namespace, key, value, ip, host, port, num))
	})
}

// TestEmitterAmbiguousKeys: yaml.v2's comparison has a cycle on these
// three keys ("a01" < "a10" < "a1a" < "a01"), so the library's own order
// for them depends on map order; the fuzz target's weaker check applies
// to such documents only.
func TestEmitterAmbiguousKeys(t *testing.T) {
	cycle := map[string]string{"a01": "x", "a10": "y", "a1a": "z"}
	if !hasAmbiguousMap(jsonDocument(t, map[string]any{"labels": cycle})) {
		t.Error("a cycle of yaml.v2's key order is not taken for ambiguous")
	}
	delete(cycle, "a1a")
	if hasAmbiguousMap(jsonDocument(t, map[string]any{"labels": cycle})) {
		t.Error("keys in a strict order are taken for ambiguous")
	}
	for range 20 {
		sameAsLibraryOrReordered(t, emitterObject(1<<5, "a01", "n", "a01", "v", "a10", "a1a", "x", 80))
	}
}

// sameAsLibraryOrReordered fails unless Marshal writes obj as
// sigs.k8s.io/yaml does (only reordered where yaml.v2's order is
// ambiguous), fails where it fails, and the output reads back as obj.
func sameAsLibraryOrReordered(t *testing.T, obj any) {
	t.Helper()
	got, err := Marshal(nil, obj)
	want, libErr := yaml.Marshal(obj)
	switch {
	case err != nil && libErr != nil:
		return // yaml.v2 refuses some characters (DEL, C1 controls): so must the emitter
	case err != nil && libErr == nil && readsBack(want, obj) != nil:
		return // what the library writes reads back as another value (U+0085): refused
	case err != nil || libErr != nil:
		t.Fatalf("Marshal error %v, sigs.k8s.io/yaml error %v, for %#v", err, libErr, obj)
	}
	doc := jsonDocument(t, obj)
	if !bytes.Equal(got, want) {
		if !hasAmbiguousMap(doc) {
			t.Fatalf("Marshal differs from sigs.k8s.io/yaml for %#v:\n--- got\n%s--- want\n%s", obj, got, want)
		}
		if !sameLines(got, want) {
			t.Fatalf("Marshal and sigs.k8s.io/yaml differ in more than key order for %#v:\n--- got\n%s--- want\n%s", obj, got, want)
		}
	}
	if plainDocument(doc) { // else the library wrote it, and may order keys otherwise
		if again, _ := Marshal(nil, obj); !bytes.Equal(again, got) {
			t.Fatalf("Marshal is not deterministic:\n--- first\n%s--- second\n%s", got, again)
		}
	}
	assertRoundTrip(t, obj, got)
}

// emitterObject builds a Service document (as render writes it), an
// Endpoints or an EndpointSlice, placing each fuzzed string where ssm
// writes strings: names, label and annotation keys and values, addresses,
// hostnames, port names and protocols. kind picks the object (bits 0-1)
// and flags: with onlyEmitted, a string the emitter leaves to the library
// is replaced by one it writes itself, so that the whole document takes
// the emitter's path (one such string sends a document to the fallback,
// where the comparison is the library with itself).
func emitterObject(kind uint8, name, namespace, key, value, ip, host, port string, num int32) any {
	const (
		ready       = 1 << 2
		serving     = 1 << 3
		ipv6        = 1 << 4
		onlyEmitted = 1 << 5
		emptyMaps   = 1 << 6
	)
	if kind&onlyEmitted != 0 {
		for _, s := range []*string{&name, &namespace, &key, &value, &ip, &host, &port} {
			if scalarStyle(*s) == styleUnknown {
				*s = "x"
			}
		}
	}
	meta := metav1.ObjectMeta{
		Name: name, Namespace: namespace,
		Labels:      map[string]string{key: value, ip: host, host: port, "mirrored-svc": "true", "mirror-svc-prefix-sync": name},
		Annotations: map[string]string{"ssm.dev/remote-namespace": namespace, "ssm.dev/remote-name": name, value: key, port: ip, name: namespace},
	}
	if kind&emptyMaps != 0 {
		meta.Labels, meta.Annotations = nil, map[string]string{} // both left out of the JSON
	}
	switch kind & 3 {
	case 1:
		return &corev1.Endpoints{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
			ObjectMeta: meta,
			Subsets: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{{IP: ip, Hostname: host}, {IP: "10.0.0.1"}},
				NotReadyAddresses: []corev1.EndpointAddress{{IP: host, Hostname: ip}},
				Ports:             []corev1.EndpointPort{{Name: port, Port: num, Protocol: corev1.Protocol(key)}},
			}, {}},
		}
	case 2:
		isReady, isServing := kind&ready != 0, kind&serving != 0
		addressType := discoveryv1.AddressType(value)
		if kind&ipv6 != 0 {
			addressType = discoveryv1.AddressTypeIPv6
		}
		protocol := corev1.Protocol(key)
		return &discoveryv1.EndpointSlice{
			TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta:  meta,
			AddressType: addressType,
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{ip}, Hostname: &host, Conditions: discoveryv1.EndpointConditions{Ready: &isReady, Serving: &isServing}},
				{Addresses: []string{host, port}, Zone: &value, Conditions: discoveryv1.EndpointConditions{Terminating: &isServing}},
			},
			Ports: []discoveryv1.EndpointPort{{Name: &port, Port: &num, Protocol: &protocol}},
		}
	}
	appProtocol := &host
	if host == "" {
		appProtocol = nil
	}
	return serviceDoc{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		Metadata: meta,
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, PublishNotReadyAddresses: kind&serving != 0,
			Ports: []corev1.ServicePort{
				{Name: port, Protocol: corev1.Protocol(value), AppProtocol: appProtocol, Port: num, TargetPort: intstr.FromInt32(num)},
				{Name: key, Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromString(host)},
			}},
	}
}

// assertRoundTrip fails unless out reads back, with sigs.k8s.io/yaml as
// kubectl and the GitOps agents read it, into an object equal to obj.
// Objects are compared in their JSON form, which is what the API server
// receives.
func assertRoundTrip(t *testing.T, obj any, out []byte) {
	t.Helper()
	back := newLike(obj)
	if err := yaml.Unmarshal(out, back); err != nil {
		t.Fatalf("output does not read back: %v\n%s", err, out)
	}
	// Through JSON first, as the API server receives it: invalid UTF-8
	// becomes U+FFFD there, before any YAML is written.
	j, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	sent := newLike(obj)
	if err := json.Unmarshal(j, sent); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(sent)
	got, _ := json.Marshal(back)
	if !bytes.Equal(got, want) {
		t.Fatalf("output reads back differently:\n--- wrote\n%s\n--- read back\n%s\n--- yaml\n%s", want, got, out)
	}
}

func newLike(obj any) any {
	switch obj.(type) {
	case serviceDoc:
		return &serviceDoc{}
	case *corev1.Endpoints:
		return &corev1.Endpoints{}
	case *discoveryv1.EndpointSlice:
		return &discoveryv1.EndpointSlice{}
	}
	panic("unexpected object type")
}

// jsonDocument is obj's JSON form decoded, as Marshal sees it.
func jsonDocument(t *testing.T, obj any) any {
	t.Helper()
	j, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(j, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// hasAmbiguousMap reports whether some mapping of doc has keys on which
// yaml.v2's comparison is not a strict total order, so that yaml.v2's sort
// may leave them in any order.
func hasAmbiguousMap(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k, e := range x {
			if hasAmbiguousMap(e) {
				return true
			}
			keys = append(keys, k)
		}
		for i, a := range keys {
			for _, b := range keys[i+1:] {
				if libKeyLess(a, b) == libKeyLess(b, a) {
					return true // equivalent or inconsistent: order left to the input
				}
			}
		}
		// Pairwise consistent; a cycle (a<b, b<c, c<a) is the remaining
		// way for a sort's result to depend on the input order.
		slices.SortFunc(keys, func(a, b string) int {
			if libKeyLess(a, b) {
				return -1
			}
			return 1
		})
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if !libKeyLess(keys[i], keys[j]) {
					return true
				}
			}
		}
	case []any:
		return slices.ContainsFunc(x, hasAmbiguousMap)
	}
	return false
}

// libKeyLess is go.yaml.in/yaml/v2's keyList.Less (sorter.go) for two
// string keys, copied here as the test's oracle so that deciding which
// documents are ambiguous does not rest on the emitter's own copy.
func libKeyLess(a, b string) bool {
	ar, br := []rune(a), []rune(b)
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al := unicode.IsLetter(ar[i])
		bl := unicode.IsLetter(br[i])
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var ai, bi int
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(ar[j]); j-- {
				if ar[j] != '0' {
					an = 1
					bn = 1
					break
				}
			}
		}
		for ai = i; ai < len(ar) && unicode.IsDigit(ar[ai]); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for bi = i; bi < len(br) && unicode.IsDigit(br[bi]); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}

// sameLines reports whether a and b hold the same lines, in any order.
func sameLines(a, b []byte) bool {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	slices.Sort(la)
	slices.Sort(lb)
	return slices.Equal(la, lb)
}

type emitterSeed struct {
	kind                                        uint8
	name, namespace, key, value, ip, host, port string
	num                                         int32
}

// emitterSeeds are the objects of the repository's snapshots, with their
// own names, labels, addresses and ports, and strings YAML 1.1 reads as
// something else than a string, or that need quoting.
func emitterSeeds(f *testing.F) []emitterSeed {
	var seeds []emitterSeed
	files, _ := filepath.Glob("../../../testdata/render/*.yaml")
	more, _ := filepath.Glob("../../../examples/multi/*.yaml")
	files = append(append(files, more...), "../../../examples/snapshot/remote.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				f.Fatalf("%s: %v", file, err)
			}
			items, _ := doc["items"].([]any)
			for _, it := range append(items, any(doc)) {
				if o, ok := it.(map[string]any); ok && o["kind"] != "List" {
					s := seedOf(o)
					seeds = append(seeds, s)
					s.kind |= 1 << 5 // only strings the emitter writes itself
					seeds = append(seeds, s)
				}
			}
		}
	}
	awkward := []string{"0x10", "1e3", "yes", "~", "Null", " lead", "trail ", "a: b", "'q'", `"dq"`, "#c", "- x", "1:20",
		"0o17", ".inf", "2001-01-01", "日本語", "line\nbreak", "tab\there", "a0", "a.0", "a00", "\u2028", "\xff", "", "-", "@at", "&x", "*y"}
	for i, s := range awkward {
		n := awkward[(i+1)%len(awkward)]
		seeds = append(seeds, emitterSeed{kind: uint8(i), name: s, namespace: n, key: s, value: n, ip: s, host: n, port: s, num: int32(i)})
	}
	// Three keys of one mapping on which yaml.v2's order has a cycle.
	seeds = append(seeds, emitterSeed{kind: 1 << 5, name: "a01", namespace: "n", key: "a01", value: "v", ip: "a10", host: "a1a", port: "x", num: 80})
	return seeds
}

func seedOf(o map[string]any) emitterSeed {
	str := func(key string) string { v, _ := first[string](o, key); return v }
	kinds := map[any]uint8{"Service": 0, "Endpoints": 1, "EndpointSlice": 2}
	s := emitterSeed{kind: kinds[o["kind"]], name: str("name"), namespace: str("namespace"),
		ip: str("ip") + str("clusterIP"), host: str("hostname"), port: str("protocol")}
	if labels, ok := first[map[string]any](o, "labels"); ok {
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			s.key = k
			s.value, _ = labels[k].(string)
			break
		}
	}
	if p, ok := first[float64](o, "port"); ok {
		s.num = int32(p)
	}
	return s
}

// first is the first value of type T under key, found depth first in v.
func first[T any](v any, key string) (T, bool) {
	switch x := v.(type) {
	case map[string]any:
		if e, ok := x[key].(T); ok {
			return e, true
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if e, ok := first[T](x[k], key); ok {
				return e, true
			}
		}
	case []any:
		for _, e := range x {
			if r, ok := first[T](e, key); ok {
				return r, true
			}
		}
	}
	var zero T
	return zero, false
}
