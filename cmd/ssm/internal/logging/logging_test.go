package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLogHandler: durations are duration strings in JSON too (issue 23:
// "retryIn":1000000000), and every URL in a message, a string or an error
// is redacted whoever logs it.
func TestLogHandler(t *testing.T) {
	secretURL := "https://admin:PW-1@127.0.0.1:6443/?token=QS-1"
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		h, err := NewHandler(&buf, format, slog.LevelInfo)
		if err != nil {
			t.Fatal(err)
		}
		slog.New(h).Error("sync failed; retrying "+secretURL, "retryIn", time.Second, "took", 1500*time.Millisecond,
			"err", fmt.Errorf("push: %w", errors.New(`Get "`+secretURL+`": EOF`)), "remote", secretURL, "n", 3)
		out := buf.String()
		for _, s := range []string{"admin", "PW-1", "QS-1"} {
			if strings.Contains(out, s) {
				t.Errorf("%s: %q shows %s", format, out, s)
			}
		}
		want := map[string][]string{
			"text": {"retryIn=1s", "took=1.5s", `remote="https://xxxxx@127.0.0.1:6443/?token=xxxxx"`, "n=3"},
			"json": {`"retryIn":"1s"`, `"took":"1.5s"`, `"remote":"https://xxxxx@127.0.0.1:6443/?token=xxxxx"`, `"n":3`},
		}[format]
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q lacks %s", format, out, w)
			}
		}
	}
}

// TestLogHandlerFormat: a format but text and json is refused, naming the
// flag; the level given is kept.
func TestLogHandlerFormat(t *testing.T) {
	if _, err := NewHandler(&bytes.Buffer{}, "yaml", slog.LevelInfo); err == nil || err.Error() != `--log-format "yaml": want text or json` {
		t.Errorf("err = %v", err)
	}
	var buf bytes.Buffer
	h, err := NewHandler(&buf, "text", slog.LevelWarn)
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Info("hidden")
	slog.New(h).Warn("shown", "path", "/etc/ssm/config.yaml")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `level=WARN msg=shown path=/etc/ssm/config.yaml`) {
		t.Errorf("at warn level: %q", out)
	}
}
