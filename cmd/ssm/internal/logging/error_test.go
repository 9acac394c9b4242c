package logging

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hintErr is an error with advice, as completion.UnknownCommand's.
type hintErr struct{ msg, hint string }

func (e hintErr) Error() string { return e.msg }
func (e hintErr) Hint() string  { return e.hint }

// TestPrintErrorText: the error that ends a command, as a user reads it on
// standard error: one "ssm: " line per error joined at the top (nested
// joins too), a remote's newline or escape sequence unable to forge a line
// or move the cursor, URLs redacted, a hint below on lines of its own.
func TestPrintErrorText(t *testing.T) {
	t.Parallel()
	secret := "https://admin:PW-1@git.example/repo.git?token=QS-1"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{name: "one", err: errors.New("render: no cluster"), want: "ssm: render: no cluster\n"},
		{name: "joined", err: errors.Join(errors.New("east: forbidden"), errors.Join(errors.New("west: timeout"), errors.New("local: refused"))),
			want: "ssm: east: forbidden\nssm: west: timeout\nssm: local: refused\n"},
		{name: "wrapped join is one error", err: fmt.Errorf("read: %w", errors.Join(errors.New("a"), errors.New("b"))),
			want: "ssm: read: a\\nb\n"},
		{name: "hostile name", err: fmt.Errorf("service %q: bad port", "web\n\x1b[2Jssm: all good"),
			want: "ssm: service \"web\\n\\x1b[2Jssm: all good\": bad port\n"},
		{name: "url", err: fmt.Errorf("push: %w", fmt.Errorf("Post %q: %w", secret, errors.New("EOF"))), want: "ssm: push: Post \"https://xxxxx@git.example/repo.git?token=xxxxx\": EOF\n"},
		{name: "hint", err: fmt.Errorf("args: %w", hintErr{`unknown command "rendr" for "ssm"`, "Did you mean this?\n\trender"}),
			want: "ssm: args: unknown command \"rendr\" for \"ssm\"\n\nDid you mean this?\n\trender\n"},
	} {
		var b strings.Builder
		PrintError(&b, tc.err, 1, false)
		if diff := cmp.Diff(tc.want, b.String()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestPrintErrorJSON: with JSON logs the error is one more record, its
// exit status and hint as keys, URLs redacted.
func TestPrintErrorJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code int
		want map[string]any
	}{
		{name: "plain", err: errors.New("push to https://u:PW-1@git.example/r.git: rejected"), code: 1,
			want: map[string]any{"level": "ERROR", "msg": "ssm failed", "err": "push to https://xxxxx@git.example/r.git: rejected", "exitStatus": 1.0}},
		{name: "hint", err: hintErr{"unknown command", "Did you mean this?\n\trender"}, code: 2,
			want: map[string]any{"level": "ERROR", "msg": "ssm failed", "err": "unknown command", "exitStatus": 2.0, "hint": "Did you mean this?\n\trender"}},
	} {
		var b strings.Builder
		PrintError(&b, tc.err, tc.code, true)
		if strings.Count(b.String(), "\n") != 1 {
			t.Errorf("%s: not one record:\n%s", tc.name, b.String())
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
			t.Fatalf("%s: %v: %s", tc.name, err, b.String())
		}
		delete(got, "time")
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
