package mirror

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var testTiming = Timing{Debounce: 2 * time.Second, MaxDelay: 10 * time.Second, BackoffMin: time.Second, BackoffMax: 8 * time.Second}

// recorder is a sync function that records when it was called.
type recorder struct {
	mu    sync.Mutex
	calls []time.Duration
	start time.Time
	fail  int // fail this many calls first
}

func (r *recorder) sync(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, time.Since(r.start))
	if r.fail > 0 {
		r.fail--
		return errors.New("remote unreachable")
	}
	return nil
}

func TestLoopBatching(t *testing.T) {
	tests := []struct {
		name  string
		kicks []time.Duration // when events arrive
		fail  int
		wait  time.Duration
		want  []time.Duration // when sync runs
	}{
		{name: "one event renders after the quiet time", kicks: []time.Duration{0}, wait: time.Minute, want: []time.Duration{2 * time.Second}},
		{name: "a burst coalesces into one render", kicks: []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond},
			wait: time.Minute, want: []time.Duration{3500 * time.Millisecond}},
		{name: "a steady stream is bounded by max delay", kicks: every(time.Second, 25*time.Second), wait: time.Minute,
			want: []time.Duration{10 * time.Second, 20 * time.Second, 27 * time.Second}},
		{name: "failures retry with growing backoff", kicks: []time.Duration{0}, fail: 3, wait: time.Minute,
			want: []time.Duration{2 * time.Second, 3 * time.Second, 5 * time.Second, 9 * time.Second}},
		{name: "events after a render start a new batch", kicks: []time.Duration{0, 5 * time.Second}, wait: time.Minute,
			want: []time.Duration{2 * time.Second, 7 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &recorder{start: time.Now(), fail: tt.fail}
				k := newKicker()
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() {
					loop(ctx, k, testTiming, slog.New(slog.DiscardHandler), r.sync)
					close(done)
				}()
				var at time.Duration
				for _, kt := range tt.kicks {
					time.Sleep(kt - at)
					at = kt
					k.kick()
				}
				time.Sleep(tt.wait)
				cancel()
				<-done
				if len(r.calls) != len(tt.want) {
					t.Fatalf("sync ran at %v, want %v", r.calls, tt.want)
				}
				for i := range tt.want {
					if r.calls[i] != tt.want[i] {
						t.Fatalf("sync ran at %v, want %v", r.calls, tt.want)
					}
				}
			})
		})
	}
}

func every(step, until time.Duration) []time.Duration {
	var out []time.Duration
	for d := time.Duration(0); d <= until; d += step {
		out = append(out, d)
	}
	return out
}

func TestLoopStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		k := newKicker()
		done := make(chan struct{})
		go func() {
			loop(ctx, k, testTiming, slog.New(slog.DiscardHandler), func(ctx context.Context) error {
				<-ctx.Done() // a sync that blocks until shutdown
				return ctx.Err()
			})
			close(done)
		}()
		k.kick()
		time.Sleep(3 * time.Second)
		cancel()
		<-done
	})
}
