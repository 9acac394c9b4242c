package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/generate"
)

var east = generate.CorefileOptions{Domain: "cluster.east", ClusterDomain: "cluster.local", ServicePrefix: "east", MirrorNamespace: "mirrors"}

func TestCorednsCommand(t *testing.T) {
	want, err := generate.Corefile(east)
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
		{name: "missing required flags", args: []string{"coredns"}, want: "required flags not set: --svc-prefix, --mirror-ns, --domain"},
		{name: "domain not a DNS name", args: append(base, "--domain", "Cluster.East"), want: `--domain "Cluster.East"`},
		{name: "cluster domain not a DNS name", args: append(base, "--domain", "cluster.east", "--cluster-domain", "cluster_local"), want: `--cluster-domain "cluster_local"`},
		{name: "prefix not a DNS label", args: []string{"coredns", "--svc-prefix", "East", "--mirror-ns", "mirrors", "--domain", "cluster.east"}, want: `--svc-prefix "East"`},
		{name: "mirror namespace not a DNS label", args: []string{"coredns", "--svc-prefix", "east", "--mirror-ns", "mi.rrors", "--domain", "cluster.east"}, want: `--mirror-ns "mi.rrors"`},
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

// ssm coredns --api mcs prints the clusterset block; a configuration file
// of the MCS API asks for it as well, and the flags of mirrors are refused.
func TestCorednsMCS(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "mcs.yaml", "global:\n  api: mcs\n  mcs: {clusterSetIPRanges: [10.96.0.128/25]}\nlocalCluster: {fromFile: l.yaml}\nremoteClusters:\n- {name: east, fromFile: e.yaml}\n")
	for _, args := range [][]string{{"coredns", "--api", "mcs"}, {"coredns", "--config", cfg}} {
		code, stdout, stderr := ssm(t, "", args...)
		if code != exitOK || !strings.Contains(stdout, "clusterset.local {\n") || !strings.Contains(stdout, "        multicluster clusterset.local\n") {
			t.Errorf("ssm %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	code, stdout, _ := ssm(t, "", "coredns", "--api", "mcs", "--clusterset-zone", "mesh.example.")
	if code != exitOK || !strings.Contains(stdout, "mesh.example {\n    errors") || !strings.Contains(stdout, "multicluster mesh.example\n") {
		t.Errorf("--clusterset-zone: exit %d\n%s", code, stdout)
	}
	for args, want := range map[string]string{
		"coredns --api mcs --svc-prefix east":     "--svc-prefix is for --api mirrors",
		"coredns --api mcs --clusterset-zone a_b": `--clusterset-zone "a_b": `,
		"coredns --api smi":                       `--api "smi": want mirrors or mcs`,
	} {
		if code, _, stderr := ssm(t, "", strings.Fields(args)...); code == exitOK || !strings.Contains(stderr, want) {
			t.Errorf("ssm %s: exit %d, %q; want %q", args, code, stderr, want)
		}
	}
}
