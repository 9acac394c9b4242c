package yamlemit

import (
	"reflect"
	"slices"
	"strings"
	"unicode"
)

// How the typed path writes mappings (maps and structs) and sequences.

// A mapping's keys are written at keyIndent(pos, ind), their values after
// them at that indentation; a sequence's dashes at listIndent(pos, ind).
func keyIndent(pos position, ind int) int {
	if pos == posTop {
		return 0
	}
	return ind + 2
}

func listIndent(pos position, ind int) int {
	if pos == posItem {
		return ind + 2
	}
	return ind
}

// key writes the key of a mapping's entry, the first one (first) starting
// the mapping at pos.
func (s *typedState) key(pos position, ind int, first bool, key string) {
	switch {
	case first && pos == posValue:
		s.buf = indent(append(s.buf, '\n'), ind+2)
	case first && pos == posItem:
		s.buf = append(s.buf, ' ')
	default:
		s.buf = indent(s.buf, keyIndent(pos, ind))
	}
	s.buf = append(append(s.buf, key...), ':')
}

// emptyMap ends a mapping at pos that had no entries.
func (s *typedState) emptyMap(pos position) {
	if pos == posTop {
		s.buf = append(s.buf, "{}\n"...)
	} else {
		s.buf = append(s.buf, " {}\n"...)
	}
}

func newListEncoder(t reflect.Type) encoder {
	elem := typeEncoder(t.Elem())
	isSlice := t.Kind() == reflect.Slice
	return func(s *typedState, v reflect.Value, pos position, ind int) bool {
		if isSlice && v.IsNil() {
			return s.null(pos)
		}
		if pos == posTop {
			return false
		}
		n := v.Len()
		if n == 0 {
			s.buf = append(s.buf, " []\n"...)
			return true
		}
		s.buf = append(s.buf, '\n')
		li := listIndent(pos, ind)
		for i := range n {
			s.buf = append(indent(s.buf, li), '-')
			if !s.nested(elem, v.Index(i), posItem, li) {
				return false
			}
		}
		return true
	}
}

var stringMapType = reflect.TypeFor[map[string]string]()

func newMapEncoder(t reflect.Type) encoder {
	if t.Key().Kind() != reflect.String {
		return unsupported // encoding/json's keys of numbers and TextMarshalers
	}
	elem := typeEncoder(t.Elem())
	return func(s *typedState, v reflect.Value, pos position, ind int) bool {
		if v.IsNil() {
			return s.null(pos)
		}
		if v.Len() == 0 {
			s.emptyMap(pos)
			return true
		}
		if t == stringMapType { // labels and annotations: no reflect
			m, _ := reflect.TypeAssert[map[string]string](v)
			return s.stringMap(m, pos, ind)
		}
		type entry struct {
			key string
			val reflect.Value
		}
		entries := make([]entry, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			k := it.Key().String()
			if !plainKey(k) {
				return false
			}
			entries = append(entries, entry{k, it.Value()})
		}
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
		slices.SortStableFunc(entries, func(a, b entry) int { return yamlKeyCompare(a.key, b.key) })
		for i, e := range entries {
			s.key(pos, ind, i == 0, keyText(e.key))
			if !s.nested(elem, e.val, posValue, keyIndent(pos, ind)) {
				return false
			}
		}
		return true
	}
}

