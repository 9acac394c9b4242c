package yamlemit

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// The typed path writes a Go value straight to YAML, walking it with
// reflect as encoding/json would, without the JSON text and the
// map[string]any that the generic path (marshalGeneric) builds of every
// document: at 10,000 mirrors that is 300 MB of garbage for a full render.
// It writes exactly what the generic path writes, and gives up (false)
// wherever it is not sure to: a string whose YAML form it does not know, a
// float, []byte, json.Number, a field tagged ",string", field names that
// collide, a document nested deeper than maxDepth. Marshal then takes the
// generic path, which remains the definition of the output: the tests
// compare the two on every kind of document ssm renders, and fuzz them.

// position is where a value is written: after "key:", after "- ", or as
// the document.
type position uint8

const (
	posValue position = iota
	posItem
	posTop
)

// maxDepth bounds the nesting the typed path follows; deeper documents
// (or cyclic ones, which encoding/json refuses) take the generic path.
const maxDepth = 100

// typedState is one document being written.
type typedState struct {
	buf   []byte
	depth int
	keys  []string // scratch for a map's keys
}

// encoder writes v at pos, the key or dash before it at indentation ind;
// false means the typed path cannot write this document.
type encoder func(s *typedState, v reflect.Value, pos position, ind int) bool

// marshalTyped appends v to buf as the generic path would, or reports
// false, leaving buf's contents beyond len(buf) undefined.
func marshalTyped(buf []byte, v any) ([]byte, bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return buf, false
	}
	s := statePool.Get().(*typedState)
	s.buf, s.depth = buf, 0
	ok := typeEncoder(rv.Type())(s, rv, posTop, 0)
	out := s.buf
	s.buf = nil
	clear(s.keys[:cap(s.keys)]) // no reference kept to the document's strings
	s.keys = s.keys[:0]
	statePool.Put(s)
	if !ok {
		return buf, false
	}
	return out, true
}

// statePool keeps the states, and their scratch for keys, of documents
// written: a render writes tens of thousands.
var statePool = sync.Pool{New: func() any { return new(typedState) }}

var encoderCache sync.Map // reflect.Type → encoder

// typeEncoder returns t's encoder, built once. A recursive type finds its
// own encoder through the indirection stored while it is built.
func typeEncoder(t reflect.Type) encoder {
	if e, ok := encoderCache.Load(t); ok {
		return e.(encoder)
	}
	build := sync.OnceValue(func() encoder { return newTypeEncoder(t, true) })
	e, loaded := encoderCache.LoadOrStore(t, encoder(func(s *typedState, v reflect.Value, pos position, ind int) bool {
		return build()(s, v, pos, ind)
	}))
	if loaded {
		return e.(encoder)
	}
	f := build()
	encoderCache.Store(t, f)
	return f
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	numberType        = reflect.TypeFor[json.Number]()
)

// newTypeEncoder chooses as encoding/json's newTypeEncoder does: a
// MarshalJSON or MarshalText method wins, on the value or, where the
// value is addressable, its pointer.
func newTypeEncoder(t reflect.Type, allowAddr bool) encoder {
	if t.Kind() != reflect.Pointer && allowAddr && reflect.PointerTo(t).Implements(marshalerType) {
		return condAddr(addrMarshalerEncoder, newTypeEncoder(t, false))
	}
	if t.Implements(marshalerType) {
		return marshalerEncoder
	}
	if t.Kind() != reflect.Pointer && allowAddr && reflect.PointerTo(t).Implements(textMarshalerType) {
		return condAddr(addrTextMarshalerEncoder, newTypeEncoder(t, false))
	}
	if t.Implements(textMarshalerType) {
		return textMarshalerEncoder
	}
	switch t.Kind() {
	case reflect.Bool:
		return boolEncoder
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intEncoder
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintEncoder
	case reflect.String:
		if t == numberType {
			return unsupported
		}
		return stringEncoder
	case reflect.Interface:
		return interfaceEncoder
	case reflect.Struct:
		return newStructEncoder(t)
	case reflect.Map:
		return newMapEncoder(t)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // base64, or a marshaler's bytes
			return unsupported
		}
		return newListEncoder(t)
	case reflect.Array:
		return newListEncoder(t)
	case reflect.Pointer:
		return newPointerEncoder(t)
	}
	return unsupported // floats, complex numbers, channels, functions
}

func unsupported(*typedState, reflect.Value, position, int) bool { return false }

func condAddr(addr, other encoder) encoder {
	return func(s *typedState, v reflect.Value, pos position, ind int) bool {
		if v.CanAddr() {
			return addr(s, v, pos, ind)
		}
		return other(s, v, pos, ind)
	}
}

// scalar writes text, a scalar already in its YAML form, at pos.
func (s *typedState) scalar(pos position, text string) bool {
	if pos == posTop {
		return false // the generic path hands such documents to the library
	}
	s.buf = append(append(append(s.buf, ' '), text...), '\n')
	return true
}

func (s *typedState) null(pos position) bool { return s.scalar(pos, "null") }

