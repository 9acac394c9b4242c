package generate

import (
	"maps"
	"path"
	"slices"
	"strings"
)

// keepStored takes from stored, for every cluster not read yet, its
// EndpointSlice files as they are, and the import files they feed that no
// cluster read renders now: a cluster that is down since ssm started keeps
// what was written for it, and its imports keep their ClusterSetIPs.
func (cs *clusterSet) keepStored(res *Result, clusters []Cluster, stored map[string][]byte) {
	for _, c := range clusters {
		if !c.Unread || c.Local {
			continue
		}
		own := c.Name + "/"
		for p, b := range stored { // the order makes no difference: each file is copied as stored
			rest, ok := strings.CutPrefix(p, own)
			if !ok || path.Base(p) == KustomizationFile {
				continue
			}
			res.Files[p] = b
			imp := ImportsDir + "/" + rest
			if _, rendered := res.Files[imp]; !rendered {
				if b, ok := stored[imp]; ok {
					res.Files[imp] = b
				}
			}
		}
	}
}

// namespaces renders the namespaces of the imports (rendered, or kept
// from stored) that the local cluster lacks, as NodePort mode does: ssm
// creates them, labelled as its own, and they are pruned with their last
// import unless they hold Services of others. With no cluster read (the
// local one included), the stored file stays as it is.
func (cs *clusterSet) namespaces(res *Result, clusters []Cluster, stored map[string][]byte) error {
	file := NamespacesDir + "/" + NamespacesFile
	if !slices.ContainsFunc(clusters, func(c Cluster) bool { return !c.Local && !c.Unread }) {
		if b, ok := stored[file]; ok {
			res.Files[file] = b
		}
		return nil
	}
	needed := map[string]bool{}
	for p := range res.Files {
		if ns, ok := importNamespace(p); ok {
			needed[ns] = true
		}
	}
	var names []localNamespace
	for _, n := range slices.Sorted(maps.Keys(needed)) {
		if render, keep := cs.owners.namespace(n); render {
			names = append(names, localNamespace{name: n, keep: keep})
		}
	}
	if len(names) == 0 {
		return nil
	}
	counts := map[string]int{}
	b, err := namespacesFile(names, counts)
	if err != nil {
		return err
	}
	res.Files[file] = b
	for kind, n := range counts {
		res.Objects[kind] += n
		if res.ClusterObjects[ImportsDir] == nil {
			res.ClusterObjects[ImportsDir] = map[string]int{}
		}
		res.ClusterObjects[ImportsDir][kind] += n
	}
	return nil
}

// importNamespace is the namespace of the import file at p, if p is one:
// imports/<ns>/<name>.yaml (by namespace), or imports/<ns>.<name>.yaml (a
// namespace holds no dot), whichever layout wrote it.
func importNamespace(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, ImportsDir+"/")
	if !ok || path.Base(p) == KustomizationFile || !strings.HasSuffix(p, ".yaml") {
		return "", false
	}
	ns, _, nested := strings.Cut(rest, "/")
	if !nested {
		ns, _, _ = strings.Cut(rest, ".")
	}
	return ns, ns != ""
}

// ClusterSetMirrorOf says whose mirror the file at p (from the root) of a
// clusterset is, for the removal guard: a cluster's EndpointSlices of an
// import, <cluster>/…, are that cluster's mirror (its export of the
// Service). The ServiceImports and namespaces are no mirrors of their own:
// an import goes with the last export of it, and a cluster whose removals
// are held keeps what it feeds (its imports, their namespaces).
func ClusterSetMirrorOf(p string) (group string, ok bool) {
	if strings.HasPrefix(p, ImportsDir+"/") || strings.HasPrefix(p, NamespacesDir+"/") {
		return "", false
	}
	return MirrorOf(p, true)
}
