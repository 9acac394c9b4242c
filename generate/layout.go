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
	rest := strings.Split(p, "/")
	if tree {
		switch {
		case len(rest) < 2: // a flat output's mirror, under a tree now
			return "", true
		case rest[0] == GlobalDir && len(rest) == 2:
			return GlobalDir, true
		case rest[0] == GlobalDir:
			return rest[1], true
		}
		group, rest = rest[0], rest[1:]
	}
	if len(rest) == 2 && rest[0] == NamespacesDir && rest[1] == NamespacesFile {
		return "", false // NodePort mode's namespaces
	}
	return group, true
}
