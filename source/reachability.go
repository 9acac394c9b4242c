package source

import (
	"net/http"
	"strings"
	"sync"
)

// Reachability watches every request to a remote and reports when it stops
// answering and when it answers again, without sending anything itself.
// client-go retries failed watches quietly, so this is how an outage is seen.
type Reachability struct {
	// OnChange is called on the first answer or failure and on every
	// transition after it, with the error that made the remote unreachable
	// (nil when it answers). It must not block.
	OnChange func(up bool, err error)
	// OnFailure is called for every request that got no answer, with the
	// resource it was for (e.g. "services"; "" when the path names none).
	// It must not block.
	OnFailure func(resource string, err error)

	mu    sync.Mutex
	known bool // a request has answered or failed
	up    bool
}

// Wrap is a rest.Config WrapTransport: rc.Wrap(r.Wrap).
func (r *Reachability) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &reachTransport{r: r, rt: rt}
}

// reachTransport reports what rt's requests got. It lets client-go reach
// the transport it wraps (WrappedRoundTripper), as client-go's own
// wrappers do, so that a request can still be cancelled through it.
type reachTransport struct {
	r  *Reachability
	rt http.RoundTripper
}

func (t *reachTransport) WrappedRoundTripper() http.RoundTripper { return t.rt }

func (t *reachTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	switch {
	case err == nil:
		t.r.set(true, nil)
	case req.Context().Err() == nil: // not our own cancellation
		if t.r.OnFailure != nil {
			t.r.OnFailure(resourceOf(req.URL.Path), err)
		}
		t.r.set(false, err)
	}
	return resp, err
}

// Up reports whether the last request got an answer.
func (r *Reachability) Up() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

func (r *Reachability) set(up bool, err error) {
	r.mu.Lock()
	changed := r.up != up || !r.known
	r.up, r.known = up, true
	r.mu.Unlock()
	if changed && r.OnChange != nil {
		r.OnChange(up, err)
	}
}

// resourceOf is the resource an API path names: its last segment but a
// name (…/namespaces/ns/services/web), or the collection (…/services).
func resourceOf(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i := len(segs) - 1; i > 0; i-- {
		switch segs[i] {
		case "services", "endpoints", "endpointslices", "nodes":
			return segs[i]
		}
	}
	return ""
}
