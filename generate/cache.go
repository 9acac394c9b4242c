package generate

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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
	opts string // the Options the entries were rendered with
	// entries are the mirrors of the last render, by file: each one taken
	// from the cache or rendered in it (epoch), and no other.
	entries map[string]*cacheEntry
	// names holds what plan derives of each Service it saw last (mirror
	// name, file), by object: an informer replaces an object that changes,
	// so an unchanged Service is planned without a string built.
	names map[*corev1.Service]*names
	epoch uint32 // of the current render, to forget the Services gone
	// fresh counts the entries and names of this render: all of them, and
	// the last render's are all still there.
	freshEntries, freshNames int
	// ranked is the render whose sort ranked the Services (names.rank):
	// while the same Service objects are rendered, their mirrors are put
	// in those places instead of sorted again, and same says so.
	ranked uint32
	same   bool
	// kustomizations are the last render's, of mirrors files: taken
	// again while same and the number of files is.
	kustomizations map[string][]byte
	mirrors        int
	// plans is the last render's plan, its room taken again by the next:
	// 10,000 mirrors are 2.5 MB a render not allocated.
	plans []mirror
	// eps and slcs follow the endpoint objects from render to render;
	// changed is the keys whose objects changed in this render.
	eps     track[*corev1.Endpoints]
	slcs    track[*discoveryv1.EndpointSlice]
	changed []objectKey
	// Hits and Misses count the mirrors of the last render taken from the
	// cache and rendered.
	Hits, Misses int
	// mcs is what ClusterSetCached keeps, when given this Cache.
	mcs *clusterSetMemo
}

type cacheEntry struct {
	inputs string // what the mirror was rendered from: identity and versions
	// The Service object it was rendered from: the same one again, with
	// endpoint objects unchanged (Cache.eps, slcs), is a hit without
	// inputs compared.
	svc  *corev1.Service
	data []byte
	// made holds the objects by kind and the warnings of the render that
	// made data: a hit reports them as that render did.
	made  made
	epoch uint32 // the last render that took or made it
	// adopted is the mirror's: it renders otherwise, from the same
	// objects, once the local Service it takes over becomes ssm's.
	adopted bool
}

// names is what plan derives of a remote Service.
type names struct {
	remote, name, file string
	epoch              uint32
	rank               int    // place among the mirrors sorted by name
	ranked             uint32 // the render that ranked it
}

// begin readies c for a render with opts: entries rendered with other
// options are dropped.
func (c *Cache) begin(opts Options) {
	if o := fmt.Sprintf("%#v", opts); o != c.opts || c.entries == nil {
		c.opts, c.entries, c.names, c.kustomizations = o, map[string]*cacheEntry{}, map[*corev1.Service]*names{}, nil
	}
	c.Hits, c.Misses, c.same, c.freshEntries, c.freshNames = 0, 0, false, 0, 0
	c.epoch++
}

// endpointIndex returns what endpointIndex(state) does, and whether the
// endpoint objects of a Service (by namespace and name) may differ from
// the last render's. With a Cache (nil: none) only the objects that came
// or went since are looked at by name: the index is the last render's,
// changed where they were.
func (c *Cache) endpointIndex(state State) (map[objectKey][]*corev1.Endpoints, map[objectKey][]*discoveryv1.EndpointSlice, func(objectKey) bool) {
	if c == nil {
		eps, slcs := endpointIndex(state)
		return eps, slcs, func(objectKey) bool { return true }
	}
	c.changed = c.changed[:0]
	// Objects that went are known only to a tracker that saw them come:
	// a new one (the first render, or the one after a state that listed
	// an object twice) marks every Service changed.
	untracked := c.eps.seen == nil
	twice := c.eps.update(state.Endpoints, func(e *corev1.Endpoints) (objectKey, bool) { return objectKey{e.Namespace, e.Name}, true }, c.epoch, &c.changed)
	if c.slcs.update(state.EndpointSlices, sliceKey, c.epoch, &c.changed) || twice {
		// A state that lists an object twice (not an informer's) is
		// rendered as it is, every mirror looked up again by its inputs,
		// in this render and the next.
		c.eps, c.slcs = track[*corev1.Endpoints]{}, track[*discoveryv1.EndpointSlice]{}
		eps, slcs := endpointIndex(state)
		return eps, slcs, func(objectKey) bool { return true }
	}
	if untracked {
		return c.eps.index, c.slcs.index, func(objectKey) bool { return true }
	}
	if len(c.changed) > 8 { // many changed (a relist): by map
		set := make(map[objectKey]bool, len(c.changed))
		for _, k := range c.changed {
			set[k] = true
		}
		return c.eps.index, c.slcs.index, func(k objectKey) bool { return set[k] }
	}
	// A few: compared one by one, which costs less than hashing a name.
	return c.eps.index, c.slcs.index, func(k objectKey) bool { return slices.Contains(c.changed, k) }
}

