// Package logging makes the log handler of ssm's process: text or JSON,
// every URL redacted, durations as people read them. It imports
// internal/redact only.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ssm-dev/ssm/internal/redact"
)

// NewHandler is the log handler of the process: text or JSON on w. slog
// quotes a value holding a control character; replaceAttr redacts and
// writes durations as people read them.
func NewHandler(w io.Writer, format string, level slog.Leveler) (slog.Handler, error) {
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
