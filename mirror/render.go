package mirror

import (
	"path"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

// clusterState is what was read of one cluster, by role; nil when the
// cluster has not been read (yet).
type clusterState map[config.Role]source.State

// input is what one render is made of: a state per cluster of the
// configuration, in its order, and (Run) the resource versions each state
// is at least as new as.
type input struct {
	cfg       config.Config
	states    []clusterState
	revisions []source.Revisions
	// caches keep each cluster's rendered mirrors between renders (Run),
	// so that a render costs what changed; nil renders everything.
	caches []*generate.Cache
}

// cache is the cache of cluster i, or nil.
func (in input) cache(i int) *generate.Cache {
	if in.caches == nil {
		return nil
	}
	return in.caches[i]
}

// unread reports the clusters whose stored files stand for them: those not
// read, and, while the local cluster is not read and its Services decide
// which names the mirrors may take, every remote.
func (in input) unread() []bool {
	out := make([]bool, len(in.states))
	localUnread := false
	for i, st := range in.states {
		out[i] = st == nil
		c := in.cfg.Clusters[i]
		_, owners := c.Selection(config.RoleLocal)
		localUnread = localUnread || (out[i] && c.Local && owners)
	}
	for i, c := range in.cfg.Clusters {
		if localUnread && !c.Local {
			out[i] = true
		}
	}
	return out
}

// kept names the directories whose stored files are kept, for logs.
func (in input) kept() []string {
	var out []string
	for i, u := range in.unread() {
		c := in.cfg.Clusters[i]
		if !u || !in.cfg.Owns(c) { // another shard's are kept for good, and said so once
			continue
		}
		if !c.Local {
			out = append(out, c.Name+"/")
		}
		if in.states[i] == nil && in.cfg.API != generate.APIMCS {
			out = append(out, path.Join(generate.GlobalDir, c.Name)+"/")
		}
	}
	return out
}

// render renders in; stored is read only when a cluster is unread, and
// by the MCS API, whose ClusterSetIPs it holds.
func (in input) render(stored fileset.Stored) (generate.Result, error) {
	cfg := in.cfg
	local := in.local()
	if cfg.Layout == config.Flat {
		st := generateState(in.states[0][config.RoleMirrored])
		st.Local = local
		res, err := generate.ManifestsCached(st, cfg.Clusters[0].Options, in.cache(0))
		return stamped(res, cfg.Clusters[0].Name), err
	}
	unread := in.unread()
	if cfg.API == generate.APIMCS {
		var cache *generate.Cache // the local cluster's, which renders no mirrors of its own
		if i := cfg.Local(); i >= 0 {
			cache = in.cache(i)
		}
		return generate.ClusterSetCached(in.clusters(unread), cfg.MCS, local, stored.Files(), cache)
	}
	clusters := make([]generate.Cluster, len(cfg.Clusters))
	for i, c := range cfg.Clusters {
		st := in.states[i]
		clusters[i] = generate.Cluster{Name: c.Name, Local: c.Local, Options: c.Options, Unread: unread[i], Cache: in.cache(i),
			Mirror: generateState(st[config.RoleMirrored]), Global: generateState(st[config.RoleGlobal])}
		if unread[i] {
			clusters[i].Mirror, clusters[i].Global, clusters[i].Stored = generate.State{}, generate.State{}, stored.Files()
		}
	}
	return generate.Tree(clusters, cfg.Global, local)
}

// clusters are the clusters of a clusterset render (the MCS API): each
// remote's exports, or nothing when it is unread.
func (in input) clusters(unread []bool) []generate.Cluster {
	out := make([]generate.Cluster, len(in.cfg.Clusters))
	for i, c := range in.cfg.Clusters {
		out[i] = generate.Cluster{Name: c.Name, Local: c.Local, Unread: unread[i], Options: c.Options} // its deny ranges
		if !unread[i] {
			out[i].Mirror = generateState(in.states[i][config.RoleMirrored])
		}
	}
	return out
}

// local is what the local cluster holds where the mirrors go: nil when it
// is not read for that (or not yet, when every remote is unread anyway).
func (in input) local() *generate.Local {
	i := in.cfg.Local()
	if i < 0 || in.states[i] == nil {
		return nil
	}
	st, ok := in.states[i][config.RoleLocal]
	if !ok {
		return nil
	}
	return &generate.Local{Services: st.Services, Namespaces: st.Namespaces, ServiceImports: st.ServiceImports, EndpointSlices: st.EndpointSlices}
}

// generateState is what generate renders of a source state.
func generateState(st source.State) generate.State {
	return generate.State{Services: st.Services, Endpoints: st.Endpoints, EndpointSlices: st.EndpointSlices, Nodes: st.Nodes,
		ServiceExports: st.ServiceExports}
}

// stamped names the cluster a flat render is of, as a Tree's results do,
// for logs and metrics.
func stamped(res generate.Result, cluster string) generate.Result {
	for i := range res.Mirrors {
		res.Mirrors[i].Cluster = cluster
	}
	for i := range res.Skipped {
		res.Skipped[i].Cluster = cluster
	}
	for i := range res.Warnings {
		res.Warnings[i].Cluster = cluster
	}
	res.ClusterObjects = map[string]map[string]int{cluster: res.Objects}
	return res
}