// track follows the endpoint objects of one kind from render to render by
// object: an informer replaces an object that changes and keeps the others
// as they are, so the objects of the last render are known by pointer, and
// only new ones need their key.
type track[T comparable] struct {
	seen  map[T]*tracked
	index map[objectKey][]T // endpointIndex of the objects
}

type tracked struct {
	key   objectKey
	keyed bool // whether it belongs to a Service at all
	epoch uint32
}

// update makes t follow objs, the objects of the render of epoch, adding
// to changed the keys of the objects that came or went since the last. It
// reports whether objs holds an object twice, which no cache does: t's
// index holds it once, endpointIndex twice.
func (t *track[T]) update(objs []T, keyOf func(T) (objectKey, bool), epoch uint32, changed *[]objectKey) (twice bool) {
	if t.seen == nil {
		t.seen, t.index = map[T]*tracked{}, map[objectKey][]T{}
	}
	stamped := 0 // distinct objects of objs
	for _, o := range objs {
		if e := t.seen[o]; e != nil {
			if e.epoch == epoch {
				twice = true
				continue
			}
			e.epoch = epoch
			stamped++
			continue
		}
		k, ok := keyOf(o)
		t.seen[o] = &tracked{key: k, keyed: ok, epoch: epoch}
		stamped++
		if ok {
			t.index[k] = append(t.index[k], o)
			*changed = append(*changed, k)
		}
	}
	if stamped == len(t.seen) {
		return twice // every object of the last render is among objs
	}
	for o, e := range t.seen {
		if e.epoch == epoch {
			continue
		}
		delete(t.seen, o)
		if !e.keyed {
			continue
		}
		*changed = append(*changed, e.key)
		if rest := slices.DeleteFunc(t.index[e.key], func(x T) bool { return x == o }); len(rest) > 0 {
			t.index[e.key] = rest
		} else {
			delete(t.index, e.key)
		}
	}
	return twice
}

// planRoom returns an empty slice with room for n mirrors: the last
// render's, when c (nil: none) has one as large.
func (c *Cache) planRoom(n int) []mirror {
	if c == nil || cap(c.plans) < n {
		return make([]mirror, 0, n)
	}
	return c.plans[:0]
}

// planned keeps the room of a render's plan for the next, holding no
// objects meanwhile.
func (c *Cache) planned(mirrors []mirror) {
	if c != nil {
		clear(mirrors[:cap(mirrors)])
		c.plans = mirrors[:0]
	}
}

// rankOf returns the place of the Service n names in the last ranking, or
// -1 when the last ranking did not place it.
func (c *Cache) rankOf(n names) int {
	if c == nil || c.ranked == 0 || n.ranked != c.ranked {
		return -1
	}
	return n.rank
}

// rank remembers the places of sorted, the mirrors in name order.
func (c *Cache) rank(sorted []mirror) {
	if c == nil {
		return
	}
	c.ranked = c.epoch
	for i, m := range sorted {
		if n := c.names[m.svc]; n != nil {
			n.rank, n.ranked = i, c.epoch
		}
	}
}

