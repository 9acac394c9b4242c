package generate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSortedMirrors checks the in-place sort against the obvious one:
// random names, many of them shared, in random order.
func TestSortedMirrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		n := r.IntN(60)
		var in []mirror
		for i := range n {
			in = append(in, mirror{remote: fmt.Sprintf("ns/s%03d", i), name: fmt.Sprintf("m%02d", r.IntN(n+1))})
		}
		count := map[string]int{}
		for _, m := range in {
			count[m.name]++
		}
		var want []string
		var wantSkipped []string
		for _, m := range in {
			if count[m.name] == 1 {
				want = append(want, m.name+" "+m.remote)
			} else {
				wantSkipped = append(wantSkipped, m.remote+" "+m.name)
			}
		}
		slices.Sort(want)
		slices.Sort(wantSkipped)
		sorted := slices.Clone(in)
		sortMirrors(sorted)
		kept, skipped := distinct(sorted, nil)
		var got, gotSkipped []string
		for _, m := range kept {
			got = append(got, m.name+" "+m.remote)
		}
		for _, s := range skipped {
			if s.Reason != ReasonNameCollision || !strings.Contains(s.Message, fmt.Sprintf("%d remote Services", count[s.Mirror])) {
				t.Fatalf("round %d: %+v", round, s)
			}
			gotSkipped = append(gotSkipped, s.Service+" "+s.Mirror)
		}
		if !slices.Equal(got, want) || !slices.Equal(gotSkipped, wantSkipped) {
			t.Fatalf("round %d: kept %v skipped %v\nwant %v and %v", round, got, gotSkipped, want, wantSkipped)
		}
	}
}
