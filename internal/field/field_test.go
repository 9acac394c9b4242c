package field

import (
	"errors"
	"fmt"
	"testing"
)

func TestRenamed(t *testing.T) {
	flags := func(f string) string {
		return map[string]string{"MirrorNamespace": "--mirror-ns", "ServicePrefix": "--svc-prefix"}[f]
	}
	tests := []struct {
		err            *Error
		plain, flagged string
	}{
		{err: Invalid("MirrorNamespace", "mirror namespace", `"a.b"`, "no dots"),
			plain: `mirror namespace "a.b": no dots`, flagged: `--mirror-ns "a.b": no dots`},
		{err: &Error{Fields: []Field{{Go: "ServicePrefix", Name: "service prefix"}, {Go: "MirrorNamespace", Name: "mirror namespace"}}, Text: " are for endpoints mode"},
			plain: "service prefix and mirror namespace are for endpoints mode", flagged: "--svc-prefix and --mirror-ns are for endpoints mode"},
		{err: Invalid("Domain", "domain", `"x"`, "bad"), plain: `domain "x": bad`, flagged: `domain "x": bad`}, // no flag: as it is
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.plain {
			t.Errorf("Error() = %q, want %q", got, tt.plain)
		}
		if got := tt.err.Renamed(flags); got != tt.flagged {
			t.Errorf("Renamed = %q, want %q", got, tt.flagged)
		}
	}
}

// TestRename: only an *Error itself is renamed; wrapped, it speaks of where
// its wrapper says the value came from, and stays as it is.
func TestRename(t *testing.T) {
	names := map[string]string{"MirrorNamespace": "--mirror-ns"}
	err := Invalid("MirrorNamespace", "mirror namespace", `"a.b"`, "no dots")
	got := Rename(err, names)
	if got.Error() != `--mirror-ns "a.b": no dots` || !errors.Is(got, err) {
		t.Errorf("Rename = %v (wrapping it: %v)", got, errors.Is(got, err))
	}
	wrapped := fmt.Errorf("config c.yaml: %w", err)
	if got := Rename(wrapped, names); got != wrapped {
		t.Errorf("Rename of a wrapped error = %v", got)
	}
	other := errors.New("other")
	if got := Rename(other, names); got != other {
		t.Errorf("Rename of another error = %v", got)
	}
}
