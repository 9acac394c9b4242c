package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/coredns")

var east = corefileOptions{Domain: "cluster.east", ClusterDomain: "cluster.local", ServicePrefix: "east", MirrorNamespace: "mirrors"}

func TestCorefileGolden(t *testing.T) {
	tests := []struct {
		name string
		opts corefileOptions
	}{
		{name: "east", opts: east},
		// Trailing dots are dropped; any cluster domain works.
		{name: "custom-cluster-domain", opts: corefileOptions{Domain: "west.example.com.", ClusterDomain: "k8s.internal.", ServicePrefix: "w", MirrorNamespace: "remote-west"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := corefile(tt.opts)
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
				t.Errorf("Corefile differs from %s (-want +got; run go test ./cmd/ssm -run Corefile -update to accept):\n%s", golden, diff)
			}
		})
	}
}

// TestCorefileRewrites applies the printed rewrite rules the way CoreDNS's
// rewrite plugin does: the first matching question rule, then every answer
// name rule in reverse order, each a regexp match with {N} replaced by group N.
func TestCorefileRewrites(t *testing.T) {
	stanza, err := corefile(east)
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

func TestCorednsCommand(t *testing.T) {
	want, err := corefile(east)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := ssm(t, "", "coredns", "--svc-prefix", "east", "--mirror-ns", "mirrors", "--domain", "cluster.east")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}

	t.Setenv("SSM_DOMAIN", "cluster.east")
	t.Setenv("SSM_CLUSTER_DOMAIN", "cluster.local")
	code, stdout, stderr = ssm(t, "", "coredns", "--svc-prefix", "east", "--mirror-ns", "mirrors")
	if code != exitOK || stdout != want {
		t.Errorf("with SSM_DOMAIN: exit %d, stdout differs: %v\n%s", code, stdout != want, stderr)
	}
}

func TestCorednsBadInput(t *testing.T) {
	base := []string{"coredns", "--svc-prefix", "east", "--mirror-ns", "mirrors"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "missing required flags", args: []string{"coredns"}, want: `Required flags "svc-prefix, mirror-ns, domain" not set`},
		{name: "domain not a DNS name", args: append(base, "--domain", "Cluster.East"), want: `--domain "Cluster.East"`},
		{name: "cluster domain not a DNS name", args: append(base, "--domain", "cluster.east", "--cluster-domain", "cluster_local"), want: `--cluster-domain "cluster_local"`},
		{name: "prefix not a DNS label", args: []string{"coredns", "--svc-prefix", "East", "--mirror-ns", "mirrors", "--domain", "cluster.east"}, want: `service prefix "East"`},
		{name: "mirror namespace not a DNS label", args: []string{"coredns", "--svc-prefix", "east", "--mirror-ns", "mi.rrors", "--domain", "cluster.east"}, want: `mirror namespace "mi.rrors"`},
		{name: "domain is the cluster domain", args: append(base, "--domain", "cluster.local"), want: `--domain "cluster.local": must not contain the local cluster domain "cluster.local"`},
		{name: "domain contains the cluster domain", args: append(base, "--domain", "local"), want: `--domain "local": must not contain`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := ssm(t, "", tt.args...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
			if strings.Contains(stdout, "rewrite stop") {
				t.Errorf("printed a Corefile on error:\n%s", stdout)
			}
		})
	}
}
