package config

import (
	"fmt"
	"strings"
	"testing"
)

// Every remote is rendered by exactly one shard, the same one whichever
// replica computes it; the remotes spread evenly; and going from n to n+1
// shards moves only remotes to the new shard, about 1/(n+1) of them.
func TestShardOf(t *testing.T) {
	const remotes = 3000
	for _, n := range []int{1, 2, 3, 5, 8} {
		counts := make([]int, n)
		moved := 0
		for r := range remotes {
			name := fmt.Sprintf("cluster-%04d", r)
			s := ShardOf(name, n)
			if s < 0 || s >= n {
				t.Fatalf("ShardOf(%q, %d) = %d", name, n, s)
			}
			owners := 0
			for i := range n {
				if (Shard{Index: i, Count: n}).Owns(name) {
					owners++
				}
			}
			if owners != 1 {
				t.Fatalf("%s is owned by %d of %d shards", name, owners, n)
			}
			counts[s]++
			if next := ShardOf(name, n+1); next != s {
				moved++
				if next != n {
					t.Fatalf("%s moved from shard %d to %d when shard %d came", name, s, next, n)
				}
			}
		}
		for i, c := range counts {
			if want := remotes / n; c < want*85/100 || c > want*115/100 {
				t.Errorf("%d shards: shard %d renders %d of %d remotes, want about %d", n, i, c, remotes, want)
			}
		}
		if want := remotes / (n + 1); moved < want*80/100 || moved > want*120/100 {
			t.Errorf("%d → %d shards moved %d remotes, want about %d", n, n+1, moved, want)
		}
	}
}

func TestResolveShard(t *testing.T) {
	path := writeConfig(t, `
global: {mirrorNamespace: m, mirrorSvcLabelSelector: a=b}
remoteClusters:
- {name: east, servicePrefix: east, kubeConfigPath: k}
- {name: west, servicePrefix: west, kubeConfigPath: k}
- {name: north, servicePrefix: north, kubeConfigPath: k}
`)
	owned := map[string]int{}
	for i := range 2 {
		cfg, err := Resolve(path, Overrides{Shards: ptr(2), ShardIndex: ptr(i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cfg.Clusters {
			if cfg.Owns(c) {
				owned[c.Name]++
			}
		}
	}
	for _, name := range []string{"east", "west", "north"} {
		if owned[name] != 1 {
			t.Errorf("%s rendered by %d of 2 shards", name, owned[name])
		}
	}
	global := writeConfig(t, `
global: {mirrorNamespace: m, mirrorSvcLabelSelector: a=b, globalSvcLabelSelector: g=h}
remoteClusters: [{name: east, servicePrefix: east, kubeConfigPath: k}]
`)
	for _, tc := range []struct {
		name, path string
		ov         Overrides
		want       string
	}{
		{name: "index past the count", path: path, ov: Overrides{Shards: ptr(2), ShardIndex: ptr(2)}, want: "--shard-index 2: want less than --shards 2"},
		{name: "negative", path: path, ov: Overrides{Shards: ptr(-1)}, want: "want 0 <= index < shards"},
		{name: "flags, not a file", ov: Overrides{LabelSelector: ptr("a"), ServicePrefix: ptr("p"), MirrorNamespace: ptr("m"), Shards: ptr(2)},
			want: "--shards spreads the remotes of a configuration file"},
		{name: "global Services", path: global, ov: Overrides{Shards: ptr(2)}, want: "global Services merge every remote's Services"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Resolve(tc.path, tc.ov); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
