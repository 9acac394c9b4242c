package redact

import "testing"

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "plain text: 3 of 4 (ok) – ünïcode ✓", want: "plain text: 3 of 4 (ok) – ünïcode ✓"},
		{in: "web\x1b[2K\rlevel=INFO msg=forged\n", want: `web\x1b[2K\rlevel=INFO msg=forged\n`},
		{in: "tab\there", want: `tab\there`},
		{in: "bidi \u202eevil", want: `bidi \u202eevil`},
		{in: "bad \xff utf-8", want: `bad \xff utf-8`},
		{in: "del \x7f c1 \u0085", want: `del \x7f c1 \u0085`},
		{in: `back\slash "quoted"`, want: `back\slash "quoted"`},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
