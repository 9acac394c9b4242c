package source

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// Revisions are resource versions by resource ("services", "endpoints",
// …): how new a state read of one cluster is. Resource versions compare
// only within one resource of one cluster.
type Revisions map[string]string

// String writes r as "endpoints=123 services=456", sorted by resource.
func (r Revisions) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(r)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + r[k])
	}
	return b.String()
}

// ParseRevisions reads what Revisions.String writes.
func ParseRevisions(s string) (Revisions, error) {
	out := Revisions{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("revision %q: want resource=version", f)
		}
		out[k] = v
	}
	return out, nil
}

// Older reports the resources for which r is older than than: what a
// render of r would move back. A resource missing on either side, or
// whose versions do not compare, is not older.
func (r Revisions) Older(than Revisions) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r)) {
		if t, ok := than[k]; ok && olderRevision(r[k], t) {
			out = append(out, k)
		}
	}
	return out
}

// olderRevision reports whether resource version a is older than b; false
// when either is not a well-formed resource version.
func olderRevision(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c < 0
}
