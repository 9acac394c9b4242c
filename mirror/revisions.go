package mirror

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/source"
)

// RevisionsFile, in the owned path, records which remote state the files
// beside it were rendered from: a line per cluster, "<cluster>
// <resource>=<resourceVersion> …". It travels with the files, whichever
// replica or commit wrote them (a commit on top by someone else changes
// nothing under the owned path), and is rewritten only with them.
// Kustomize and Argo CD's directory sources ignore it.
const RevisionsFile = ".ssm-revisions"

// revisionKey names a cluster in RevisionsFile and commit trailers.
func revisionKey(name string) string {
	if name == "" {
		return "remote"
	}
	return name
}

// formatRevisions writes revisions, sorted by cluster.
func formatRevisions(revs map[string]source.Revisions) []string {
	var out []string
	for _, c := range slices.Sorted(maps.Keys(revs)) {
		out = append(out, c+" "+revs[c].String())
	}
	return out
}

// parseRevisions reads RevisionsFile; a line it cannot read is skipped, as
// it only ever makes a replica more careful.
func parseRevisions(b []byte) map[string]source.Revisions {
	out := map[string]source.Revisions{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		cluster, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		if r, err := source.ParseRevisions(rest); err == nil {
			out[cluster] = r
		}
	}
	return out
}

// behind returns, for every cluster whose state this replica holds is
// older, in some resource, than the one the stored files were rendered
// from, why. A render of it would move that cluster's mirrors back: the
// caller writes nothing and waits for its caches. A recorded revision newer
// than the cluster itself is from another history (the cluster was
// rebuilt, or its etcd restored) and does not count.
func (p *pipeline) behind(ctx context.Context, in input, stored map[string]source.Revisions) []string {
	var out []string
	for i, c := range in.cfg.Clusters {
		ours, theirs := in.revisions[i], stored[revisionKey(c.Name)]
		older := ours.Older(theirs)
		if ours == nil || len(older) == 0 {
			continue
		}
		current, err := p.clusters[i].w.CurrentRevisions(ctx)
		if err == nil && len(current.Older(theirs)) > 0 {
			p.opts.Logger.Warn("the recorded state is newer than the cluster itself (rebuilt, or restored from a backup): rendering anyway",
				"cluster", c.Name, "recorded", theirs.String(), "cluster now", current.String())
			continue
		}
		out = append(out, fmt.Sprintf("%s (%s: this replica %s, stored %s)", revisionKey(c.Name), strings.Join(older, ", "), ours, theirs))
	}
	return out
}

// withRevisions records in files what they were rendered from: the
// clusters read, and what was stored for those not read. files is the
// render's own map (or the guard's copy of it), which nothing else holds:
// the record is added to it, not to a copy of 10,000 entries a sync.
func withRevisions(files fileset.Files, in input, stored map[string]source.Revisions) []string {
	revs := map[string]source.Revisions{}
	for i, c := range in.cfg.Clusters {
		key := revisionKey(c.Name)
		switch {
		case in.revisions[i] != nil:
			revs[key] = in.revisions[i]
		case stored[key] != nil:
			revs[key] = stored[key]
		}
	}
	if len(revs) == 0 {
		return nil
	}
	lines := formatRevisions(revs)
	files[RevisionsFile] = []byte(strings.Join(lines, "\n") + "\n")
	trailers := make([]string, len(lines))
	for i, l := range lines {
		trailers[i] = "Ssm-Revision: " + l
	}
	return trailers
}
