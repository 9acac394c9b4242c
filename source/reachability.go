package source

import (
	"net/http"
	"sync"
)

// Reachability watches every request to a remote and reports when it stops
// answering and when it answers again, without sending anything itself.
// client-go retries failed watches quietly, so this is how an outage is seen.
type Reachability struct {
	// OnChange is called on every transition, with the error that made the
	// remote unreachable (nil when it is back). It must not block.
	OnChange func(up bool, err error)

	mu sync.Mutex
	up bool
}

// Wrap is a rest.Config WrapTransport: rc.Wrap(r.Wrap).
func (r *Reachability) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		switch {
		case err == nil:
			r.set(true, nil)
		case req.Context().Err() == nil: // not our own cancellation
			r.set(false, err)
		}
		return resp, err
	})
}

// Up reports whether the last request got an answer.
func (r *Reachability) Up() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

func (r *Reachability) set(up bool, err error) {
	r.mu.Lock()
	changed := r.up != up
	r.up = up
	r.mu.Unlock()
	if changed && r.OnChange != nil {
		r.OnChange(up, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
