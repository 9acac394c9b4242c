package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ssm-dev/ssm/internal/redact"
)

// newHandler is the log handler of the process: text or JSON on w. slog
// quotes a value holding a control character; replaceAttr redacts and
// writes durations as people read them.
func newHandler(w io.Writer, format string, level slog.Leveler) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr}
	switch format {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// replaceAttr has the last word on every attribute logged, by ssm or by
// client-go through klog: a duration is a Go duration string ("1.5s"; JSON
// would give 1500000000), and every URL in the message, a string or an
// error is redacted, whoever forgot to.
func replaceAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.String(a.Key, a.Value.Duration().String())
	case slog.KindString:
		if s := a.Value.String(); strings.Contains(s, "://") {
			return slog.String(a.Key, redact.Text(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, redact.Text(err.Error()))
		}
	}
	return a
}

// printError writes the error that ends the command as the last line of
// its output: a log record with JSON logs; else "ssm: …" lines, one per
// error joined at the top, each on one line whatever the remote put in a
// name (escape), with its URLs redacted.
func printError(w io.Writer, err error, code int, json bool) {
	if json {
		h, _ := newHandler(w, "json", slog.LevelInfo)
		slog.New(h).Error("ssm failed", "err", err, "exitStatus", code)
		return
	}
	for _, e := range joined(err) {
		fmt.Fprintf(w, "ssm: %s\n", redact.Escape(redact.Text(e.Error())))
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
