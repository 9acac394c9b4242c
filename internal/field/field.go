// Package field reports a wrong value by the options field that holds it,
// so that whoever filled the field can name it as its user knows it:
// cmd/ssm names the flag that set it. generate, config and mirror return
// such errors from their Validate methods. It imports no package of this
// module.
package field

import (
	"strings"
)

// Error is a wrong value of one or more fields of an options struct.
type Error struct {
	Fields []Field
	// Text is what follows the fields: ": a lowercase RFC 1123 label must …",
	// or " are for endpoints mode: …".
	Text string
}

// Field is one field at fault.
type Field struct {
	Go    string // its name in Go: "MirrorNamespace"
	Name  string // how the message calls it unless renamed: "mirror namespace"
	Value string // its value as the message shows it (quoted, say); "" for none
}

// Invalid returns the error of one field whose value, shown as value, is
// wrong as detail says.
func Invalid(goName, name, value, detail string) *Error {
	return &Error{Fields: []Field{{Go: goName, Name: name, Value: value}}, Text: ": " + detail}
}

func (e *Error) Error() string { return e.Renamed(nil) }

// Renamed returns the message calling each field name(f.Go), or f.Name
// where name is nil or returns "".
func (e *Error) Renamed(name func(goName string) string) string {
	var b strings.Builder
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString(" and ")
		}
		n := ""
		if name != nil {
			n = name(f.Go)
		}
		if n == "" {
			n = f.Name
		}
		b.WriteString(n)
		if f.Value != "" {
			b.WriteString(" " + f.Value)
		}
	}
	return b.String() + e.Text
}

// Rename returns err with each field named as names says ("MirrorNamespace"
// → "--mirror-ns"), if err is an *Error itself; any other error, an
// *Error wrapped in another included, is returned as it is: the wrapping
// says where the value came from.
func Rename(err error, names map[string]string) error {
	fe, ok := err.(*Error)
	if !ok {
		return err
	}
	return &renamed{msg: fe.Renamed(func(f string) string { return names[f] }), err: fe}
}

// renamed is an *Error with its fields named otherwise.
type renamed struct {
	msg string
	err *Error
}

func (r *renamed) Error() string { return r.msg }
func (r *renamed) Unwrap() error { return r.err }