// stringMap writes a non-empty map[string]string, keys in yaml.v2's order.
func (s *typedState) stringMap(m map[string]string, pos position, ind int) bool {
	keys := s.keys[:0]
	for k := range m {
		if !plainKey(k) {
			return false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.SortStableFunc(keys, yamlKeyCompare)
	s.keys = keys
	for i, k := range keys {
		s.key(pos, ind, i == 0, keyText(k))
		if !s.str(posValue, m[k]) {
			return false
		}
	}
	return true
}

// plainKey reports whether k is a mapping key whose YAML form this package
// knows (as plainDocument does).
func plainKey(k string) bool {
	return len(k) <= maxSimpleKey && scalarStyle(k) != styleUnknown
}

// keyText is a plain key as it is written.
func keyText(k string) string {
	if yaml11Words[k] {
		return `"` + k + `"`
	}
	return k
}

// structField is a field as encoding/json writes it.
type structField struct {
	name     string
	key      string // name as written
	index    []int
	enc      encoder
	omitEmpt bool
	omitZero bool
	isZero   func(reflect.Value) bool
}

// newStructEncoder writes a struct as the mapping encoding/json makes of
// it, its fields in yaml.v2's order of their names, computed once.
func newStructEncoder(t reflect.Type) encoder {
	fields, ok := structFields(t)
	if !ok {
		return unsupported
	}
	return func(s *typedState, v reflect.Value, pos position, ind int) bool {
		n := 0
	fields:
		for i := range fields {
			f := &fields[i]
			fv := v
			for _, x := range f.index {
				if fv.Kind() == reflect.Pointer {
					if fv.IsNil() {
						continue fields
					}
					fv = fv.Elem()
				}
				fv = fv.Field(x)
			}
			if f.omitEmpt && isEmptyValue(fv) || f.omitZero && (f.isZero == nil && fv.IsZero() || f.isZero != nil && f.isZero(fv)) {
				continue
			}
			s.key(pos, ind, n == 0, f.key)
			n++
			if !s.nested(f.enc, fv, posValue, keyIndent(pos, ind)) {
				return false
			}
		}
		if n == 0 {
			s.emptyMap(pos)
		}
		return true
	}
}

// structFields lists t's fields as encoding/json's typeFields finds them,
// in yaml.v2's order of their names; false for what the typed path leaves
// to the generic one: two fields of one name (encoding/json's dominance
// rules), the ",string" option, a name whose YAML form is not known, or
// names yaml.v2's comparison does not order strictly.
func structFields(t reflect.Type) ([]structField, bool) {
	var fields []structField
	if !collectFields(t, nil, &fields, 0) {
		return nil, false
	}
	slices.SortFunc(fields, func(a, b structField) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(fields); i++ {
		if fields[i].name == fields[i-1].name {
			return nil, false
		}
	}
	slices.SortStableFunc(fields, func(a, b structField) int { return yamlKeyCompare(a.name, b.name) })
	// A subset of the fields must sort as the whole does: every pair in
	// this order must be strictly ordered by the comparison.
	for i := range fields {
		for j := i + 1; j < len(fields); j++ {
			if yamlKeyCompare(fields[i].name, fields[j].name) >= 0 || yamlKeyCompare(fields[j].name, fields[i].name) <= 0 {
				return nil, false
			}
		}
	}
	for i := range fields {
		f := &fields[i]
		if !plainKey(f.name) {
			return nil, false
		}
		f.key = keyText(f.name)
		f.enc = typeEncoder(typeByIndex(t, f.index))
	}
	return fields, true
}

// collectFields adds t's fields, embedded structs' promoted, as
// encoding/json's typeFields does (index is the path to t).
func collectFields(t reflect.Type, index []int, out *[]structField, depth int) bool {
	if depth > maxDepth {
		return false
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if !sf.IsExported() && et.Kind() != reflect.Struct {
				continue
			}
		} else if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !isValidTag(name) {
			name = ""
		}
		idx := append(slices.Clone(index), i)
		ft := sf.Type
		if ft.Name() == "" && ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if hasOption(opts, "string") {
			return false
		}
		if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
			if !collectFields(ft, idx, out, depth+1) {
				return false
			}
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f := structField{name: name, index: idx, omitEmpt: hasOption(opts, "omitempty"), omitZero: hasOption(opts, "omitzero")}
		if f.omitZero {
			f.isZero = zeroCheck(sf.Type)
		}
		*out = append(*out, f)
	}
	return true
}

type isZeroer interface{ IsZero() bool }

var isZeroerType = reflect.TypeFor[isZeroer]()

// zeroCheck is encoding/json's test of an omitzero field of type t: its
// IsZero method where it has one; nil means reflect's IsZero.
func zeroCheck(t reflect.Type) func(reflect.Value) bool {
	switch {
	case t.Kind() == reflect.Interface && t.Implements(isZeroerType):
		return func(v reflect.Value) bool {
			return v.IsNil() || (v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil()) || v.Interface().(isZeroer).IsZero()
		}
	case t.Kind() == reflect.Pointer && t.Implements(isZeroerType):
		return func(v reflect.Value) bool { return v.IsNil() || v.Interface().(isZeroer).IsZero() }
	case t.Implements(isZeroerType):
		return func(v reflect.Value) bool { return v.Interface().(isZeroer).IsZero() }
	case reflect.PointerTo(t).Implements(isZeroerType):
		return func(v reflect.Value) bool {
			if !v.CanAddr() {
				v2 := reflect.New(v.Type()).Elem()
				v2.Set(v)
				v = v2
			}
			return v.Addr().Interface().(isZeroer).IsZero()
		}
	}
	return nil
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

func hasOption(opts, name string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == name {
			return true
		}
	}
	return false
}

// isValidTag is encoding/json's test of a field name given in a tag.
func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

func typeByIndex(t reflect.Type, index []int) reflect.Type {
	for _, i := range index {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		t = t.Field(i).Type
	}
	return t
}
