package mirror

import (
	"slices"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
)

// guardMirrorOf is how the guard knows whose mirror a file is, for cfg's
// output: nil (generate.MirrorOf) but for the MCS API.
func guardMirrorOf(cfg config.Config) func(string) (string, bool) {
	if cfg.API == generate.APIMCS {
		return generate.ClusterSetMirrorOf
	}
	return nil
}

// guardRender runs the removal guard over a render of in. The MCS API's
// imports and namespaces feed on several clusters' files: putting back
// only a held cluster's removed files would leave them without their
// import, or its namespace. So a cluster whose removals are held is
// rendered again as unread, keeping everything stored for it and what it
// feeds, as during an outage, until the remote shows its exports again,
// the limit is raised or an operator approves. It returns the input the
// files were rendered from, for the record of revisions.
func guardRender(in input, gi guardInput, stored fileset.Stored) (input, fileset.Files, []Removal, error) {
	files, decisions := guard(gi)
	if in.cfg.API != generate.APIMCS {
		return in, files, decisions, nil
	}
	var held []string
	for _, d := range decisions {
		if d.Verdict == HeldBack {
			held = append(held, d.Cluster)
		}
	}
	if len(held) == 0 {
		return in, files, decisions, nil
	}
	frozen := in
	frozen.states, frozen.revisions = slices.Clone(in.states), slices.Clone(in.revisions)
	for i, c := range in.cfg.Clusters {
		if slices.Contains(held, c.Name) {
			frozen.states[i] = nil
			if frozen.revisions != nil {
				frozen.revisions[i] = nil
			}
		}
	}
	res, err := frozen.render(stored)
	if err != nil {
		return in, nil, nil, err
	}
	gi.files = res.Files
	files, _ = guard(gi)
	return frozen, files, decisions, nil
}
