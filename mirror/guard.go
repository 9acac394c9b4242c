package mirror

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
)

// Verdicts of the removal guard.
const (
	Allowed  = "allowed"  // within --max-removals
	Approved = "approved" // over it, and an operator approved this very set
	HeldBack = "held"     // over it: the mirrors stay as stored
)

// Removal is what one render would remove of one cluster's stored mirrors,
// and what the guard decided.
type Removal struct {
	Cluster string   `json:"cluster"` // the cluster, or "global" for global Services
	Files   []string `json:"files"`   // the mirror files it would remove, sorted
	Stored  int      `json:"stored"`  // the cluster's mirror files stored
	Allowed int      `json:"allowed"` // how many --max-removals lets go at once
	Digest  string   `json:"digest"`  // names this set of files, for an approval
	Verdict string   `json:"verdict"`
}

// HeldError is a render RunOnce did not write because it would remove
// more mirrors of a cluster than allowed.
type HeldError struct{ Held []Removal }

func (e *HeldError) Error() string {
	var parts []string
	for _, h := range e.Held {
		parts = append(parts, fmt.Sprintf("%s would remove %d of its %d mirrors (at most %d at once): %s",
			clusterLabel(h.Cluster), len(h.Files), h.Stored, h.Allowed, strings.Join(h.Files, ", ")))
	}
	return "removals held, nothing written (--max-removals lets more through): " + strings.Join(parts, "; ")
}

func clusterLabel(c string) string {
	if c == "" {
		return "the remote"
	}
	return "cluster " + c
}

// guardInput is what the guard decides on.
type guardInput struct {
	stored, files fileset.Files
	tree          bool
	names         func(group string) string // cluster of a MirrorOf group
	limit         config.RemovalLimit
	approved      func(Removal) bool
	// mirrorOf says whose mirror a file is; nil: generate.MirrorOf.
	mirrorOf func(p string) (group string, ok bool)
}

func (in guardInput) mirror(p string) (string, bool) {
	if in.mirrorOf != nil {
		return in.mirrorOf(p)
	}
	return generate.MirrorOf(p, in.tree)
}

// guard decides, per cluster, whether a render may remove the stored
// mirrors it no longer holds: up to the limit, or beyond it when approved.
// The removals it holds are put back as stored. It returns the files to
// write (files itself when it holds nothing) and every decision.
func guard(in guardInput) (fileset.Files, []Removal) {
	stored, removed := map[string]int{}, map[string][]string{}
	type gone struct{ group, path string }
	var missing []gone // stored mirrors not rendered at their path
	for p := range in.stored {
		g, ok := in.mirror(p)
		if !ok {
			continue
		}
		stored[g]++
		if _, kept := in.files[p]; !kept {
			missing = append(missing, gone{g, p})
		}
	}
	if len(missing) > 0 {
		// A mirror whose file moves (a new --layout) is no removal:
		// mirrors are known by file name within their cluster.
		rendered := map[string]bool{}
		for p := range in.files {
			if g, ok := in.mirror(p); ok {
				rendered[g+"\x00"+generate.MirrorKey(p)] = true
			}
		}
		for _, m := range missing {
			if !rendered[m.group+"\x00"+generate.MirrorKey(m.path)] {
				removed[m.group] = append(removed[m.group], m.path)
			}
		}
	}
	out, held := in.files, false
	var decisions []Removal
	for _, g := range slices.Sorted(maps.Keys(removed)) {
		files := removed[g]
		slices.Sort(files)
		r := Removal{Cluster: in.names(g), Files: files, Stored: stored[g], Allowed: in.limit.Allowed(stored[g]), Digest: digest(files)}
		switch {
		case len(files) <= r.Allowed:
			r.Verdict = Allowed
		case in.approved(r):
			r.Verdict = Approved
		default:
			r.Verdict = HeldBack
			if !held {
				out, held = maps.Clone(in.files), true
			}
			for _, p := range files {
				out[p] = in.stored[p]
			}
		}
		decisions = append(decisions, r)
	}
	if held {
		decisions = keepDependents(out, in.stored, decisions)
		generate.Kustomize(out)
	}
	return out, decisions
}

