package config

import (
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/ssm-dev/ssm/generate"
)

// Shard spreads the remotes of a configuration file over replicas that all
// write the same branch: replica Index of Count renders the remotes
// assigned to it and keeps the others' files as they are stored, as it
// keeps those of a remote not read yet. The assignment is rendezvous
// hashing of the remote's name: every replica computes the same one
// without asking anyone, and a change of Count moves only the remotes whose
// highest-scoring replica changed. Count 0 or 1 renders every remote.
//
// Index comes from a StatefulSet's pod index (the downward API's
// apps.kubernetes.io/pod-index label), so each shard is exactly one pod:
// Kubernetes never runs two pods of one ordinal at once, and restarts the
// one that dies, which keeps its remotes' mirrors as committed meanwhile.
type Shard struct {
	Index, Count int
}

// Owns reports whether this replica renders the remote named name.
func (s Shard) Owns(name string) bool {
	if s.Count <= 1 {
		return true
	}
	return ShardOf(name, s.Count) == s.Index
}

// ShardOf is the shard, of count, that renders the remote named name: the
// one whose hash with the name is highest.
func ShardOf(name string, count int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	key := h.Sum64()
	best, bestScore := 0, uint64(0)
	for i := range count {
		if s := mix(key + uint64(i)*0x9e3779b97f4a7c15); i == 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// mix is splitmix64's finalizer: every bit of x moves every bit of the
// result, so the scores of one name for two shards are unrelated.
func mix(x uint64) uint64 {
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Owns reports whether this replica reads and renders cluster c: the
// local cluster always (every shard checks the names it holds), a remote
// when its shard is this one.
func (c Config) Owns(cl Cluster) bool { return cl.Local || c.Shard.Owns(cl.Name) }

// checkShard refuses a sharding that cannot keep its promise: exactly one
// replica writes each remote's files, and nothing two remotes share.
func (c Config) checkShard() error {
	s := c.Shard
	switch {
	case s.Count < 0 || s.Index < 0:
		return fmt.Errorf("--shards %d, --shard-index %d: want 0 <= index < shards", s.Count, s.Index)
	case s.Count <= 1 && s.Index == 0:
		return nil
	case s.Index >= s.Count:
		return fmt.Errorf("--shard-index %d: want less than --shards %d (indexes count from 0, as a StatefulSet's pods do)", s.Index, s.Count)
	case c.Layout != Tree:
		return errors.New("--shards spreads the remotes of a configuration file (--config) over replicas: one remote has nothing to spread")
	case c.API == generate.APIMCS:
		return errors.New("--shards: a ServiceImport merges every cluster's export of a Service, and its ClusterSetIPs are allocated across all imports: " +
			"one replica cannot render its share of them; run replicas without --shards (they agree through the branch)")
	case c.Global.MirrorNamespace != "" && c.globalServices():
		return errors.New("--shards: global Services merge every remote's Services into one object, which one replica cannot render from its share of them: " +
			"shard a configuration without globalSvcLabelSelector")
	}
	return nil
}

// globalServices reports whether any cluster is read for global Services.
func (c Config) globalServices() bool {
	for _, cl := range c.Clusters {
		if _, ok := cl.Selection(RoleGlobal); ok {
			return true
		}
	}
	return false
}
