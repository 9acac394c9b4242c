package generate

import (
	"slices"
	"strconv"
	"strings"
)

// clusterSetMemo is what ClusterSetCached keeps between renders: the
// ServiceImports read of each stored file, by its content, and each
// import rendered, by what it was rendered from. Each render keeps only
// what it used, so that nothing gone stays.
type clusterSetMemo struct {
	tables, nextTables   map[string]parsedFile // by path
	imports, nextImports map[string]Result     // by inputs
	// hits and misses count the imports of this render taken from the
	// memo and rendered, for the Cache's Hits and Misses.
	hits, misses int
	cache        *Cache
}

// clusterSet returns c's memo of a clusterset render, made on first use;
// nil for a nil Cache.
func (c *Cache) clusterSet() *clusterSetMemo {
	if c == nil {
		return nil
	}
	if c.mcs == nil {
		c.mcs = &clusterSetMemo{cache: c}
	}
	m := c.mcs
	m.nextTables, m.nextImports, m.hits, m.misses = make(map[string]parsedFile, len(m.tables)), make(map[string]Result, len(m.imports)), 0, 0
	return m
}

// parsedFile is a stored file, and the ServiceImports it holds.
type parsedFile struct {
	data    []byte
	entries []tableEntry
}

// parsed returns the ServiceImports the stored file at p, b, holds: a
// file that did not change since the last render is not read again (a git
// sink hands the same bytes on; a comparison costs less than a parse).
func (m *clusterSetMemo) parsed(p string, b []byte) ([]tableEntry, error) {
	if m == nil {
		return parseImports(b)
	}
	if f, ok := m.tables[p]; ok && (len(f.data) == len(b) && (len(b) == 0 || &f.data[0] == &b[0]) || string(f.data) == string(b)) {
		m.nextTables[p] = f
		return f.entries, nil
	}
	e, err := parseImports(b)
	if err == nil {
		m.nextTables[p] = parsedFile{data: b, entries: e}
	}
	return e, err
}

// rendered returns imp's files as rendered before from the same inputs.
func (m *clusterSetMemo) rendered(cs *clusterSet, imp *mcsImport) (Result, bool) {
	if m == nil {
		return Result{}, false
	}
	k := cs.inputs(imp)
	imp.inputs = k
	r, ok := m.imports[k]
	if !ok || k == "" {
		m.misses++
		return Result{}, false
	}
	m.hits++
	m.nextImports[k] = r
	return r, true
}

// store keeps an import rendered, by its inputs.
func (m *clusterSetMemo) store(imp *mcsImport, r Result) {
	if m != nil && imp.inputs != "" {
		m.nextImports[imp.inputs] = r
	}
}

// done makes what this render used the memo of the next.
func (m *clusterSetMemo) done() {
	if m != nil {
		m.tables, m.imports = m.nextTables, m.nextImports
		m.nextTables, m.nextImports = nil, nil
		m.cache.Hits, m.cache.Misses = m.hits, m.misses
	}
}

// inputs names everything an import's files are rendered from: the
// options, what was decided of it besides its objects (its ClusterSetIPs,
// whether it takes over a local Service), and the identity and version of
// each exporter's objects, in the order of precedence, which decide the
// rest; "" when an object has no version (a snapshot).
func (cs *clusterSet) inputs(imp *mcsImport) string {
	var b strings.Builder
	b.WriteString(imp.key.namespace + "/" + imp.key.name + "|" + cs.opts.TrafficDistribution)
	for _, f := range []bool{cs.opts.ByNamespace, cs.opts.KeepZones, imp.adopted} {
		b.WriteString(strconv.FormatBool(f))
	}
	for _, ip := range imp.ips {
		b.WriteString("|" + ip.String())
	}
	for _, e := range imp.exporters {
		if e.svc.ResourceVersion == "" {
			return ""
		}
		b.WriteString("|" + e.cluster + "|svc/" + string(e.svc.UID) + "@" + e.svc.ResourceVersion + "@" + strconv.FormatInt(e.since.UnixNano(), 10))
		parts := make([]string, 0, len(e.eps)+len(e.slcs))
		for _, x := range e.eps {
			if x.ResourceVersion == "" {
				return ""
			}
			parts = append(parts, "ep/"+string(x.UID)+"/"+x.Name+"@"+x.ResourceVersion)
		}
		for _, x := range e.slcs {
			if x.ResourceVersion == "" {
				return ""
			}
			parts = append(parts, "slice/"+string(x.UID)+"/"+x.Name+"@"+x.ResourceVersion)
		}
		slices.Sort(parts) // the order a cache lists objects in is no input
		for _, p := range parts {
			b.WriteString("|" + p)
		}
	}
	return b.String()
}
