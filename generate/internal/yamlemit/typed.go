package yamlemit

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
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
