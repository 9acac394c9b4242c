package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestStart: both listeners serve what they should, on loopback; a busy
// port is an error before anything is served.
func TestStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	public, admin := freeAddr(t), freeAddr(t)
	o := Options{Address: public, AdminAddress: admin, Metrics: NewMetrics("dev", "unknown"), Health: &Health{},
		Approvals: &fakeApprovals{}, Logger: slog.New(slog.DiscardHandler)}
	how, err := Start(ctx, o, &wg)
	if err != nil {
		t.Fatal(err)
	}
	if got := how("east", "d"); len(got) != 2 || !strings.Contains(got[1].(string), admin[strings.LastIndex(admin, ":"):]+"/removals/approve") {
		t.Errorf("how to approve: %q", got)
	}
	for url, want := range map[string]string{"http://" + public + "/healthz": "ok\n", "http://" + admin + "/removals": heldDigest} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %q", url, resp.StatusCode, body)
		}
	}
	if _, err := Start(ctx, Options{Address: freeAddr(t), AdminAddress: admin, Logger: o.Logger}, &wg); err == nil || !strings.Contains(err.Error(), "listen on "+admin) {
		t.Errorf("a busy admin port: %v", err)
	}
	if how, err := Start(ctx, Options{Address: freeAddr(t), Metrics: o.Metrics, Health: o.Health, Logger: o.Logger}, &wg); err != nil || how != nil {
		t.Errorf("without an admin address: a hint %v, %v", how != nil, err)
	}
}

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
