package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/ssm-dev/ssm/internal/redact"
)

// hinted is an error with advice for its reader, in ssm's own words.
type hinted interface {
	error
	Hint() string
}

// PrintError writes the error that ends the command as the last line of
// its output: a log record with JSON logs; else "ssm: …" lines, one per
// error joined at the top, each on one line whatever the remote put in a
// name (escape), with its URLs redacted. An error with a Hint (Did you
// mean this?) has it printed below, or as the record's hint.
func PrintError(w io.Writer, err error, code int, json bool) {
	hint, _ := errors.AsType[hinted](err)
	if json {
		h, _ := NewHandler(w, "json", slog.LevelInfo)
		attrs := []any{"err", err, "exitStatus", code}
		if hint != nil {
			attrs = append(attrs, "hint", hint.Hint())
		}
		slog.New(h).Error("ssm failed", attrs...)
		return
	}
	for _, e := range joined(err) {
		fmt.Fprintf(w, "ssm: %s\n", redact.Escape(redact.Text(e.Error())))
	}
	if hint != nil { // ssm's own words, on lines of their own as kubectl prints them
		fmt.Fprintf(w, "\n%s\n", hint.Hint())
	}
}

// joined returns the errors err joins at its top (errors.Join), else err.
func joined(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, joined(e)...)
	}
	return out
}
