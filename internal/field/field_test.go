package field

import "testing"

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
