package generate

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
)

// GlobalDir holds the global Services and, in one subdirectory per
// contributing cluster, their EndpointSlices.
const GlobalDir = "global"

// Cluster is one cluster of a multi-cluster render.
type Cluster struct {
	// Name names the cluster's directory, and labels and annotates what is
	// rendered from it. See ClusterName for what it may be.
	Name string
	// Local marks the cluster ssm renders for: it has no mirrors of its own
	// and only contributes endpoints to global Services.
	Local bool
	// Options and Mirror render the cluster's mirrors into <Name>/, as
	// Manifests would; Options.Cluster is set to Name.
	Options Options
	Mirror  State
	// Global holds the cluster's Services selected as global, with their
	// endpoints.
	Global State
	// Unread marks a cluster not read yet (its remote is down since the
	// caller started, say): nothing is rendered for it, and its files are
	// taken from Stored as they are, so that it keeps what was written for
	// it before.
	Unread bool
	// Stored is the tree as it is stored now, paths from its root; only an
	// Unread cluster's files (and the global Services they feed) are read.
	Stored map[string][]byte
	// Cache, when not nil, holds the cluster's mirrors between renders (see
	// ManifestsCached).
	Cache *Cache
}

// GlobalOptions configures global Services.
type GlobalOptions struct {
	// MirrorNamespace is where global Services and their slices live.
	MirrorNamespace string
	// RoutingStrategy is a label selector: a global Service is rendered with
	// local-first topology hints when a contributing Service matches it.
	// Empty means never.
	RoutingStrategy string
	// LocalZones are the local cluster's zones: every local endpoint is
	// hinted for all of them. Empty means ["local"].
	LocalZones []string
	// Adopt lists the local Services ("namespace/name") a global Service
	// may take over although ssm did not render them (see Local).
	Adopt []string
}

// ClusterName is what a cluster may be called: a label value, which is also
// a directory name. semaphore-service-mirror's examples use capitals and
// underscores.
var ClusterName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)

// ClusterSlug is the form of a cluster name that goes into object names:
// lower case, with '_' as '-'.
func ClusterSlug(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// Tree renders several clusters into one tree: each remote's mirrors under
// <name>/, the global Services under global/, and a kustomization.yaml in
// every directory, so that the root applies everything. A cluster that
// renders nothing has no directory. local is what the local cluster holds
// where the mirrors go (nil: not read), for every remote and the global
// Services.
func Tree(clusters []Cluster, global GlobalOptions, local *Local) (Result, error) {
	if err := checkClusters(clusters); err != nil {
		return Result{}, err
	}
	res := Result{Files: map[string][]byte{}, Objects: map[string]int{}}
	for _, c := range clusters {
		if c.Local || c.Unread {
			continue
		}
		opts := c.Options
		opts.Cluster = c.Name
		st := c.Mirror
		st.Local = local
		r, err := ManifestsCached(st, opts, c.Cache)
		if err != nil {
			return Result{}, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		res.add(c.Name, r)
	}
	g, err := globalServices(clusters, global, local)
	if err != nil {
		return Result{}, err
	}
	res.add("", g)
	for _, c := range clusters {
		if c.Unread {
			keepStored(res.Files, c)
		}
	}
	Kustomize(res.Files)
	sortResult(&res)
	return res, nil
}

// keepStored copies an unread cluster's stored files into files: its
// directory, its global EndpointSlices, and the global Services those feed
// that no cluster read renders now.
func keepStored(files map[string][]byte, c Cluster) {
	own, slicesDir := c.Name+"/", path.Join(GlobalDir, c.Name)+"/"
	for p, b := range c.Stored {
		switch {
		case path.Base(p) == KustomizationFile:
		case !c.Local && strings.HasPrefix(p, own):
			files[p] = b
		case strings.HasPrefix(p, slicesDir):
			files[p] = b
			svc := path.Join(GlobalDir, path.Base(p))
			if _, rendered := files[svc]; !rendered {
				if stored, ok := c.Stored[svc]; ok {
					files[svc] = stored
				}
			}
		}
	}
}

// add merges r, rendered for cluster (empty for global Services) into
// res: its files under the cluster's directory, its kustomizations left
// out since Tree writes them all at the end.
func (res *Result) add(cluster string, r Result) {
	for p, b := range r.Files {
		if path.Base(p) != KustomizationFile {
			res.Files[path.Join(cluster, p)] = b
		}
	}
	for _, m := range r.Mirrors {
		m.Cluster, m.File = cmpOr(m.Cluster, cluster), path.Join(cluster, m.File)
		res.Mirrors = append(res.Mirrors, m)
	}
	for _, s := range r.Skipped {
		s.Cluster = cmpOr(s.Cluster, cluster)
		res.Skipped = append(res.Skipped, s)
	}
	for _, s := range r.Warnings {
		s.Cluster = cmpOr(s.Cluster, cluster)
		res.Warnings = append(res.Warnings, s)
	}
	if res.ClusterObjects == nil {
		res.ClusterObjects = map[string]map[string]int{}
	}
	group := cmpOr(cluster, GlobalDir)
	for k, n := range r.Objects {
		res.Objects[k] += n
		if res.ClusterObjects[group] == nil {
			res.ClusterObjects[group] = map[string]int{}
		}
		res.ClusterObjects[group][k] += n
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortResult(res *Result) {
	slices.SortFunc(res.Mirrors, func(a, b Mirror) int { return strings.Compare(a.File, b.File) })
	bySvc := func(a, b Skipped) int {
		return strings.Compare(a.Cluster+"\x00"+a.Service+"\x00"+a.Reason, b.Cluster+"\x00"+b.Service+"\x00"+b.Reason)
	}
	slices.SortStableFunc(res.Skipped, bySvc)
	slices.SortStableFunc(res.Warnings, bySvc)
}

// checkClusters rejects names that would share a directory or an object
// name: duplicates (also by slug, and in any case, as case-insensitive
// file systems would merge them), "global", and more than one local cluster.
func checkClusters(clusters []Cluster) error {
	var errs []error
	seen := map[string]string{}
	locals := 0
	for _, c := range clusters {
		if c.Local {
			locals++
		}
		if !ClusterName.MatchString(c.Name) {
			errs = append(errs, fmt.Errorf("cluster name %q: want 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", c.Name))
			continue
		}
		slug := ClusterSlug(c.Name)
		if slug == GlobalDir {
			errs = append(errs, fmt.Errorf("cluster name %q: %s is the directory of global Services", c.Name, GlobalDir))
		}
		if other, dup := seen[slug]; dup {
			errs = append(errs, fmt.Errorf("cluster names %q and %q: the same once lower-cased with '_' as '-'", other, c.Name))
		}
		seen[slug] = c.Name
	}
	if locals > 1 {
		errs = append(errs, errors.New("more than one local cluster"))
	}
	return errors.Join(errs...)
}

// keysSorted lists the keys of m in order.
func keysSorted[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
