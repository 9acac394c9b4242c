package server

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestReadyzSaysWhy: /readyz names the last error that keeps ssm unready
// (issue 23: it said "no successful sync yet" after every failure),
// redacted.
func TestReadyzSaysWhy(t *testing.T) {
	h := &Health{MaxAge: time.Hour}
	readyz := func() (int, string) {
		w := httptest.NewRecorder()
		Public(NewMetrics("dev", "unknown"), h).ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	steps := []struct {
		do   func()
		code int
		want string
	}{
		{do: func() {}, code: 503, want: "remote caches not synced yet\n"},
		{do: func() {
			h.watchFailed("east", "services", errors.New(`Get "https://u:PW-2@10.0.0.1/api/v1/services?token=QS-2": dial tcp 10.0.0.1:443: connect: connection refused`))
		}, code: 503, want: `remote caches not synced yet; last error: cluster east, services: Get "https://xxxxx@10.0.0.1/api/v1/services?token=xxxxx": dial tcp 10.0.0.1:443: connect: connection refused` + "\n"},
		{do: h.setSynced, code: 503, want: "no successful sync yet\n"},
		{do: func() {
			h.record(errors.New("push main to https://git.example/r.git?private_token=QS-3: connection refused"))
		}, code: 503,
			want: "no successful sync yet; last sync failed: push main to https://git.example/r.git?private_token=xxxxx connection refused\n"},
		{do: func() { h.record(nil) }, code: 200, want: "ok\n"},
		{do: func() { h.record(errors.New("write mirrors/a.yaml: no space left on device")) }, code: 503,
			want: "last sync failed: write mirrors/a.yaml: no space left on device\n"},
		{do: func() { h.watchFailed("east", "services", errors.New("late")) }, code: 503, want: "last sync failed: write mirrors/a.yaml"},
	}
	for i, s := range steps {
		s.do()
		code, body := readyz()
		if code != s.code || !strings.HasPrefix(body, s.want) {
			t.Errorf("step %d: %d %q, want %d %q", i, code, body, s.code, s.want)
		}
	}
}
