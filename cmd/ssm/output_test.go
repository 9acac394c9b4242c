package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
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
