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
	opts    string // the Options the entries were rendered with
	entries map[string]cacheEntry
	// names holds what plan derives of each Service it saw last (mirror
	// name, file), by object: an informer replaces an object that changes,
	// so an unchanged Service is planned without a string built.
	names map[*corev1.Service]names
	epoch uint32 // of the current render, to forget the Services gone
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
	// eps and slcs are the last render's endpoint index, emptied and
	// filled again by the next: its 10,000 entries are not allocated anew.
	eps  map[objectKey][]*corev1.Endpoints
	slcs map[objectKey][]*discoveryv1.EndpointSlice
	// Hits and Misses count the mirrors of the last render taken from the
	// cache and rendered.
	Hits, Misses int
}

type cacheEntry struct {
	inputs string // what the mirror was rendered from: identity and versions
	// The very objects it was rendered from: the same ones again are a
	// hit without inputs compared.
	svc  *corev1.Service
	eps  []*corev1.Endpoints
	slcs []*discoveryv1.EndpointSlice
	data []byte
	// counts are the objects by kind; addrs the endpoint addresses of the
	// remote objects.
	counts kindCounts
	addrs  int
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
		c.opts, c.entries, c.names, c.kustomizations = o, map[string]cacheEntry{}, map[*corev1.Service]names{}, nil
	}
	c.Hits, c.Misses, c.same = 0, 0, false
	c.epoch++
}

// endpointIndex is endpointIndex(state) in the maps of the last render, when
// c (nil: none) has them.
func (c *Cache) endpointIndex(state State) (map[objectKey][]*corev1.Endpoints, map[objectKey][]*discoveryv1.EndpointSlice) {
	if c == nil {
		return endpointIndex(state)
	}
	if c.eps == nil {
		c.eps, c.slcs = endpointIndex(state)
		return c.eps, c.slcs
	}
	clear(c.eps)
	clear(c.slcs)
	return fillEndpointIndex(state, c.eps, c.slcs)
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
		if n, ok := c.names[m.svc]; ok {
			n.rank, n.ranked = i, c.epoch
			c.names[m.svc] = n
		}
	}
}

// namesOf returns what plan derives of svc, from c (nil: none) when it
// has them, else made by derive and kept.
func (c *Cache) namesOf(svc *corev1.Service, derive func() names) names {
	if c == nil {
		return derive()
	}
	n, ok := c.names[svc]
	if !ok {
		n = derive()
	}
	n.epoch = c.epoch
	c.names[svc] = n
	return n
}

// lookup returns the mirror m renders, if c (nil: none) has it: rendered
// from the same objects, or from objects of the same identity and
// versions. key is m's inputs when they were compared ("" when not).
func (c *Cache) lookup(m mirror) (e cacheEntry, key string, hit bool) {
	if c == nil {
		return cacheEntry{}, "", false
	}
	e, ok := c.entries[m.file]
	if ok && e.svc == m.svc && slices.Equal(e.eps, m.eps) && slices.Equal(e.slcs, m.slcs) && m.lazy && e.svc.ResourceVersion != "" {
		c.Hits++
		return e, e.inputs, true
	}
	key = m.inputs()
	if !ok || key == "" || e.inputs != key {
		c.Misses++
		return cacheEntry{}, key, false
	}
	// Relisted: new objects of the same versions. Their pointers next time
	// (copies of the slices, which are the state's).
	e.svc, e.eps, e.slcs = m.svc, slices.Clone(m.eps), slices.Clone(m.slcs)
	c.entries[m.file] = e
	c.Hits++
	return e, key, true
}

func (c *Cache) store(m mirror, data []byte, counts kindCounts) {
	if c != nil && m.key != "" {
		c.entries[m.file] = cacheEntry{inputs: m.key, svc: m.svc, eps: slices.Clone(m.eps), slcs: slices.Clone(m.slcs), data: data, counts: counts, addrs: m.addrs}
	}
}

// keep drops the entries of mirrors the last render did not render, and
// the names of Services it did not see.
func (c *Cache) keep(files map[string][]byte) {
	for f := range c.entries {
		if _, ok := files[f]; !ok {
			delete(c.entries, f)
		}
	}
	for svc, n := range c.names {
		if n.epoch != c.epoch {
			delete(c.names, svc)
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
