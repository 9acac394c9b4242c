package generate_test

import (
	"testing"

	"github.com/ssm-dev/ssm/generate"
)

func TestNodePortNamespaceOf(t *testing.T) {
	for _, tc := range []struct {
		path, file, ns string
		ok             bool
	}{
		{path: "mirrors/shop.web.yaml", file: "namespaces/namespaces.yaml", ns: "shop", ok: true},
		{path: "mirrors/shop/web.yaml", file: "namespaces/namespaces.yaml", ns: "shop", ok: true},
		{path: "bm/mirrors/shop.web.yaml", file: "bm/namespaces/namespaces.yaml", ns: "shop", ok: true},
		{path: "bm/mirrors/shop/web.yaml", file: "bm/namespaces/namespaces.yaml", ns: "shop", ok: true},
		{path: "east-shop-73736d-web.yaml"},
		{path: "east/east-shop-73736d-web.yaml"},
		{path: "a/b/mirrors/shop.web.yaml"},
		{path: "xmirrors/shop.web.yaml"},
		{path: "mirrors/kustomization"},
	} {
		file, ns, ok := generate.NodePortNamespaceOf(tc.path)
		if file != tc.file || ns != tc.ns || ok != tc.ok {
			t.Errorf("NodePortNamespaceOf(%q) = %q, %q, %v; want %q, %q, %v", tc.path, file, ns, ok, tc.file, tc.ns, tc.ok)
		}
	}
}

func TestGlobalServiceOf(t *testing.T) {
	for path, want := range map[string]string{"global/east/gl-a.yaml": "global/gl-a.yaml", "global/gl-a.yaml": "", "east/gl-a.yaml": "",
		"global/east/x/gl-a.yaml": ""} {
		if got, ok := generate.GlobalServiceOf(path); got != want || ok != (want != "") {
			t.Errorf("GlobalServiceOf(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}

// KeepNamespaces adds what stored holds of the names the file lacks, in
// name order, and nothing stored lacks too.
func TestKeepNamespaces(t *testing.T) {
	doc := func(n string) string { return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + n + "\n" }
	for _, tc := range []struct {
		name, file, stored string
		names              []string
		want               string
	}{
		{name: "kept", file: doc("b"), stored: doc("a") + "---\n" + doc("b"), names: []string{"a"}, want: doc("a") + "---\n" + doc("b")},
		{name: "none rendered", stored: doc("a") + "---\n" + doc("c"), names: []string{"c"}, want: doc("c")},
		{name: "already there", file: doc("a"), stored: doc("a"), names: []string{"a"}, want: doc("a")},
		{name: "not stored", file: doc("b"), stored: doc("b"), names: []string{"x"}, want: doc("b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var file []byte
			if tc.file != "" {
				file = []byte(tc.file)
			}
			if got := string(generate.KeepNamespaces(file, []byte(tc.stored), tc.names)); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// A file moved by --layout keeps its key; two mirrors never share one.
func TestMirrorKey(t *testing.T) {
	for _, pair := range [][2]string{{"mirrors/shop.web.yaml", "mirrors/shop/web.yaml"}, {"bm/mirrors/a.b.yaml", "bm/mirrors/a/b.yaml"},
		{"east-shop-73736d-web.yaml", "shop/east-shop-73736d-web.yaml"}} {
		if a, b := generate.MirrorKey(pair[0]), generate.MirrorKey(pair[1]); a != b {
			t.Errorf("MirrorKey(%q) = %q, MirrorKey(%q) = %q: a move", pair[0], a, pair[1], b)
		}
	}
	if generate.MirrorKey("mirrors/a.web.yaml") == generate.MirrorKey("mirrors/b.web.yaml") {
		t.Error("web of two namespaces share a key")
	}
}