func boolEncoder(s *typedState, v reflect.Value, pos position, _ int) bool {
	if v.Bool() {
		return s.scalar(pos, "true")
	}
	return s.scalar(pos, "false")
}

func intEncoder(s *typedState, v reflect.Value, pos position, _ int) bool {
	if pos == posTop {
		return false
	}
	s.buf = append(strconv.AppendInt(append(s.buf, ' '), v.Int(), 10), '\n')
	return true
}

func uintEncoder(s *typedState, v reflect.Value, pos position, _ int) bool {
	if pos == posTop {
		return false
	}
	s.buf = append(strconv.AppendUint(append(s.buf, ' '), v.Uint(), 10), '\n')
	return true
}

func stringEncoder(s *typedState, v reflect.Value, pos position, _ int) bool {
	return s.str(pos, v.String())
}

// str writes a string scalar, if its YAML form is one this package knows.
func (s *typedState) str(pos position, x string) bool {
	switch scalarStyle(x) {
	case stylePlain:
		return s.scalar(pos, x)
	case styleDoubleQuoted:
		if pos == posTop {
			return false
		}
		s.buf = append(append(append(s.buf, ` "`...), x...), "\"\n"...)
		return true
	}
	return false
}

func interfaceEncoder(s *typedState, v reflect.Value, pos position, ind int) bool {
	if v.IsNil() {
		return s.null(pos)
	}
	e := v.Elem()
	return s.nested(typeEncoder(e.Type()), e, pos, ind)
}

// nested writes v with e one level deeper, within maxDepth.
func (s *typedState) nested(e encoder, v reflect.Value, pos position, ind int) bool {
	if s.depth >= maxDepth {
		return false
	}
	s.depth++
	ok := e(s, v, pos, ind)
	s.depth--
	return ok
}

func newPointerEncoder(t reflect.Type) encoder {
	elem := typeEncoder(t.Elem())
	return func(s *typedState, v reflect.Value, pos position, ind int) bool {
		if v.IsNil() {
			return s.null(pos)
		}
		return s.nested(elem, v.Elem(), pos, ind)
	}
}

// marshalerEncoder writes what MarshalJSON returns, read as the generic
// path reads a whole document.
func marshalerEncoder(s *typedState, v reflect.Value, pos position, ind int) bool {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return s.null(pos)
	}
	m, ok := reflect.TypeAssert[json.Marshaler](v)
	if !ok {
		return s.null(pos)
	}
	return s.marshaled(m, pos, ind)
}

func addrMarshalerEncoder(s *typedState, v reflect.Value, pos position, ind int) bool {
	m, _ := reflect.TypeAssert[json.Marshaler](v.Addr())
	return s.marshaled(m, pos, ind)
}

func (s *typedState) marshaled(m json.Marshaler, pos position, ind int) bool {
	j, err := m.MarshalJSON()
	if err != nil || !json.Valid(j) {
		return false // the generic path returns encoding/json's error
	}
	if doc, ok := jsonScalar(j); ok {
		if !plainDocument(doc) {
			return false
		}
		return s.generic(doc, pos, ind)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil || dec.More() || !plainDocument(doc) {
		return false
	}
	return s.generic(doc, pos, ind)
}

// generic writes a decoded JSON value as the generic path does.
func (s *typedState) generic(doc any, pos position, ind int) bool {
	switch pos {
	case posValue:
		s.buf = emitValue(s.buf, doc, ind)
	case posItem:
		s.buf = emitItem(s.buf, doc, ind)
	default:
		m, ok := doc.(map[string]any)
		if !ok {
			return false
		}
		if len(m) == 0 {
			s.buf = append(s.buf, "{}\n"...)
		} else {
			s.buf = emitMap(s.buf, m, 0)
		}
	}
	return true
}

// jsonScalar reads valid JSON that is a number or a string without
// escapes (intstr.IntOrString's, say) as the generic path would, without a
// Decoder: numbers as json.Number, strings as they are.
func jsonScalar(j []byte) (any, bool) {
	j = bytes.Trim(j, " \t\r\n")
	switch {
	case len(j) == 0:
		return nil, false
	case j[0] == '-' || j[0] >= '0' && j[0] <= '9':
		return json.Number(j), true
	case j[0] == '"' && bytes.IndexByte(j, '\\') < 0:
		return string(j[1 : len(j)-1]), true
	}
	return nil, false
}

func textMarshalerEncoder(s *typedState, v reflect.Value, pos position, _ int) bool {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return s.null(pos)
	}
	m, ok := reflect.TypeAssert[encoding.TextMarshaler](v)
	if !ok {
		return s.null(pos)
	}
	return s.text(m, pos)
}

func addrTextMarshalerEncoder(s *typedState, v reflect.Value, pos position, _ int) bool {
	m, _ := reflect.TypeAssert[encoding.TextMarshaler](v.Addr())
	return s.text(m, pos)
}

func (s *typedState) text(m encoding.TextMarshaler, pos position) bool {
	b, err := m.MarshalText()
	return err == nil && s.str(pos, string(b))
}

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
