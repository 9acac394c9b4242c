package logging

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestTerminal: a log record written while the bar shows is written
// whole, on a line of its own: the bar is erased before it and drawn
// again after it; Stop erases the bar for good.
func TestTerminal(t *testing.T) {
	var buf bytes.Buffer
	tty := &Terminal{w: &buf}
	tty.Start("listing")
	tty.Add(500)
	if _, err := tty.Write([]byte("level=INFO msg=listed cluster=east services=500\n")); err != nil {
		t.Fatal(err)
	}
	tty.Start("rendering")
	tty.Stop()
	out := buf.String()
	for _, want := range []string{"listing (", "rendering (", "\rlevel=INFO msg=listed cluster=east services=500\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
	last := out[strings.LastIndex(out, "rendering ("):]
	if !strings.HasSuffix(strings.TrimRight(last, " \r"), ")") && !strings.HasSuffix(out, "\r") {
		t.Errorf("the bar is not erased at the end:\n%q", out)
	}
	tty.Stop() // twice is nothing
}

// TestNewTerminal: no progress display where no person watches: a pipe or
// file, a CI log (CI=true), a dumb terminal.
func TestNewTerminal(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if NewTerminal(w, env()) != nil || NewTerminal(&bytes.Buffer{}, env()) != nil {
		t.Error("a progress display on a pipe or a buffer")
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no terminal to try: %v", err)
	}
	defer tty.Close()
	if NewTerminal(tty, env()) == nil {
		t.Error("no progress display on a terminal")
	}
	if NewTerminal(tty, env("CI", "true")) != nil || NewTerminal(tty, env("TERM", "dumb")) != nil {
		t.Error("a progress display in CI or on a dumb terminal")
	}
}

// TestTerminalRedraw: while nothing is counted (rendering, writing), the
// bar is drawn again every 200ms, its elapsed time moving on; after Stop
// nothing more is drawn.
func TestTerminalRedraw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		tty := &Terminal{w: &buf}
		tty.Start("rendering")
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		tty.Stop()
		out := buf.String()
		// Drawn at Start and at 200, 400, 600, 800 and 1000ms, the
		// spinner turning, the last past a second; then erased.
		for _, want := range []string{"\r⠋ rendering (0/-) [0s]", "\r⠙ rendering (0/-) [0s]", "\r⠴ rendering (0/-) [1s]"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%q", want, out)
			}
		}
		if n := strings.Count(out, "rendering ("); n != 6 {
			t.Errorf("drawn %d times in 1.1s, want 6:\n%q", n, out)
		}
		if !strings.HasSuffix(out, "\r                       \r") {
			t.Errorf("the bar is not erased at the end:\n%q", out)
		}
		after := buf.Len()
		time.Sleep(time.Second)
		synctest.Wait()
		if buf.Len() != after {
			t.Errorf("drawn after Stop: %q", buf.String()[after:])
		}
	})
}

// syncBuffer is a bytes.Buffer whose String may be read while the
// redraw goroutine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}
