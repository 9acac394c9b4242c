package source

import (
	"errors"
	"regexp"
	"strings"
)

var (
	// What Kubernetes' JSON decoder says of a value of the wrong kind, in
	// Go's words: "json: cannot unmarshal string into Go struct field
	// ServiceSpec.spec.ports of type []v1.ServicePort".
	wrongKind = regexp.MustCompile(`json: cannot unmarshal (\w+) into Go (?:struct field \w+\.(\S+)|value) of type (.+)$`)
	// What the YAML reader prefixes to its own "yaml: line 3: …".
	yamlToJSON = "error converting YAML to JSON: "
)

// readable says what a snapshot document holds wrong in the words of its
// YAML or JSON, not of Go: "spec.ports: want a list, got a string". It
// returns other errors as they are.
func readable(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, yamlToJSON); i >= 0 {
		return errors.New(msg[i+len(yamlToJSON):])
	}
	if strings.HasPrefix(msg, "Object 'Kind' is missing") { // apimachinery's words, quoting the whole document
		return errors.New("kind is missing: want a Kubernetes object (with apiVersion and kind)")
	}
	m := wrongKind.FindStringSubmatch(msg)
	if m == nil {
		return err
	}
	got, path, want := m[1], m[2], kindOf(m[3])
	if strings.HasPrefix(m[3], "struct {") { // the apiVersion and kind every object starts with
		return errors.New("want a Kubernetes object (with apiVersion and kind), got " + article(got))
	}
	if path == "" {
		path = "the document"
	}
	if want == "" {
		return errors.New(path + ": " + article(got) + " is not a valid value here")
	}
	return errors.New(path + ": want " + want + ", got " + article(got))
}

// kindOf names the JSON kind a Go type is read from, "" when its name does
// not tell (a named string or number type such as v1.Protocol).
func kindOf(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct {"):
		return "an object"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	}
	return ""
}

// article gives the JSON kind decoder words name ("string", "number",
// "array", "object", "bool") an article.
func article(kind string) string {
	switch kind {
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a " + kind
}
