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

// NodePortNamespaceOf returns, for the file of a NodePort mirror
// (mirrors/<ns>.<name>.yaml or mirrors/<ns>/<name>.yaml, under its
// cluster's folder in a tree), the namespaces file beside it and the
// mirror's namespace.
func NodePortNamespaceOf(p string) (file, ns string, ok bool) {
	dir, rest, found := strings.Cut(p, MirrorsDir+"/")
	if !found || (dir != "" && !strings.HasSuffix(dir, "/")) || strings.Count(dir, "/") > 1 || !strings.HasSuffix(rest, ".yaml") {
		return "", "", false
	}
	file = dir + NamespacesDir + "/" + NamespacesFile
	if ns, _, nested := strings.Cut(rest, "/"); nested {
		return file, ns, true
	}
	ns, _, dotted := strings.Cut(strings.TrimSuffix(rest, ".yaml"), ".")
	return file, ns, dotted
}

// GlobalServiceOf returns, for the file of a cluster's EndpointSlices of a
// global Service (global/<cluster>/<name>.yaml), the global Service's
// file (global/<name>.yaml).
func GlobalServiceOf(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, GlobalDir+"/")
	if !ok {
		return "", false
	}
	_, name, nested := strings.Cut(rest, "/")
	if !nested || strings.Contains(name, "/") {
		return "", false
	}
	return GlobalDir + "/" + name, true
}

// MirrorKey names a mirror's file by what it mirrors, whatever the layout
// puts it in: its name, and for NodePort mode, whose flat files are named
// <ns>.<name>.yaml and by-namespace ones <ns>/<name>.yaml, its namespace
// too. The removal guard takes a file moved by a change of --layout for
// no removal.
func MirrorKey(p string) string {
	if _, ns, ok := NodePortNamespaceOf(p); ok {
		base := path.Base(p)
		return ns + "/" + strings.TrimPrefix(base, ns+".")
	}
	return path.Base(p)
}
