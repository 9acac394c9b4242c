package logging

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Terminal is standard error while a person watches it: the log handler
// writes through it, and the last line shows the phase under way with a
// progress bar (github.com/schollz/progressbar), erased before each log
// line and drawn again after it, and erased when the work is done. It
// implements mirror.Progress.
type Terminal struct {
	mu   sync.Mutex
	w    io.Writer
	bar  *progressbar.ProgressBar
	stop chan struct{}  // ends the redraw of the current bar
	done sync.WaitGroup // the redraw goroutine
}

// NewTerminal returns a Terminal writing to w, or nil when no person
// watches w: not a terminal, a CI log (CI=true, as GitHub Actions and
// GitLab CI set it, some on a pseudo-terminal), or TERM=dumb.
func NewTerminal(w io.Writer, getenv func(string) string) *Terminal {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || getenv("CI") == "true" || getenv("TERM") == "dumb" {
		return nil
	}
	return &Terminal{w: w}
}

// Write writes a log record above the bar.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != nil {
		_ = t.bar.Clear()
	}
	n, err := t.w.Write(p)
	if t.bar != nil {
		_ = t.bar.RenderBlank()
	}
	return n, err
}

// Start shows phase ("listing", "rendering", "writing") with a count of
// what is done in it and the time it has taken, redrawn every 200ms.
func (t *Terminal) Start(phase string) {
	t.Stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(t.w), progressbar.OptionSetDescription(phase),
		progressbar.OptionShowCount(), progressbar.OptionSpinnerType(14), progressbar.OptionClearOnFinish(),
		progressbar.OptionSetSpinnerChangeInterval(0), // redrawn here, under t.mu, not by a goroutine of its own
		progressbar.OptionThrottle(100*time.Millisecond))
	_ = t.bar.RenderBlank()
	bar, stop := t.bar, make(chan struct{})
	t.stop = stop
	t.done.Go(func() { t.redraw(bar, stop) })
}

// redraw keeps the spinner and the elapsed time moving while nothing is
// counted (rendering, writing).
func (t *Terminal) redraw(bar *progressbar.ProgressBar, stop chan struct{}) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			t.mu.Lock()
			_ = bar.RenderBlank()
			t.mu.Unlock()
		}
	}
}

// Add counts n more objects done in the phase.
func (t *Terminal) Add(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != nil {
		_ = t.bar.Add(n)
	}
}

// Stop erases the bar.
func (t *Terminal) Stop() {
	t.mu.Lock()
	if t.stop != nil {
		close(t.stop)
		t.stop = nil
	}
	t.mu.Unlock()
	t.done.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != nil {
		_ = t.bar.Finish()
		_ = t.bar.Clear()
		t.bar = nil
	}
}