// namesOf returns what plan derives of svc, from c (nil: none) when it
// has them, else made by derive and kept.
func (c *Cache) namesOf(svc *corev1.Service, derive func() names) names {
	if c == nil {
		return derive()
	}
	n := c.names[svc]
	if n == nil {
		d := derive()
		n = &d
		c.names[svc] = n
	}
	if n.epoch != c.epoch {
		n.epoch = c.epoch
		c.freshNames++
	}
	return *n
}

// sameObjects returns the mirror m renders, if c (nil: none) has it
// rendered from the very objects of this render: the same Service object,
// and endpoint objects unchanged since the last render (every entry was
// rendered from, or checked against, the last render's objects: keep).
func (c *Cache) sameObjects(m mirror, endpointsChanged bool) (cacheEntry, bool) {
	if c == nil || endpointsChanged || !m.lazy {
		return cacheEntry{}, false
	}
	e := c.entries[m.file]
	if e == nil || e.svc != m.svc || e.svc.ResourceVersion == "" || e.adopted != m.adopted {
		return cacheEntry{}, false
	}
	c.Hits++
	c.taken(e)
	return *e, true
}

// taken marks e as one of this render's entries.
func (c *Cache) taken(e *cacheEntry) {
	if e.epoch != c.epoch {
		e.epoch = c.epoch
		c.freshEntries++
	}
}

// lookup returns the mirror m renders, if c (nil: none) has it rendered
// from objects of the same identity and versions as m's, which it takes
// from now on. key is m's inputs.
func (c *Cache) lookup(m mirror) (e cacheEntry, key string, hit bool) {
	if c == nil {
		return cacheEntry{}, "", false
	}
	p := c.entries[m.file]
	key = m.inputs()
	if p == nil || key == "" || p.inputs != key || p.adopted != m.adopted {
		c.Misses++
		return cacheEntry{}, key, false
	}
	// Relisted: new objects of the same versions.
	p.svc = m.svc
	c.Hits++
	c.taken(p)
	return *p, key, true
}

func (c *Cache) store(m mirror, data []byte, out made) {
	if c == nil {
		return
	}
	if m.key == "" { // no versions to know it by: no entry, nor an older one
		if e := c.entries[m.file]; e != nil && e.epoch == c.epoch {
			c.freshEntries--
		}
		delete(c.entries, m.file)
		return
	}
	e := &cacheEntry{inputs: m.key, svc: m.svc, data: data, made: out, adopted: m.adopted}
	if old := c.entries[m.file]; old != nil && old.epoch == c.epoch {
		c.freshEntries-- // taken by a Service of the same mirror name, now made anew
	}
	c.entries[m.file] = e
	c.taken(e)
}

// keep drops the entries this render neither took nor made, and the names
// of Services it did not see: a pass over each only when there are such.
func (c *Cache) keep() {
	if c.freshEntries != len(c.entries) {
		for f, e := range c.entries {
			if e.epoch != c.epoch {
				delete(c.entries, f)
			}
		}
	}
	if c.freshNames != len(c.names) {
		for svc, n := range c.names {
			if n.epoch != c.epoch {
				delete(c.names, svc)
			}
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

// kustomize adds the kustomizations to files (see Kustomize): the last
// render's when it rendered the same Services into as many files.
func (c *Cache) kustomize(files map[string][]byte) {
	if c == nil {
		Kustomize(files)
		return
	}
	if c.same && c.kustomizations != nil && c.mirrors == len(files) {
		maps.Copy(files, c.kustomizations)
		return
	}
	c.mirrors = len(files)
	Kustomize(files)
	c.kustomizations = map[string][]byte{}
	for p, b := range files {
		if path.Base(p) == KustomizationFile {
			c.kustomizations[p] = b
		}
	}
}
