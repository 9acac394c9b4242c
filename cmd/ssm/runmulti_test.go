package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/gitsync"
)

// TestKeepStored: cluster b has not been read: its directory and its
// global slices stay as stored, and so does the global Service only b
// contributed to; a's changes go through.
func TestKeepStored(t *testing.T) {
	rendered := gitsync.Files{
		"a/m1.yaml": []byte("a1 new"), "global/g1.yaml": []byte("g1"), "global/a/g1.yaml": []byte("a-g1"),
		"b/new.yaml": []byte("never rendered for an unread cluster, but must not appear"),
	}
	changes := []gitsync.Change{
		{Path: "a/m1.yaml", Kind: gitsync.Updated, Old: []byte("a1 old"), New: []byte("a1 new")},
		{Path: "a/gone.yaml", Kind: gitsync.Removed, Old: []byte("a gone")},
		{Path: "b/m2.yaml", Kind: gitsync.Removed, Old: []byte("b2")},
		{Path: "b/new.yaml", Kind: gitsync.Added, New: []byte("x")},
		{Path: "global/g2.yaml", Kind: gitsync.Removed, Old: []byte("g2")},
		{Path: "global/g3.yaml", Kind: gitsync.Removed, Old: []byte("g3")},
		{Path: "global/b/g2.yaml", Kind: gitsync.Removed, Old: []byte("b-g2")},
	}
	got := keepStored(rendered, changes, []string{"b/", "global/b/"})
	var paths []string
	for _, p := range got.Paths() {
		if !strings.HasSuffix(p, "kustomization.yaml") {
			paths = append(paths, p+"="+string(got[p]))
		}
	}
	want := []string{"a/m1.yaml=a1 new", "b/m2.yaml=b2", "global/a/g1.yaml=a-g1", "global/b/g2.yaml=b-g2", "global/g1.yaml=g1", "global/g2.yaml=g2"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("kept files (-want +got):\n%s", diff)
	}
	if k := string(got["global/kustomization.yaml"]); !strings.Contains(k, "- g2.yaml\n") || !strings.Contains(k, "- b\n") {
		t.Errorf("global/kustomization.yaml does not list what was kept:\n%s", k)
	}
	if _, ok := rendered["b/m2.yaml"]; ok {
		t.Error("keepStored changed its input")
	}
}
