package mirror

import (
	"context"
	"log/slog"
	"time"

	"github.com/ssm-dev/ssm/internal/field"
)

// Timing is how the run loop batches events and retries failures.
type Timing struct {
	Debounce   time.Duration // quiet time before a render
	MaxDelay   time.Duration // longest a steady stream of events postpones a render
	BackoffMin time.Duration // first retry delay after a failed sync
	BackoffMax time.Duration
}

// Validate reports timings the loop cannot work with, as a *field.Error
// naming the fields at fault.
func (t Timing) Validate() error {
	if t.Debounce <= 0 || t.MaxDelay < t.Debounce {
		return &field.Error{Fields: []field.Field{{Go: "Debounce", Name: "debounce", Value: t.Debounce.String()},
			{Go: "MaxDelay", Name: "max delay", Value: t.MaxDelay.String()}}, Text: ": want 0 < debounce <= max delay"}
	}
	if t.BackoffMin <= 0 || t.BackoffMax < t.BackoffMin {
		return &field.Error{Fields: []field.Field{{Go: "BackoffMin", Name: "backoff min", Value: t.BackoffMin.String()},
			{Go: "BackoffMax", Name: "backoff max", Value: t.BackoffMax.String()}}, Text: ": want 0 < backoff min <= backoff max"}
	}
	return nil
}

// kicker coalesces change notifications: any number of kicks between two
// renders make one render.
type kicker chan struct{}

func newKicker() kicker { return make(kicker, 1) }

// kick schedules a render; it never blocks.
func (k kicker) kick() {
	select {
	case k <- struct{}{}:
	default:
	}
}

// loop calls sync after every batch of kicks, and again after a backoff
// while it fails, until ctx ends. Events only schedule work; sync reads the
// latest state itself, so a retry always writes the newest state. It
// returns when ctx is done.
func loop(ctx context.Context, k kicker, t Timing, logger *slog.Logger, sync func(context.Context) error) {
	backoff := t.BackoffMin
	pending := false
	for {
		if !pending {
			select {
			case <-ctx.Done():
				return
			case <-k:
			}
			if !quiet(ctx, k, t) {
				return
			}
		}
		err := sync(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			pending, backoff = false, t.BackoffMin
			continue
		}
		logger.Error("sync failed; retrying", "err", err, "retryIn", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		// Kicks during the backoff are covered by the retry.
		select {
		case <-k:
		default:
		}
		pending, backoff = true, min(backoff*2, t.BackoffMax)
	}
}

// quiet waits until no kick came for t.Debounce, or t.MaxDelay passed since
// the first kick. It reports false when ctx ended first.
func quiet(ctx context.Context, k kicker, t Timing) bool {
	deadline := time.NewTimer(t.MaxDelay)
	defer deadline.Stop()
	idle := time.NewTimer(t.Debounce)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-k:
			idle.Reset(t.Debounce)
		case <-idle.C:
			return true
		case <-deadline.C:
			return true
		}
	}
}
