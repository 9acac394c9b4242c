package generate

import (
	"path"
	"strings"
)

// MirrorOf says whose mirror the file at p (a path from the root of an
// output) is. In a flat output (one remote, tree false) every mirror is
// the remote's: group "". In a Tree, a mirror under <cluster>/ is that
// cluster's, a global Service global/gl-….yaml is GlobalDir's, and its
// EndpointSlices under global/<cluster>/ are that cluster's; a mirror at
// the root (a flat output a Tree now replaces) is group "". ok is false
// for what is not a mirror: kustomizations, NodePort mode's namespaces,
// and anything but a visible .yaml file.
func MirrorOf(p string, tree bool) (group string, ok bool) {
	if base := path.Base(p); base == KustomizationFile || !strings.HasSuffix(base, ".yaml") || strings.HasPrefix(base, ".") {
		return "", false
	}
	rest := p // it allocates nothing: the guard asks for every stored file
	if tree {
		if p == NamespacesDir+"/"+NamespacesFile {
			return "", false // the MCS API's namespaces
		}
		first, after, nested := strings.Cut(p, "/")
		switch {
		case !nested: // a flat output's mirror, under a tree now
			return "", true
		case first == GlobalDir && !strings.Contains(after, "/"):
			return GlobalDir, true
		case first == GlobalDir:
			cluster, _, _ := strings.Cut(after, "/")
			return cluster, true
		}
		group, rest = first, after
	}
	if rest == NamespacesDir+"/"+NamespacesFile {
		return "", false // NodePort mode's namespaces
	}
	return group, true
}