// keepDependents keeps, for the held mirrors put back in out, the stored
// objects they depend on that the render dropped, and takes those out of
// the decisions that would remove them: a NodePort mirror's namespace
// (pruned, it would delete the mirror with it) and the global Service
// that a cluster's global EndpointSlices belong to.
func keepDependents(out, stored fileset.Files, decisions []Removal) []Removal {
	var kept []string
	namespaces := map[string][]string{} // namespaces file → namespaces held mirrors need
	for _, d := range decisions {
		if d.Verdict != HeldBack {
			continue
		}
		for _, p := range d.Files {
			if file, ns, ok := generate.NodePortNamespaceOf(p); ok {
				namespaces[file] = append(namespaces[file], ns)
			}
			if svc, ok := generate.GlobalServiceOf(p); ok {
				if _, rendered := out[svc]; !rendered && stored[svc] != nil {
					out[svc] = stored[svc]
					kept = append(kept, svc)
				}
			}
		}
	}
	for file, names := range namespaces {
		if b := generate.KeepNamespaces(out[file], stored[file], names); b != nil && !bytes.Equal(b, out[file]) {
			out[file] = b
		}
	}
	if len(kept) == 0 {
		return decisions
	}
	for i := range decisions {
		decisions[i].Files = slices.DeleteFunc(decisions[i].Files, func(p string) bool { return slices.Contains(kept, p) })
	}
	return slices.DeleteFunc(decisions, func(d Removal) bool { return len(d.Files) == 0 })
}

// digest names a set of files in a few characters, for an approval. It is
// keyed by a secret of the process: the file names follow from the
// remote's Service names, which are no secret, and whoever could compute a
// digest from them could approve without reading it from the log or the
// admin listener. A digest is good in this process only, as an approval.
func digest(files []string) string {
	h := hmac.New(sha256.New, digestKey)
	h.Write([]byte(strings.Join(files, "\n")))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// digestKey is the process's key for digests (crypto/rand never fails).
var digestKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

// Approvals keeps the removals Run holds, for operators to see, and the
// ones they approved. An approval names the exact set held (its digest):
// if the set changes, the new one is held until approved in turn. It is
// spent once the removal is written.
type Approvals struct {
	mu       sync.Mutex
	held     []Removal
	approved map[string]string // cluster → digest
	kick     func()            // schedules a render (Run)
}

// NewApprovals returns an empty Approvals.
func NewApprovals() *Approvals { return &Approvals{approved: map[string]string{}} }

// Held lists the removals held now, by cluster.
func (a *Approvals) Held() []Removal {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Removal{}, a.held...)
}

// Approve lets the next render remove what is held of cluster, provided
// that is still the set named by digest.
func (a *Approvals) Approve(cluster, digest string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range a.held {
		if h.Cluster != cluster {
			continue
		}
		if !hmac.Equal([]byte(h.Digest), []byte(digest)) {
			// Not the digest held: a refusal must not tell it.
			return fmt.Errorf("%s holds another set of removals than %s: look again (GET /removals, or the log)", clusterLabel(cluster), digest)
		}
		a.approved[cluster] = digest
		if a.kick != nil {
			a.kick()
		}
		return nil
	}
	return fmt.Errorf("%s holds no removals", clusterLabel(cluster))
}

// onApprove makes an approval schedule a render.
func (a *Approvals) onApprove(kick func()) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kick = kick
}

func (a *Approvals) isApproved(r Removal) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.approved[r.Cluster] == r.Digest
}

// record notes what a render held; once its write succeeded, the
// approvals it used are spent.
func (a *Approvals) record(decisions []Removal, written bool) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held = a.held[:0]
	for _, d := range decisions {
		switch {
		case d.Verdict == HeldBack:
			a.held = append(a.held, d)
		case d.Verdict == Approved && written:
			delete(a.approved, d.Cluster)
		}
	}
}
