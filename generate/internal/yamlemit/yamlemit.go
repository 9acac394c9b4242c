// Package yamlemit writes Kubernetes objects as YAML, byte for byte as
// sigs.k8s.io/yaml writes them, at a tenth of its cost: the mechanism of
// generate's rendering, which knows nothing of Services. It imports no
// package of this module.
package yamlemit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"
)

// Marshal appends v to buf as YAML, byte for byte as sigs.k8s.io/yaml
// writes it (JSON field names, keys in yaml.v2's order, block style), but
// without that library's round trip through a generic YAML document, which
// costs over ten times as much. It writes v directly where it can (see
// marshalTyped), else as marshalGeneric does, which defines the output. A
// document holding a string this emitter is not sure how yaml.v2 would
// quote falls back to sigs.k8s.io/yaml.
func Marshal(buf []byte, v any) ([]byte, error) {
	if out, ok := marshalTyped(buf, v); ok {
		return out, nil
	}
	return marshalGeneric(buf, v)
}

// marshalGeneric is Marshal through encoding/json: v as JSON, read back as
// a generic document, written as YAML. It is the typed path's oracle in
// the tests, and its fallback.
func marshalGeneric(buf []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	m, ok := doc.(map[string]any)
	if !ok || !plainDocument(doc) {
		return fallbackYAML(buf, v)
	}
	if len(m) == 0 {
		return append(buf, "{}\n"...), nil
	}
	return emitMap(buf, m, 0), nil
}

func fallbackYAML(buf []byte, v any) ([]byte, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	if err := readsBack(b, v); err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// readsBack fails unless b, v as the library wrote it, reads back as v:
// yaml.v2 writes some strings in a form that YAML reads as another (a
// U+0085 line break in a quoted string folds into a space), and a manifest
// must not change a value on its way.
func readsBack(b []byte, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	back, err := yaml.YAMLToJSON(b)
	if err != nil {
		return fmt.Errorf("the YAML written does not read back: %w", err)
	}
	var want, got any
	if err := json.Unmarshal(j, &want); err != nil {
		return err
	}
	if err := json.Unmarshal(back, &got); err != nil {
		return err
	}
	if !reflect.DeepEqual(want, got) {
		return errors.New("a value does not survive YAML: it reads back as another (a line break such as U+0085 in a string)")
	}
	return nil
}

// maxSimpleKey is the longest key yaml.v2 writes as "key: value"; a longer
// one it writes as "? key" and ": value" on lines of their own.
const maxSimpleKey = 128

// plainDocument reports whether every key and string of doc is one whose
// YAML form this emitter knows exactly.
func plainDocument(doc any) bool {
	switch x := doc.(type) {
	case map[string]any:
		for k, v := range x {
			if len(k) > maxSimpleKey || scalarStyle(k) == styleUnknown || !plainDocument(v) {
				return false
			}
		}
	case []any:
		for _, v := range x {
			if !plainDocument(v) {
				return false
			}
		}
	case string:
		return scalarStyle(x) != styleUnknown
	case json.Number:
		return canonicalInt(x)
	}
	return true
}

// canonicalInt reports whether n is an integer yaml.v2 reads and writes
// back as the same digits: no fraction, exponent, sign of zero, leading
// zero, nor more than 64 bits (a float to yaml.v2).
func canonicalInt(n json.Number) bool {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return strconv.FormatInt(i, 10) == string(n)
	}
	u, err := strconv.ParseUint(string(n), 10, 64)
	return err == nil && strconv.FormatUint(u, 10) == string(n)
}

type style int

const (
	styleUnknown style = iota
	stylePlain
	styleDoubleQuoted
)

// yaml11Words are plain scalars that YAML 1.1, as yaml.v2 resolves it,
// reads as booleans or null: yaml.v2 double-quotes strings spelled so.
var yaml11Words = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range []string{"y", "yes", "n", "no", "true", "false", "on", "off", "null"} {
		for _, v := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:1]) + w[1:]} {
			m[v] = true
		}
	}
	return m
}()

