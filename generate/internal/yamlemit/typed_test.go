package yamlemit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	"sigs.k8s.io/yaml"
)

// serviceImportDoc is a ServiceImport as generate renders it: no status.
type serviceImportDoc struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta         `json:"metadata"`
	Spec            mcsv1a1.ServiceImportSpec `json:"spec"`
}

// sameAsGeneric fails unless the typed path writes v exactly as the
// generic path (encoding/json, then a generic document) does wherever it
// writes it, and reports whether it did.
func sameAsGeneric(t *testing.T, v any) bool {
	t.Helper()
	prefix := []byte("# kept\n")
	want, genErr := marshalGeneric(bytes.Clone(prefix), v)
	got, ok := marshalTyped(bytes.Clone(prefix), v)
	if !ok {
		return false
	}
	if genErr != nil {
		t.Fatalf("the typed path wrote what the generic path refuses (%v), for %#v:\n%s", genErr, v, got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the typed path differs from the generic path for %#v:\n--- typed\n%s--- generic\n%s", v, got, want)
	}
	return true
}

// TestTypedRenderedDocuments reads every document of the golden renders
// back into the object ssm renders it from (a Service without status, an
// Endpoints, an EndpointSlice): the typed path must write each of them,
// byte for byte as the golden file holds it and as the generic path does.
func TestTypedRenderedDocuments(t *testing.T) {
	var files []string
	wants, _ := filepath.Glob("../../../testdata/render/*/want")
	for _, w := range wants {
		err := filepath.WalkDir(w, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	docs := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(b, []byte("#")) { // kustomizations: not rendered by Marshal
			continue
		}
		for d := range strings.SplitSeq(string(b), "---\n") {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(d), &tm); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var obj any
			switch tm.Kind {
			case "Service":
				obj = &serviceDoc{}
			case "Endpoints":
				obj = &corev1.Endpoints{}
			case "EndpointSlice":
				obj = &discoveryv1.EndpointSlice{}
			case "ServiceImport":
				obj = &serviceImportDoc{}
			default:
				continue // NodePort mode's namespaces, written by sigs.k8s.io/yaml
			}
			if err := yaml.Unmarshal([]byte(d), obj); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch o := obj.(type) { // as generate passes them
			case *serviceDoc:
				obj = *o
			case *serviceImportDoc:
				obj = *o
			}
			got, ok := marshalTyped(nil, obj)
			if !ok {
				if plainDocument(jsonDocument(t, obj)) {
					t.Errorf("%s: the typed path gave up on a %s the generic path writes:\n%s", f, tm.Kind, d)
				}
				continue
			}
			if string(got) != d {
				t.Errorf("%s: the typed path writes the %s otherwise:\n--- typed\n%s--- golden\n%s", f, tm.Kind, got, d)
			}
			sameAsGeneric(t, obj)
			docs++
		}
	}
	t.Logf("%d documents of %d files", docs, len(files))
	if docs < 100 {
		t.Errorf("only %d golden documents compared", docs)
	}
}

// Types with every rule of encoding/json the typed path follows, or
// leaves to the generic path.
type (
	inner struct {
		A string `json:"a,omitempty"`
		B int    `json:"b"`
	}
	Embedded struct {
		E string `json:"e"`
	}
	withEmbedded struct {
		Embedded
		*inner `json:",inline"`
		Own    string `json:"own"`
	}
	duplicate struct {
		Embedded
		E string `json:"e2"`
		F string `json:"e"`
	}
	ptrMarshaler struct{ v string }
	valMarshaler struct{ v string }
	ptrText      struct{ v string }
	zeroer       struct{ n int }
	ptrZeroer    struct{ n int }
	holder       struct {
		P   ptrMarshaler      `json:"p"`
		PP  *ptrMarshaler     `json:"pp,omitempty"`
		V   valMarshaler      `json:"v"`
		T   ptrText           `json:"t"`
		Z   zeroer            `json:"z,omitzero"`
		PZ  ptrZeroer         `json:"pz,omitzero"`
		Z2  inner             `json:"z2,omitzero"`
		I   any               `json:"i"`
		IE  any               `json:"ie,omitempty"`
		Tm  metav1.Time       `json:"tm,omitzero"`
		Q   resource.Quantity `json:",omitzero"`
		Arr [2]string         `json:"arr"`
		Ign string            `json:"-"`
		Bad string            `json:"a\\b"`
		low string
	}
	withFloat struct {
		F float64 `json:"f"`
	}
	withBytes struct {
		B []byte `json:"b"`
	}
	quoted struct {
		N int `json:"n,string"`
	}
	cyclic struct {
		Next *cyclic `json:"next"`
	}
	// Each embeds the one embedding it: encoding/json visits each type
	// once; the typed path gives up at maxDepth.
	EmbedA struct {
		*EmbedB
		*EmbedC
		N string `json:"n"`
	}
	EmbedB    struct{ *EmbedA }
	EmbedC    struct{ *EmbedA }
	digitKeys struct {
		A01 string `json:"a01"`
		A10 string `json:"a10"`
		A1a string `json:"a1a"`
	}
)

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{"ptr":"p-` + p.v + `"}`), nil }
func (v valMarshaler) MarshalJSON() ([]byte, error) {
	if v.v == "fail" {
		return nil, errors.New("refused")
	}
	if v.v == "float" {
		return []byte(`1.50`), nil
	}
	return []byte(` ["v-` + v.v + `", 150, -1, {"k": null}] `), nil
}
func (p *ptrText) MarshalText() ([]byte, error) { return []byte("text-" + p.v), nil }
func (z zeroer) IsZero() bool                   { return z.n < 10 }
func (z *ptrZeroer) IsZero() bool               { return z.n < 10 }

// TestTypedEqualsGeneric compares the two paths on values that exercise
// each rule, and checks which ones the typed path writes itself.
func TestTypedEqualsGeneric(t *testing.T) {
	ts := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	full := holder{P: ptrMarshaler{"a"}, PP: &ptrMarshaler{"b"}, V: valMarshaler{"c"}, T: ptrText{"d"}, Z: zeroer{11}, PZ: ptrZeroer{12},
		Z2: inner{B: 1}, I: map[string]any{"x": []any{"y", 2, nil, map[string]any{}}}, Arr: [2]string{"on", "off"}, Bad: "bad"}
	// Their strings start with digits: the generic path leaves them to
	// sigs.k8s.io/yaml, and the typed path to the generic one.
	timed := full
	timed.Tm, timed.Q = ts, resource.MustParse("1500m")
	cases := []struct {
		name  string
		v     any
		typed bool // whether the typed path writes it itself
	}{
		{"empty map", map[string]any{}, true},
		{"empty struct", struct{}{}, true},
		{"nested empties", map[string]any{"a": map[string]any{}, "b": []any{}, "c": []any{[]any{}, map[string]any{}, []any{"x", []any{"y"}}}}, true},
		{"nil values", map[string]any{"m": map[string]string(nil), "s": []string(nil), "p": (*int)(nil), "i": nil}, true},
		{"YAML 1.1 words", map[string]string{"y": "yes", "on": "Off", "x": "null", "true": "False"}, true},
		{"numbers", map[string]any{"a": int8(-3), "b": uint64(1 << 63), "c": true, "d": false}, true},
		{"embedded", withEmbedded{Embedded: Embedded{"e"}, inner: &inner{B: 2}, Own: "o"}, true},
		{"embedded nil pointer", withEmbedded{Embedded: Embedded{"e"}, Own: "o"}, true},
		{"empty string", withEmbedded{Own: "o"}, false},
		{"by pointer", &full, true},
		{"by value", full, true},
		{"time and quantity", &timed, false},
		{"zero holder", holder{}, false},
		{"zero holder by pointer", &holder{Bad: "b", Arr: [2]string{"a", "b"}}, true},
		{"dash name", struct {
			D string `json:"-,"`
		}{"d"}, false},
		{"non-canonical numbers", map[string]any{"v": valMarshaler{"float"}}, false},
		{"canonical numbers", map[string]any{"n": json.Number("12"), "i": intstr.FromInt32(-5)}, false},
		{"list of structs", []any{map[string]any{"l": []inner{{}, {A: "a", B: 3}}}}, false},
		{"structs in a list", map[string]any{"l": []inner{{}, {A: "a", B: 3}}, "m": map[string]inner{"k": {}}}, true},
		{"intstr", map[string]any{"p": intstr.FromInt32(8080), "n": intstr.FromString("http"), "yes": intstr.FromString("yes")}, true},
		{"text marshaler", map[string]any{"a": netip.MustParseAddr("10.1.2.3"), "b": netip.MustParseAddr("fd00::1"), "c": (*netip.Addr)(nil)}, true},
		{"duplicate names", duplicate{Embedded{"x"}, "y", "z"}, false},
		{"float", withFloat{1.5}, false},
		{"bytes", withBytes{[]byte("x")}, false},
		{"string option", quoted{3}, false},
		{"embedding cycle", &EmbedA{EmbedB: &EmbedB{&EmbedA{N: "inner"}}, N: "n"}, false},
		{"cycle", func() any { c := &cyclic{}; c.Next = c; return map[string]any{"c": c} }(), false},
		{"unknown string", map[string]any{"a": "two words"}, false},
		{"unknown key", map[string]any{"0a": "x"}, false},
		{"long key", map[string]string{strings.Repeat("k", 129): "x"}, false},
		{"digit keys", map[string]string{"a01": "x", "a10": "y", "a1a": "z"}, true},
		{"digit fields", digitKeys{"x", "y", "z"}, false},
		{"top-level list", []string{"a"}, false},
		{"top-level scalar", "a", false},
		{"top-level nil", (*inner)(nil), false},
		{"marshaler error", map[string]any{"v": valMarshaler{"fail"}}, false},
		{"int keys", map[int]string{1: "a"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if typed := sameAsGeneric(t, c.v); typed != c.typed {
				t.Errorf("written by the typed path: %v, want %v", typed, c.typed)
			}
			// Marshal is the typed path or the generic one: the generic
			// one's result either way.
			want, wantErr := marshalGeneric(nil, c.v)
			got, err := Marshal(nil, c.v)
			if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
				t.Errorf("Marshal = %q, %v; the generic path %q, %v", got, err, want, wantErr)
			}
		})
	}
}
