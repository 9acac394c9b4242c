package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// hostileSnapshot holds a Service whose name would, printed raw, end the
// line and forge a log line of its own (issue 20).
const hostileSnapshot = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: "web\e[2K\rlevel=INFO msg=forged\nlevel=INFO msg=\"forged too\""
    namespace: shop
    labels: {mirror: "true"}
  spec:
    ports: [{name: http, port: 80, protocol: TCP}]
- apiVersion: v1
  kind: Service
  metadata: {name: ok, namespace: shop, labels: {mirror: "true"}}
  spec:
    ports: [{name: http, port: 80, protocol: TCP}]
`

// TestHostileNameEscaped: render reports the Service as invalid and names
// it in its final error, on one line with the control characters escaped;
// the log lines (slog) quote it. Nothing printed holds an ESC or a line
// that starts with the forged text.
func TestHostileNameEscaped(t *testing.T) {
	snap := writeFile(t, "hostile.yaml", hostileSnapshot)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			code, _, stderr := ssm(t, "", "render", "--from-file", snap, "--label-selector", "mirror=true", "--svc-prefix", "remote",
				"--mirror-ns", "mirrors", "-o", t.TempDir(), "--log-format", format)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d\n%s", code, exitInvalid, stderr)
			}
			if strings.ContainsAny(stderr, "\x1b\r") {
				t.Errorf("raw control characters printed:\n%q", stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			for _, l := range lines {
				if strings.HasPrefix(l, "level=INFO msg=forged") || strings.HasPrefix(l, "level=INFO msg=\"forged") {
					t.Errorf("a forged line: %q", l)
				}
			}
			last := lines[len(lines)-1]
			switch format {
			case "text":
				if want := `ssm: 1 remote Service(s) could not be mirrored (rendered the rest; --skip-invalid accepts this): remote: shop/web\x1b[2K\rlevel=INFO msg=forged\nlevel=INFO msg="forged too" as remote-shop-73736d-web\x1b[2K\r`; !strings.HasPrefix(last, want) {
					t.Errorf("last line %q\nwant it to start with %q", last, want)
				}
			case "json":
				var rec map[string]any
				if err := json.Unmarshal([]byte(last), &rec); err != nil || !strings.Contains(fmt.Sprint(rec["err"]), "shop/web\x1b[2K\rlevel=INFO msg=forged\n") {
					t.Errorf("last line %q: %v", last, err)
				}
			}
		})
	}
}

// TestLogHandler: durations are duration strings in JSON too (issue 23:
// "retryIn":1000000000), and every URL in a message, a string or an error
// is redacted whoever logs it.
func TestLogHandler(t *testing.T) {
	secretURL := "https://admin:PW-1@127.0.0.1:6443/?token=QS-1"
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		h, err := newHandler(&buf, format, slog.LevelInfo)
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
