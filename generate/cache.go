package generate

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Cache remembers each rendered mirror by what it was rendered from, so
// that rendering a state that changed in a few Services costs what
// changed: a mirror whose Service and endpoint objects kept their UIDs and
// resource versions is not rendered again. The caller keeps one Cache per
// cluster between renders; generate holds no state of its own. Objects
// without a resource version (a snapshot file) are always rendered. The
// zero value is an empty Cache.
type Cache struct {
	opts    string // the Options the entries were rendered with
	entries map[string]cacheEntry
	// Hits and Misses count the mirrors of the last render taken from the
	// cache and rendered.
	Hits, Misses int
}

type cacheEntry struct {
	inputs string // what the mirror was rendered from: identity and versions
	data   []byte
	counts map[string]int // objects by kind
}

// begin readies c for a render with opts: entries rendered with other
// options are dropped.
func (c *Cache) begin(opts Options) {
	if o := fmt.Sprintf("%#v", opts); o != c.opts || c.entries == nil {
		c.opts, c.entries = o, map[string]cacheEntry{}
	}
	c.Hits, c.Misses = 0, 0
}

// lookup returns the mirror rendered from inputs, if c (nil: none) has it.
func (c *Cache) lookup(file, inputs string) (cacheEntry, bool) {
	if c == nil {
		return cacheEntry{}, false
	}
	e, ok := c.entries[file]
	if !ok || inputs == "" || e.inputs != inputs {
		c.Misses++
		return cacheEntry{}, false
	}
	c.Hits++
	return e, true
}

func (c *Cache) store(file, inputs string, data []byte, counts map[string]int) {
	if c != nil && inputs != "" {
		c.entries[file] = cacheEntry{inputs: inputs, data: data, counts: maps.Clone(counts)}
	}
}

// keep drops the entries of mirrors the last render did not render.
func (c *Cache) keep(files map[string][]byte) {
	for f := range c.entries {
		if _, ok := files[f]; !ok {
			delete(c.entries, f)
		}
	}
}

// inputs names what a mirror renders from: its Service's and endpoint
// objects' UIDs and resource versions; "" when one has no resource
// version, or the mirror depends on more (NodePort mode's nodes).
func (m mirror) inputs() string {
	if !m.lazy || m.svc == nil {
		return ""
	}
	if len(m.eps)+len(m.slcs) <= 1 { // the common case, in one allocation
		return oneInput(m)
	}
	parts := make([]string, 0, 1+len(m.eps)+len(m.slcs))
	add := func(kind string, o metav1.Object) bool {
		parts = append(parts, kind+"/"+string(o.GetUID())+"/"+o.GetName()+"@"+o.GetResourceVersion())
		return o.GetResourceVersion() != ""
	}
	ok := add("svc", m.svc)
	for _, e := range m.eps {
		ok = add("ep", e) && ok
	}
	for _, s := range m.slcs {
		ok = add("slice", s) && ok
	}
	if !ok {
		return ""
	}
	slices.Sort(parts[1:]) // the order a cache lists objects in is no input
	return strings.Join(parts, ";")
}

// oneInput is inputs for a Service with at most one endpoint object.
func oneInput(m mirror) string {
	svc := m.svc
	var o metav1.Object
	kind := ""
	switch {
	case len(m.eps) == 1:
		o, kind = m.eps[0], "ep"
	case len(m.slcs) == 1:
		o, kind = m.slcs[0], "slice"
	}
	if svc.ResourceVersion == "" || o != nil && o.GetResourceVersion() == "" {
		return ""
	}
	if o == nil {
		return "svc/" + string(svc.UID) + "/" + svc.Name + "@" + svc.ResourceVersion
	}
	return "svc/" + string(svc.UID) + "/" + svc.Name + "@" + svc.ResourceVersion + ";" + kind + "/" + string(o.GetUID()) + "/" + o.GetName() + "@" + o.GetResourceVersion()
}