// scalarStyle decides how yaml.v2 writes s, for the strings whose rule is
// simple: letters, digits and . _ / : = - starting with a letter, and IPv4
// addresses. Anything else is styleUnknown.
func scalarStyle(s string) style {
	if s == "" {
		return styleUnknown
	}
	if s[0] >= '0' && s[0] <= '9' {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return stylePlain // not a number, float or timestamp to YAML 1.1
		}
		return styleUnknown
	}
	if !isASCIILetter(s[0]) {
		return styleUnknown
	}
	for i := range len(s) {
		c := s[i]
		if !isASCIILetter(c) && !(c >= '0' && c <= '9') && !strings.ContainsRune("._/:=-", rune(c)) {
			return styleUnknown
		}
	}
	if strings.HasSuffix(s, ":") {
		return styleUnknown
	}
	if yaml11Words[s] {
		return styleDoubleQuoted
	}
	return stylePlain
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func emitScalar(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...)
	case bool:
		if x {
			return append(buf, "true"...)
		}
		return append(buf, "false"...)
	case json.Number:
		return append(buf, x...)
	case string:
		if scalarStyle(x) == styleDoubleQuoted {
			return append(append(append(buf, '"'), x...), '"')
		}
		return append(buf, x...)
	}
	return buf
}

func indent(buf []byte, n int) []byte {
	for range n {
		buf = append(buf, ' ')
	}
	return buf
}

// emitMap writes a non-empty mapping at the given indentation, keys in
// yaml.v2's order. Lists under a key are not indented further, as yaml.v2
// writes them.
func emitMap(buf []byte, m map[string]any, ind int) []byte {
	keys := sortedYAMLKeys(m)
	for _, k := range keys {
		buf = emitScalar(indent(buf, ind), k)
		buf = append(buf, ':')
		buf = emitValue(buf, m[k], ind)
	}
	return buf
}

// emitValue writes what follows "key:" or "- ".
func emitValue(buf []byte, v any, ind int) []byte {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return append(buf, " {}\n"...)
		}
		return emitMap(append(buf, '\n'), x, ind+2)
	case []any:
		if len(x) == 0 {
			return append(buf, " []\n"...)
		}
		return emitList(append(buf, '\n'), x, ind)
	default:
		return append(emitScalar(append(buf, ' '), v), '\n')
	}
}

// emitList writes a non-empty sequence at the given indentation.
func emitList(buf []byte, l []any, ind int) []byte {
	for _, v := range l {
		buf = emitItem(append(indent(buf, ind), '-'), v, ind)
	}
	return buf
}

// emitItem writes what follows the dash of an item at indentation ind: an
// item that is a mapping starts on the dash's line.
func emitItem(buf []byte, v any, ind int) []byte {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return append(buf, " {}\n"...)
		}
		// The first key goes right after "- ", the rest below it.
		return emitFirstKeyMap(append(buf, ' '), x, ind+2)
	case []any:
		if len(x) == 0 {
			return append(buf, " []\n"...)
		}
		return emitList(append(buf, '\n'), x, ind+2)
	default:
		return append(emitScalar(append(buf, ' '), v), '\n')
	}
}

func emitFirstKeyMap(buf []byte, m map[string]any, ind int) []byte {
	keys := sortedYAMLKeys(m)
	for i, k := range keys {
		if i > 0 {
			buf = indent(buf, ind)
		}
		buf = emitScalar(buf, k)
		buf = append(buf, ':')
		buf = emitValue(buf, m[k], ind)
	}
	return buf
}

// sortedYAMLKeys returns m's keys in yaml.v2's order. That order is not a
// strict weak ordering for some keys mixing digits and punctuation, so
// yaml.v2's own output can depend on Go's random map order; sorting bytewise
// first, then stably, makes this one deterministic all the same.
func sortedYAMLKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.SortStableFunc(keys, yamlKeyCompare)
	return keys
}

// yamlKeyCompare orders mapping keys as yaml.v2 does: character by
// character, letters after other characters, and runs of digits by their
// value.
func yamlKeyCompare(a, b string) int {
	// Decoded into buffers on the stack: []rune(k) is on the heap for keys
	// of over 32 characters, and labels' keys often are.
	var abuf, bbuf [64]rune
	ar, br := appendRunes(abuf[:0], a), appendRunes(bbuf[:0], b)
	if yamlKeyLess(ar, br) {
		return -1
	}
	if yamlKeyLess(br, ar) {
		return 1
	}
	return 0
}

// appendRunes appends s's runes to buf, as []rune(s) converts them.
func appendRunes(buf []rune, s string) []rune {
	for _, r := range s {
		buf = append(buf, r)
	}
	return buf
}

func yamlKeyLess(ar, br []rune) bool {
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al, bl := unicode.IsLetter(ar[i]), unicode.IsLetter(br[i])
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(ar[j]); j-- {
				if ar[j] != '0' {
					an, bn = 1, 1
					break
				}
			}
		}
		ai, bi := i, i
		for ; ai < len(ar) && unicode.IsDigit(ar[ai]); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for ; bi < len(br) && unicode.IsDigit(br[bi]); bi++ {
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
