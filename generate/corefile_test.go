package generate_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/generate"
)

var east = generate.CorefileOptions{Domain: "cluster.east", ClusterDomain: "cluster.local", ServicePrefix: "east", MirrorNamespace: "mirrors"}

func TestCorefileGolden(t *testing.T) {
	tests := []struct {
		name string
		opts generate.CorefileOptions
	}{
		{name: "east", opts: east},
		// Trailing dots are dropped; any cluster domain works.
		{name: "custom-cluster-domain", opts: generate.CorefileOptions{Domain: "west.example.com.", ClusterDomain: "k8s.internal.", ServicePrefix: "w", MirrorNamespace: "remote-west"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := generate.Corefile(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "coredns", tt.name+".Corefile")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Corefile differs from %s (-want +got; run go test ./generate -run Corefile -update to accept):\n%s", golden, diff)
			}
		})
	}
}

// TestCorefileRewrites applies the printed rewrite rules the way CoreDNS's
// rewrite plugin does: the first matching question rule, then every answer
// name rule in reverse order, each a regexp match with {N} replaced by group N.
func TestCorefileRewrites(t *testing.T) {
	stanza, err := generate.Corefile(east)
	if err != nil {
		t.Fatal(err)
	}
	question, answers := rewriteRules(t, stanza)
	tests := []struct {
		query string
		want  string // rewritten question; empty: left alone
	}{
		{query: "web.shop.svc.cluster.east.", want: "east-shop-73736d-web.mirrors.svc.cluster.local."},
		{query: "web.my-shop.svc.cluster.east.", want: "east-my-shop-73736d-web.mirrors.svc.cluster.local."},
		{query: "pg-0.pg.db.svc.cluster.east.", want: "pg-0.east-db-73736d-pg.mirrors.svc.cluster.local."},
		{query: "_pg._tcp.pg.db.svc.cluster.east.", want: "_pg._tcp.east-db-73736d-pg.mirrors.svc.cluster.local."},
		{query: "web.shop.svc.cluster.local."},
		{query: "web.shop.svc.clusterxeast."},
		{query: "web.shop.svcxcluster.east."},
		{query: "web.shop.svc.cluster.east.example."},
		{query: "web.shop.pod.cluster.east."},
		{query: "shop.svc.cluster.east."},
		{query: "svc.cluster.east."},
		{query: "cluster.east."},
		{query: "a.b.c.web.shop.svc.cluster.east."},
		{query: "web..svc.cluster.east."},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, ok := apply(question, tt.query)
			if !ok {
				got = ""
			}
			if got != tt.want {
				t.Fatalf("question rewritten to %q, want %q", got, tt.want)
			}
			if !ok {
				return
			}
			if back := revert(answers, got); back != tt.query {
				t.Errorf("answer name %s reverted to %q, want the question %q", got, back, tt.query)
			}
		})
	}
	for name, want := range map[string]string{
		"cluster.local.": "cluster.east.", // the SOA of a negative answer
		"east-shop-73736d-web.mirrors.svc.cluster.local.": "web.shop.svc.cluster.east.",
		"west-shop-73736d-web.mirrors.svc.cluster.local.": "west-shop-73736d-web.mirrors.svc.cluster.local.",
		"east-shop-73736d-web.default.svc.cluster.local.": "east-shop-73736d-web.default.svc.cluster.local.",
		"east-shop-73736d-web.mirrors.svc.cluster.localx": "east-shop-73736d-web.mirrors.svc.cluster.localx",
		"ns.dns.cluster.local.":                           "ns.dns.cluster.local.",
	} {
		if got := revert(answers, name); got != want {
			t.Errorf("answer %s reverted to %q, want %q", name, got, want)
		}
	}
}

type rule struct {
	from *regexp.Regexp
	to   string
}

// rewriteRules reads the question rule and the answer name rules from the
// rewrite block, checking that answer values are rewritten like names.
func rewriteRules(t *testing.T, stanza string) (rule, []rule) {
	t.Helper()
	var question []rule
	var names, values []rule
	for line := range strings.Lines(stanza) {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		r := rule{from: regexp.MustCompile(f[2]), to: f[3]}
		switch f[0] + " " + f[1] {
		case "name regex":
			question = append(question, r)
		case "answer name":
			names = append(names, r)
		case "answer value":
			values = append(values, r)
		}
	}
	if len(question) != 1 || len(names) == 0 || len(values) != 1 {
		t.Fatalf("want one name rule, answer name rules and one answer value rule, got %d, %d, %d in:\n%s", len(question), len(names), len(values), stanza)
	}
	if values[0].from.String() != names[0].from.String() || values[0].to != names[0].to {
		t.Errorf("answer value %v differs from answer name %v: SRV targets would keep local names", values[0], names[0])
	}
	return question[0], names
}

func apply(r rule, name string) (string, bool) {
	groups := r.from.FindStringSubmatch(name)
	if groups == nil {
		return name, false
	}
	s := r.to
	for i, g := range groups {
		s = strings.ReplaceAll(s, "{"+strconv.Itoa(i)+"}", g)
	}
	return s, true
}

func revert(rules []rule, name string) string {
	for i := len(rules) - 1; i >= 0; i-- {
		name, _ = apply(rules[i], name)
	}
	return name
}
