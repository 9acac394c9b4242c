package e2e

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestLayoutMove moves a repository ssm writes from the flat layout to
// --layout namespaces the way docs/scale.md says: ssm is restarted with
// the flag, and the move is one ordinary commit. What applies the
// repository, Flux's kustomize-controller or a pruning `kubectl apply -k`,
// keeps every mirror object: the same UIDs before and after, nothing
// pruned, nothing created.
func TestLayoutMove(t *testing.T) {
	requireEnv(t)
	for _, applier := range []string{"kubectl", "flux"} {
		t.Run(applier, func(t *testing.T) { layoutMove(t, applier) })
	}
}

func layoutMove(t *testing.T, applier string) {
	ctx := t.Context()
	prefix, mirrors, label := "lm"+applier[:1], "layout-"+applier, "mirror.e2e/layout-"+applier
	ensureNamespace(t, local.Client, mirrors)
	sel := map[string]string{label: "true"}
	ep := func(ip string) []corev1.EndpointSubset {
		return []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(ip)}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}
	}
	spec := corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}
	for _, s := range []service{
		{ns: "lay-a", name: "web", labels: sel, spec: spec, subsets: ep("10.81.0.1")},
		{ns: "lay-a", name: "db", labels: sel, spec: spec, subsets: ep("10.81.0.2")},
		{ns: "lay-b", name: "api", labels: sel, spec: spec, subsets: ep("10.81.0.3")},
	} {
		s.apply(ctx, t, remote.Client)
	}
	const path = "clusters/local"
	bare := bareRepo(t)
	seed := gittest.Git(t, bare, "rev-parse", "main")
	args := []string{"--target-kube-config", remote.KubeConfig, "--label-selector", label + "=true",
		"--svc-prefix", prefix, "--mirror-ns", mirrors, "--endpoints-api", "both",
		"--git-url", bare, "--git-path", path, "--debounce", "200ms", "--max-delay", "1s"}
	mirror := func(ns, name string) string { return prefix + "-" + ns + "-73736d-" + name }
	flat := []string{mirror("lay-a", "db") + ".yaml", mirror("lay-a", "web") + ".yaml", mirror("lay-b", "api") + ".yaml", "kustomization.yaml"}
	byNS := []string{"kustomization.yaml", "lay-a/" + mirror("lay-a", "db") + ".yaml", "lay-a/" + mirror("lay-a", "web") + ".yaml",
		"lay-a/kustomization.yaml", "lay-b/" + mirror("lay-b", "api") + ".yaml", "lay-b/kustomization.yaml"}
	slices.Sort(flat)
	slices.Sort(byNS)
	under := func(files map[string]string) []string {
		var out []string
		for f := range files {
			if rel, ok := strings.CutPrefix(f, path+"/"); ok && rel != ".ssm-revisions" {
				out = append(out, rel)
			}
		}
		slices.Sort(out)
		return out
	}

	var apply func(commit string)
	switch applier {
	case "kubectl":
		apply = func(commit string) {
			dir := filepath.Join(checkout(t, bare), path)
			applyPruning(t, prefix, mirrors, dir)
			assertApplied(t, local, dir, mirrors, "mirror-svc-prefix-sync="+prefix)
		}
	case "flux":
		bin := fluxBin(t)
		fluxNS := "flux-layout"
		ensureNamespace(t, local.Client, fluxNS)
		startFlux(t, bin, fluxNS)
		src := newFluxSource(t, fluxNS, "ssm")
		fluxKustomization(t, src, "mirrors", path)
		apply = func(commit string) {
			src.publish(bare, commit)
			waitApplied(t, fluxNS, "mirrors", commit)
		}
	}
	uids := func() map[string]string {
		out := map[string]string{}
		for id, o := range liveObjects(t, local, mirrors, "mirror-svc-prefix-sync="+prefix) {
			out[id] = o.meta()["uid"].(string)
		}
		return out
	}

	// Flat, as every repository written before --layout is.
	run := startRun(t, "run-"+applier+"-flat", args...)
	head := waitMainMoves(t, bare, seed, "the flat commit", func(f map[string]string) bool {
		return slices.Equal(under(f), flat)
	})
	run.terminate()
	apply(head)
	before := uids()
	// Service, Endpoints and EndpointSlice of each mirror.
	if len(before) != 9 {
		t.Fatalf("%d mirror objects applied from the flat layout, want 9: %v", len(before), slices.Sorted(maps.Keys(before)))
	}

	// The move: ssm restarted with --layout namespaces.
	run = startRun(t, "run-"+applier+"-namespaces", append(args, "--layout", "namespaces")...)
	moved := waitMainMoves(t, bare, head, "the move committed", func(f map[string]string) bool {
		return slices.Equal(under(f), byNS)
	})
	if n := strings.TrimSpace(gittest.Git(t, bare, "rev-list", "--count", head+".."+moved)); n != "1" {
		t.Errorf("the move took %s commits, want 1", n)
	}
	// The files moved unchanged: the same blobs in folders.
	for _, m := range []struct{ ns, name string }{{"lay-a", "db"}, {"lay-a", "web"}, {"lay-b", "api"}} {
		was := gittest.Git(t, bare, "rev-parse", head+":"+path+"/"+mirror(m.ns, m.name)+".yaml")
		now := gittest.Git(t, bare, "rev-parse", moved+":"+path+"/"+m.ns+"/"+mirror(m.ns, m.name)+".yaml")
		if was != now {
			t.Errorf("%s/%s changed in the move: blob %s, was %s", m.ns, m.name, now, was)
		}
	}
	if logs := run.logs(); strings.Contains(logs, "removals held") || strings.Contains(logs, `msg="removing mirrors"`) {
		t.Errorf("the move was taken for removals:\n%s", logs)
	}
	apply(moved)
	if after := uids(); !maps.Equal(after, before) {
		t.Errorf("mirror objects after the move:\n%v\nwant the same objects, same UIDs:\n%v", after, before)
	}

	// And a change after the move lands in its folder, applied.
	service{ns: "lay-b", name: "api", labels: sel, spec: spec, subsets: ep("10.81.0.9")}.apply(ctx, t, remote.Client)
	changed := waitMainMoves(t, bare, moved, "a change in the namespaces layout", func(f map[string]string) bool {
		return strings.Contains(f[path+"/lay-b/"+mirror("lay-b", "api")+".yaml"], "10.81.0.9")
	})
	apply(changed)
	if after := uids(); !maps.Equal(after, before) {
		t.Errorf("mirror objects after a change: %v, want the same UIDs as %v", after, before)
	}
	run.terminate()
}
