package mirror

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/config"
	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

// tree is a stored or rendered file set: mirrors are named, everything
// else (kustomizations) is generated from them.
func tree(paths ...string) fileset.Files {
	f := fileset.Files{}
	for _, p := range paths {
		f[p] = []byte("content of " + p + "\n")
	}
	generate.Kustomize(f)
	return f
}

func limit(t *testing.T, s string) config.RemovalLimit {
	t.Helper()
	l, err := config.ParseRemovalLimit(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestGuard(t *testing.T) {
	five := []string{"a.yaml", "b.yaml", "c.yaml", "d.yaml", "e.yaml"}
	tests := []struct {
		name          string
		stored, files fileset.Files
		tree          bool
		limit         string
		approve       string // cluster whose held set is approved
		want          map[string]string
		kept          []string // removed files put back
	}{
		{name: "one of five", stored: tree(five...), files: tree(five[1:]...), limit: "50%", want: map[string]string{"": Allowed}},
		{name: "all five", stored: tree(five...), files: tree(), limit: "50%", want: map[string]string{"": HeldBack}, kept: five},
		{name: "three of five", stored: tree(five...), files: tree(five[3:]...), limit: "50%", want: map[string]string{"": HeldBack}, kept: five[:3]},
		{name: "approved", stored: tree(five...), files: tree(), limit: "50%", approve: "remote", want: map[string]string{"": Approved}},
		{name: "guard off", stored: tree(five...), files: tree(), limit: "100%", want: map[string]string{"": Allowed}},
		{name: "every removal held", stored: tree(five...), files: tree(five[1:]...), limit: "0", want: map[string]string{"": HeldBack}, kept: five[:1]},
		{name: "a count", stored: tree(five...), files: tree(five[3:]...), limit: "3", want: map[string]string{"": Allowed}},
		{name: "the last one", stored: tree("a.yaml"), files: tree(), limit: "50%", want: map[string]string{"": HeldBack}, kept: []string{"a.yaml"}},
		{name: "additions and updates flow", stored: tree("a.yaml"), files: tree("a.yaml", "b.yaml"), limit: "0", want: map[string]string{}},
		{name: "a move into folders is no removal", stored: tree(five...), files: tree("x/a.yaml", "x/b.yaml", "y/c.yaml", "y/d.yaml", "y/e.yaml"), limit: "0",
			want: map[string]string{}},
		{name: "a move and a removal", stored: tree(five...), files: tree("x/a.yaml", "x/b.yaml"), limit: "50%", want: map[string]string{"": HeldBack},
			kept: []string{"c.yaml", "d.yaml", "e.yaml"}},
		{name: "a NodePort move into folders is no removal", stored: tree("mirrors/x.a.yaml", "mirrors/x.b.yaml", "mirrors/y.c.yaml"),
			files: tree("mirrors/x/a.yaml", "mirrors/x/b.yaml", "mirrors/y/c.yaml"), limit: "0", want: map[string]string{}},
		{name: "nodeport namespaces are no mirrors", stored: tree("mirrors/x.a.yaml", "mirrors/x.b.yaml", "mirrors/x.c.yaml", "namespaces/namespaces.yaml"),
			files: tree("mirrors/x.b.yaml", "mirrors/x.c.yaml"), limit: "50%", want: map[string]string{"": Allowed}},
		{name: "per cluster", tree: true, limit: "50%",
			stored: tree("east/1.yaml", "east/2.yaml", "east/3.yaml", "east/4.yaml", "west/1.yaml", "west/2.yaml", "west/3.yaml", "west/4.yaml",
				"global/gl-x.yaml", "global/east/gl-x.yaml", "global/west/gl-x.yaml"),
			files: tree("east/1.yaml", "west/1.yaml", "west/2.yaml", "west/3.yaml", "global/gl-x.yaml", "global/west/gl-x.yaml"),
			want:  map[string]string{"east": HeldBack, "west": Allowed}, kept: []string{"east/2.yaml", "east/3.yaml", "east/4.yaml", "global/east/gl-x.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := guardInput{stored: tt.stored, files: tt.files, tree: tt.tree, limit: limit(t, tt.limit),
				names: func(g string) string {
					if g == "" {
						return "remote"
					}
					return g
				},
				approved: func(r Removal) bool { return r.Cluster == tt.approve }}
			out, decisions := guard(in)
			got := map[string]string{}
			for _, d := range decisions {
				got[strings.TrimPrefix(d.Cluster, "remote")] = d.Verdict
				if d.Digest != digest(d.Files) || d.Stored == 0 {
					t.Errorf("decision %+v", d)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			want := fileset.Files{}
			for p, b := range tt.files {
				want[p] = b
			}
			for _, p := range tt.kept {
				want[p] = tt.stored[p]
			}
			generate.Kustomize(want)
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if len(tt.kept) == 0 && len(out) != len(tt.files) {
				t.Error("files changed without a hold")
			}
		})
	}
}

func TestApprovals(t *testing.T) {
	a := NewApprovals()
	held := Removal{Cluster: "east", Files: []string{"a.yaml"}, Digest: digest([]string{"a.yaml"}), Verdict: HeldBack}
	if err := a.Approve("east", held.Digest); err == nil {
		t.Error("approved a cluster that holds nothing")
	}
	a.record([]Removal{held}, false)
	if got := a.Held(); len(got) != 1 || got[0].Cluster != "east" {
		t.Fatalf("held = %+v", got)
	}
	if err := a.Approve("east", "0000"); err == nil || !strings.Contains(err.Error(), "another set of removals than 0000") ||
		strings.Contains(err.Error(), held.Digest) {
		t.Errorf("a stale digest: %v (the refusal must not tell the digest held, %s)", err, held.Digest)
	}
	if a.isApproved(held) {
		t.Error("approved before Approve")
	}
	if err := a.Approve("east", held.Digest); err != nil {
		t.Fatal(err)
	}
	if !a.isApproved(held) {
		t.Error("not approved after Approve")
	}
	other := held
	other.Files, other.Digest = []string{"a.yaml", "b.yaml"}, digest([]string{"a.yaml", "b.yaml"})
	if a.isApproved(other) {
		t.Error("an approval let another set through")
	}
	done := held
	done.Verdict = Approved
	a.record([]Removal{done}, false) // the write failed: still approved
	if !a.isApproved(held) {
		t.Error("a failed write spent the approval")
	}
	a.record([]Removal{done}, true)
	if a.isApproved(held) || len(a.Held()) != 0 {
		t.Error("a written removal left its approval or hold")
	}
	var none *Approvals
	none.record([]Removal{held}, true)
	if none.isApproved(held) {
		t.Error("nil Approvals approved")
	}
}

// TestDigestNeedsTheProcessKey: a digest cannot be computed from the file
// names alone, as it could when it was their plain hash: whoever knows
// the remote's Service names must still read it from the log or the admin
// listener.
func TestDigestNeedsTheProcessKey(t *testing.T) {
	files := []string{"east-db-73736d-pg.yaml", "east-shop-73736d-web.yaml"}
	d := digest(files)
	plain := sha256.Sum256([]byte(strings.Join(files, "\n")))
	for _, guess := range []string{hex.EncodeToString(plain[:6]), hex.EncodeToString(plain[:8]), hex.EncodeToString(plain[:])} {
		if strings.HasPrefix(guess, d) || strings.HasPrefix(d, guess) {
			t.Errorf("digest %s is the plain hash of the file names", d)
		}
	}
	if len(d) != 16 || d != digest(files) || d == digest(files[:1]) {
		t.Errorf("digest %s: want 16 hex characters, stable within the process, different for another set", d)
	}
	if len(digestKey) != 32 || bytes.Count(digestKey, []byte{0}) == 32 {
		t.Errorf("digest key %x", digestKey)
	}
}

func TestRevisionsFile(t *testing.T) {
	stored := parseRevisions([]byte("east endpoints=12 services=10\nwest services=7\ngarbage\nbad x\n"))
	if len(stored) != 2 || stored["east"]["services"] != "10" || stored["west"]["services"] != "7" {
		t.Fatalf("parsed %v", stored)
	}
	in := input{cfg: config.Config{Clusters: []config.Cluster{{Name: "east"}, {Name: "west"}, {Name: "local", Local: true}}},
		revisions: []sourceRevisions{{"services": "11", "endpoints": "12"}, nil, {"endpointslices": "3"}}}
	files := fileset.Files{"a.yaml": nil}
	trailers := withRevisions(files, in, stored)
	want := "east endpoints=12 services=11\nlocal endpointslices=3\nwest services=7\n"
	if got := string(files[RevisionsFile]); got != want {
		t.Errorf("revisions file:\n%s\nwant:\n%s", got, want)
	}
	if len(trailers) != 3 || trailers[0] != "Ssm-Revision: east endpoints=12 services=11" {
		t.Errorf("trailers %q", trailers)
	}
	if !sameFiles(fileset.Files{"a": []byte("1"), RevisionsFile: []byte("x")}, fileset.Files{"a": []byte("1")}, RevisionsFile) ||
		sameFiles(fileset.Files{"a": []byte("1")}, fileset.Files{"a": []byte("2")}, RevisionsFile) ||
		sameFiles(fileset.Files{"a": []byte("1")}, fileset.Files{"a": []byte("1"), "b": nil}, RevisionsFile) {
		t.Error("sameFiles is wrong")
	}
}

type sourceRevisions = source.Revisions

// TestGuardKeepsWhatHeldMirrorsNeed: held mirrors are put back with what
// they depend on, which the render dropped along with them: NodePort
// mode's namespace of a held mirror (a prune of it would delete the
// mirror), and the global Service of a cluster's held global slices
// (whose own removal, under the name global, would be allowed), which no
// decision then claims to remove.
func TestGuardKeepsWhatHeldMirrorsNeed(t *testing.T) {
	ns := func(names ...string) []byte {
		var docs []string
		for _, n := range names {
			docs = append(docs, "apiVersion: v1\nkind: Namespace\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: ssm\n  name: "+n+"\n")
		}
		return []byte(strings.Join(docs, "---\n"))
	}
	names := func(g string) string { return map[string]string{"": "remote"}[g] + g }
	t.Run("nodeport namespace", func(t *testing.T) {
		stored := tree("mirrors/shop.a.yaml", "mirrors/shop.b.yaml", "mirrors/shop.c.yaml", "mirrors/web.x.yaml")
		stored["namespaces/namespaces.yaml"] = ns("shop", "web")
		files := tree("mirrors/web.x.yaml")
		files["namespaces/namespaces.yaml"] = ns("web")
		generate.Kustomize(files)
		out, decisions := guard(guardInput{stored: stored, files: files, limit: limit(t, "50%"), names: names, approved: func(Removal) bool { return false }})
		if len(decisions) != 1 || decisions[0].Verdict != HeldBack {
			t.Fatalf("decisions %+v", decisions)
		}
		if got := string(out["namespaces/namespaces.yaml"]); got != string(ns("shop", "web")) {
			t.Errorf("namespaces with shop's mirrors held:\n%s\nwant shop kept beside web", got)
		}
		if !strings.Contains(string(out["kustomization.yaml"]), "- namespaces") {
			t.Errorf("root kustomization:\n%s", out["kustomization.yaml"])
		}
	})
	t.Run("global Service", func(t *testing.T) {
		stored := tree("east/1.yaml", "east/2.yaml", "east/3.yaml", "global/gl-a.yaml", "global/gl-b.yaml", "global/gl-c.yaml",
			"global/east/gl-a.yaml", "global/east/gl-b.yaml", "global/west/gl-c.yaml")
		files := tree("east/1.yaml", "global/gl-b.yaml", "global/gl-c.yaml", "global/east/gl-b.yaml", "global/west/gl-c.yaml")
		out, decisions := guard(guardInput{stored: stored, files: files, tree: true, limit: limit(t, "0"), names: names,
			approved: func(r Removal) bool { return r.Cluster == "global" }})
		if _, ok := out["global/gl-a.yaml"]; !ok {
			t.Error("the global Service of east's held slices went")
		}
		for _, d := range decisions {
			if d.Cluster == "global" {
				t.Errorf("a decision removes the global Service it kept: %+v", d)
			}
		}
	})
}
