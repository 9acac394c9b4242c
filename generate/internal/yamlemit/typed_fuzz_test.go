package yamlemit

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// FuzzTypedEqualsGeneric compares the typed path with the generic one on
// the documents ssm renders (see emitterObject), with fuzzed names, labels,
// annotations, addresses, hostnames and ports: wherever the typed path
// writes a document it must write the generic path's bytes, and it must
// write every document whose strings the generic path writes itself.
func FuzzTypedEqualsGeneric(f *testing.F) {
	for _, s := range emitterSeeds(f) {
		f.Add(s.kind, s.name, s.namespace, s.key, s.value, s.ip, s.host, s.port, s.num)
	}
	f.Fuzz(func(t *testing.T, kind uint8, name, namespace, key, value, ip, host, port string, num int32) {
		obj := emitterObject(kind, name, namespace, key, value, ip, host, port, num)
		typed := sameAsGeneric(t, obj)
		if plain := plainDocument(jsonDocument(t, obj)); plain != typed {
			t.Fatalf("typed path taken: %v; the generic path writes it itself: %v, for %#v", typed, plain, obj)
		}
	})
}

// FuzzTypedShapes compares the typed path with the generic one on values
// of any shape the fuzzer's bytes describe (see shape): nested maps, lists,
// arrays, pointers, interfaces and structs with embedded fields, omitempty
// and omitzero, JSON and text marshalers, and the types the typed path
// leaves to the generic one.
func FuzzTypedShapes(f *testing.F) {
	for _, s := range []string{"", "m\x03ak\x01s", "l\x02sbi", "S\x05abcde", "p m\x01k i", "Mx\x02yes", "E", "H", "LsaLsb", "N\x01", "F"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &shapeReader{data: data}
		v := r.shape(0)
		m := map[string]any{"doc": v}
		sameAsGeneric(t, m)
		sameAsGeneric(t, v)
	})
}

type shapeReader struct {
	data []byte
	pos  int
}

func (r *shapeReader) byte() byte {
	if r.pos >= len(r.data) {
		return 0
	}
	b := r.data[r.pos]
	r.pos++
	return b
}

// str is a string from a few that YAML treats specially, or taken from
// the input.
func (r *shapeReader) str() string {
	words := []string{"a", "yes", "No", "on", "null", "10.0.0.1", "fd00::1", "a01", "a10", "a1a", "", "x y", "app.kubernetes.io/name", "-", "0"}
	b := r.byte()
	if int(b) < len(words) {
		return words[b]
	}
	n := int(b) % 8
	var s strings.Builder
	for range n {
		s.WriteByte(r.byte())
	}
	return s.String()
}

type shapeStruct struct {
	withEmbedded
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	Items  []any             `json:"items"`
	Ptr    *shapeStruct      `json:"ptr,omitempty"`
	Port   intstr.IntOrString
	Proto  corev1.Protocol `json:"proto,omitzero"`
	Z      zeroer          `json:"z,omitzero"`
	Any    any             `json:"any,omitempty"`
}

// shape builds a value from the input, one byte choosing its kind.
func (r *shapeReader) shape(depth int) any {
	if depth > 6 {
		return r.str()
	}
	switch r.byte() % 20 {
	case 0:
		return r.str()
	case 1:
		return int(int8(r.byte()))
	case 2:
		return r.byte()%2 == 0
	case 3:
		return nil
	case 4, 5:
		m := map[string]any{}
		for range int(r.byte() % 5) {
			m[r.str()] = r.shape(depth + 1)
		}
		return m
	case 6, 7:
		var l []any
		if r.byte()%4 != 0 {
			l = []any{}
		}
		for range int(r.byte() % 5) {
			l = append(l, r.shape(depth+1))
		}
		return l
	case 8:
		m := map[string]string{}
		for range int(r.byte() % 5) {
			m[r.str()] = r.str()
		}
		return m
	case 9:
		v := r.shape(depth + 1)
		return &v
	case 10:
		s := shapeStruct{Name: r.str(), Z: zeroer{int(r.byte())}, Any: r.shape(depth + 1)}
		s.E, s.Own = r.str(), r.str()
		if r.byte()%2 == 0 {
			s.inner = &inner{A: r.str(), B: int(r.byte())}
		}
		if r.byte()%2 == 0 {
			s.Labels = map[string]string{r.str(): r.str()}
		}
		s.Items = []any{r.shape(depth + 1)}
		if r.byte()%2 == 0 {
			s.Port = intstr.FromString(r.str())
		} else {
			s.Port = intstr.FromInt32(int32(r.byte()))
		}
		if r.byte()%3 == 0 {
			p := s
			s.Ptr = &p
		}
		if r.byte()%2 == 0 {
			return &s
		}
		return s
	case 11:
		return [2]any{r.shape(depth + 1), r.shape(depth + 1)}
	case 12:
		return holder{P: ptrMarshaler{r.str()}, V: valMarshaler{r.str()}, T: ptrText{r.str()}, Z: zeroer{int(r.byte())}, Bad: r.str(), Arr: [2]string{r.str(), r.str()}}
	case 13:
		return &holder{P: ptrMarshaler{r.str()}, PP: &ptrMarshaler{r.str()}, V: valMarshaler{r.str()}, T: ptrText{r.str()}, PZ: ptrZeroer{int(r.byte())}, Bad: r.str(), Arr: [2]string{r.str(), r.str()}}
	case 14:
		return json.Number(r.str())
	case 15:
		return float64(r.byte()) / 4
	case 16:
		return []inner{{A: r.str(), B: int(r.byte())}}
	case 17:
		return map[string][]string{r.str(): {r.str()}}
	case 18:
		return duplicate{Embedded{r.str()}, r.str(), r.str()}
	}
	return digitKeys{r.str(), r.str(), r.str()}
}
