package main

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/gitsync"
	"github.com/ssm-dev/ssm/source"
)

// clusterWatch is one cluster of --config as run watches it.
type clusterWatch struct {
	spec                   clusterSpec
	mirror, global, manual *source.Watcher
}

func (cw *clusterWatch) field(what string) **source.Watcher {
	switch what {
	case "global":
		return &cw.global
	case "manual":
		return &cw.manual
	}
	return &cw.mirror
}

func (cw *clusterWatch) watchers() []*source.Watcher {
	var out []*source.Watcher
	for _, x := range []*source.Watcher{cw.mirror, cw.global, cw.manual} {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

func (cw *clusterWatch) synced() bool {
	for _, x := range cw.watchers() {
		if !x.Synced() {
			return false
		}
	}
	return true
}

func (cw *clusterWatch) state() clusterState {
	var st clusterState
	for _, what := range []string{"mirror", "global", "manual"} {
		if x := *cw.field(what); x != nil {
			*st.field(what) = x.State()
		}
	}
	return st
}

// multi watches every cluster of --config on its own: a cluster that is
// down keeps the state it last showed, and one never read yet keeps its
// files as they are stored, while the others render.
func (w watching) multi(c *cli.Context) (watchSet, error) {
	mc, err := multiConfigFrom(c)
	if err != nil {
		return watchSet{}, err
	}
	for _, n := range mc.notes {
		w.logger.Warn("config: " + n)
	}
	var cws []*clusterWatch
	var all []*source.Watcher
	for _, s := range mc.clusters {
		if s.from != "" {
			return watchSet{}, fmt.Errorf("cluster %s: fromFile is for ssm render: run watches the cluster", s.name)
		}
		client, err := w.client(s.conn, s.name)
		if err != nil {
			return watchSet{}, err
		}
		cw := &clusterWatch{spec: s}
		for _, n := range s.selections() {
			x, err := w.watch(client, *n.sel, s.name, s.resync)
			if err != nil {
				return watchSet{}, fmt.Errorf("cluster %s: %w", s.name, err)
			}
			*cw.field(n.what) = x
		}
		all = append(all, cw.watchers()...)
		cws = append(cws, cw)
	}
	ws := watchSet{watchers: all, subject: "ssm: mirror Services of " + mc.names(), describe: mc.names()}
	ws.synced = func() bool {
		return !slices.ContainsFunc(cws, func(cw *clusterWatch) bool { return !cw.synced() })
	}
	lastKept := ""
	ws.render = func() (generate.Result, []string, bool, error) {
		states, keep, ok := mc.snapshot(cws)
		if k := strings.Join(keep, " "); k != lastKept {
			w.logger.Info("clusters not read yet keep their stored files", "kept", keep)
			lastKept = k
		}
		if !ok {
			return generate.Result{}, nil, false, nil
		}
		res, err := generate.Tree(mc.tree(states), mc.global)
		return res, keep, err == nil, err
	}
	return ws, nil
}

// snapshot takes the state of every cluster whose caches have synced, and
// the directories to keep for the others; ok is false when none has.
func (mc multiConfig) snapshot(cws []*clusterWatch) (states []clusterState, keep []string, ok bool) {
	states = make([]clusterState, len(cws))
	localSynced := true
	for i, cw := range cws {
		if cw.synced() {
			states[i], ok = cw.state(), true
			continue
		}
		localSynced = localSynced && !cw.spec.local
		if !cw.spec.local {
			keep = append(keep, cw.spec.name+"/")
		}
		keep = append(keep, path.Join(generate.GlobalDir, cw.spec.name)+"/")
	}
	// A NodePort remote's hand-written endpoints come from the local cluster.
	if mc.manualFor != "" && !localSynced && !slices.Contains(keep, mc.manualFor+"/") {
		keep = append(keep, mc.manualFor+"/")
	}
	return states, keep, ok
}

// keep replaces, in files, what lies under the keep directories with what
// the sink holds there.
func (p *pipeline) keep(ctx context.Context, files gitsync.Files, keep []string) (gitsync.Files, error) {
	changes, err := p.sink.Diff(ctx, files)
	if err != nil {
		return nil, fmt.Errorf("read what is stored of clusters not read yet: %w", err)
	}
	return keepStored(files, changes, keep), nil
}

// keepStored undoes the changes under the keep directories, keeps the
// global Services whose slices it kept, and lists the result anew in the
// kustomizations.
func keepStored(files gitsync.Files, changes []gitsync.Change, keep []string) gitsync.Files {
	under := func(p string) bool {
		return slices.ContainsFunc(keep, func(k string) bool { return strings.HasPrefix(p, k) })
	}
	out := maps.Clone(files)
	removed := map[string][]byte{}
	for _, ch := range changes {
		switch {
		case !under(ch.Path):
			if ch.Kind == gitsync.Removed {
				removed[ch.Path] = ch.Old
			}
		case ch.Kind == gitsync.Added:
			delete(out, ch.Path)
		default:
			out[ch.Path] = ch.Old
		}
	}
	for p := range out {
		if under(p) && strings.HasPrefix(p, generate.GlobalDir+"/") && path.Base(p) != generate.KustomizationFile {
			svc := path.Join(generate.GlobalDir, path.Base(p))
			if old, ok := removed[svc]; ok {
				out[svc] = old
			}
		}
	}
	generate.Kustomize(out)
	return out
}
