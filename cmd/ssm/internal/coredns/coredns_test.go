package coredns_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/ssm-dev/ssm/cmd/ssm/internal/coredns"
)

// The tests run one app at a time: urfave/cli's flags for help and version
// are globals that each run writes to.

// app is ssm with only its coredns command: environment names as cmd/ssm
// gives them, and errors about a flag's value marked so that a test sees
// they went through Flagged.
func app(w *strings.Builder) *cli.App {
	env := func(flag string) []string {
		return []string{"SSM_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
	}
	flagged := func(err error) error { return fmt.Errorf("flagged: %w", err) }
	return &cli.App{Name: "ssm", Writer: w, Commands: []*cli.Command{coredns.Command(coredns.Options{Env: env, Flagged: flagged})}}
}

func coreDNS(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := app(&out).Run(append([]string{"ssm", "coredns"}, args...))
	return out.String(), err
}

var (
	zoneLine  = regexp.MustCompile(`(?m)^(\S+) \{$`)
	rewriteTo = regexp.MustCompile(`(?m)^        name regex \S+ (\S+)$`)
	answerNS  = regexp.MustCompile(`(?m)^        namespaces (\S+)$`)
)

// blocks sums up each server block printed: its zone, the mirror a name
// is rewritten to and the namespace the kubernetes plugin answers from.
func blocks(out string) []string {
	zones, to, ns := zoneLine.FindAllStringSubmatch(out, -1), rewriteTo.FindAllStringSubmatch(out, -1), answerNS.FindAllStringSubmatch(out, -1)
	var sum []string
	for i, z := range zones {
		s := z[1]
		if i < len(to) {
			s += " → " + to[i][1]
		}
		if i < len(ns) {
			s += " in " + ns[i][1]
		}
		sum = append(sum, s)
	}
	return sum
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoRemotes = `
global: {mirrorNamespace: mirrors, mirrorSvcLabelSelector: mirror=true}
remoteClusters:
- {name: east, servicePrefix: e, kubeConfigPath: unused}
- {name: West_1, servicePrefix: w, kubeConfigPath: unused, domain: west.example}
- {name: ports, kubeConfigPath: unused, mode: nodeport}
`

// TestBlocks: the blocks printed for the flags' remote or each
// endpoints-mode remote of a configuration file, rewriting the remote's
// names to its mirrors.
func TestBlocks(t *testing.T) {
	cfg := writeConfig(t, twoRemotes)
	noNS := writeConfig(t, strings.Replace(twoRemotes, "mirrorNamespace: mirrors, ", "", 1))
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{name: "flags", args: []string{"--svc-prefix", "east", "--mirror-ns", "mirrors", "--domain", "cluster.east."},
			want: []string{`cluster.east → {1}east-{3}-73736d-{2}.mirrors.svc.cluster.local. in mirrors`}},
		{name: "cluster domain", args: []string{"--svc-prefix", "east", "--mirror-ns", "m", "--domain", "cluster.east", "--cluster-domain", "k8s.internal"},
			want: []string{`cluster.east → {1}east-{3}-73736d-{2}.m.svc.k8s.internal. in m`}},
		{name: "config", args: []string{"--config", cfg},
			want: []string{`cluster.east → {1}e-{3}-73736d-{2}.mirrors.svc.cluster.local. in mirrors`, `west.example → {1}w-{3}-73736d-{2}.mirrors.svc.cluster.local. in mirrors`}},
		{name: "config, --mirror-ns", args: []string{"--config", cfg, "--mirror-ns", "elsewhere"},
			want: []string{`cluster.east → {1}e-{3}-73736d-{2}.elsewhere.svc.cluster.local. in elsewhere`, `west.example → {1}w-{3}-73736d-{2}.elsewhere.svc.cluster.local. in elsewhere`}},
		{name: "config, --cluster-domain", args: []string{"--config", cfg, "--cluster-domain", "k8s.internal"},
			want: []string{`cluster.east → {1}e-{3}-73736d-{2}.mirrors.svc.k8s.internal. in mirrors`, `west.example → {1}w-{3}-73736d-{2}.mirrors.svc.k8s.internal. in mirrors`}},
		{name: "config without namespace, --mirror-ns", args: []string{"--config", noNS, "--mirror-ns", "m"},
			want: []string{`cluster.east → {1}e-{3}-73736d-{2}.m.svc.cluster.local. in m`, `west.example → {1}w-{3}-73736d-{2}.m.svc.cluster.local. in m`}},
		{name: "mcs", args: []string{"--api", "mcs"}, want: []string{"clusterset.local"}},
		{name: "mcs zone", args: []string{"--api", "mcs", "--clusterset-zone", "clusterset.example"}, want: []string{"clusterset.example"}},
		{name: "mcs by config", args: []string{"--config", writeConfig(t, "global: {api: mcs, mcs: {clusterSetIPRanges: [10.96.240.0/24]}}\nremoteClusters: [{name: east, kubeConfigPath: unused}]\n")}, want: []string{"clusterset.local"}},
		{name: "mirrors over the config's mcs", args: []string{"--config", writeConfig(t, strings.Replace(twoRemotes, "global: {", "global: {api: mcs, ", 1)), "--api", "mirrors"},
			want: []string{`cluster.east → {1}e-{3}-73736d-{2}.mirrors.svc.cluster.local. in mirrors`, `west.example → {1}w-{3}-73736d-{2}.mirrors.svc.cluster.local. in mirrors`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := coreDNS(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, blocks(out)); diff != "" {
				t.Errorf("blocks (-want +got):\n%s\nprinted:\n%s", diff, out)
			}
		})
	}
}

// TestMCSBlock: the MCS API's block serves the clusterset zone from the
// multicluster plugin, and nothing about mirrors.
func TestMCSBlock(t *testing.T) {
	out, err := coreDNS(t, "--api", "mcs", "--clusterset-zone", "clusterset.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "kubernetes clusterset.example {\n        multicluster clusterset.example\n    }") || strings.Contains(out, "rewrite") {
		t.Errorf("not the clusterset block:\n%s", out)
	}
}

// TestEnv: every flag may come from its SSM_ variable.
func TestEnv(t *testing.T) {
	t.Setenv("SSM_SVC_PREFIX", "east")
	t.Setenv("SSM_MIRROR_NS", "mirrors")
	t.Setenv("SSM_DOMAIN", "cluster.east")
	t.Setenv("SSM_CLUSTER_DOMAIN", "k8s.internal")
	out, err := coreDNS(t)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`cluster.east → {1}east-{3}-73736d-{2}.mirrors.svc.k8s.internal. in mirrors`}
	if diff := cmp.Diff(want, blocks(out)); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
}

// TestErrors: what a user who gave too little, too much or a wrong value
// is told; a flag's bad value goes through Flagged (cmd/ssm's flagOf), a
// file's does not.
func TestErrors(t *testing.T) {
	cfg := writeConfig(t, twoRemotes)
	badAPI := writeConfig(t, strings.Replace(twoRemotes, "global: {", "global: {api: istio, ", 1))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "nothing", want: "required flags not set: --svc-prefix, --mirror-ns, --domain (or give a configuration file with --config)"},
		{name: "no domain", args: []string{"--svc-prefix", "e", "--mirror-ns", "m"},
			want: "required flags not set: --domain (or give a configuration file with --config)"},
		{name: "bad domain", args: []string{"--svc-prefix", "e", "--mirror-ns", "m", "--domain", "cluster..east"}, want: "flagged: "},
		{name: "config and a remote's flags", args: []string{"--config", cfg, "--domain", "cluster.east"},
			want: "--svc-prefix and --domain name one remote: with --config they come from the file"},
		{name: "config without namespace", args: []string{"--config", writeConfig(t, strings.Replace(twoRemotes, "mirrorNamespace: mirrors, ", "", 1))},
			want: "no mirror namespace: set global.mirrorNamespace in the config file or --mirror-ns"},
		{name: "config of NodePort remotes only", args: []string{"--config", writeConfig(t, "remoteClusters:\n- {name: ports, kubeConfigPath: unused, mode: nodeport}\n"), "--mirror-ns", "m"},
			want: "no endpoints-mode remote in the config file: NodePort mode keeps remote names and needs no CoreDNS rewrite"},
		// With --config, a value is named where it was given: the flag (as
		// without it), or the remote's key in the file.
		{name: "config, bad --cluster-domain", args: []string{"--config", cfg, "--cluster-domain", "k8s..internal"},
			want: `--cluster-domain "k8s..internal": a lowercase RFC 1123 subdomain`},
		{name: "config, a remote's domain holding the cluster domain", args: []string{"--config", cfg, "--cluster-domain", "svc.west.example"},
			want: `config ` + cfg + `: remoteClusters[1].domain "west.example": must not contain the local cluster domain "svc.west.example"`},
		{name: "config missing", args: []string{"--config", "/nonexistent/config.yaml"}, want: "read config: open /nonexistent/config.yaml: "},
		{name: "config missing, --api", args: []string{"--config", "/nonexistent/config.yaml", "--api", "mirrors"}, want: "read config: open /nonexistent/config.yaml: "},
		{name: "bad api", args: []string{"--api", "istio"}, want: `--api "istio": want mirrors or mcs`},
		{name: "bad api in config", args: []string{"--config", badAPI}, want: `config ` + badAPI + `: global.api: "istio": want mirrors (semaphore-style mirrors) or mcs`},
		{name: "mcs and a mirror flag", args: []string{"--api", "mcs", "--mirror-ns", "m"},
			want: "--mirror-ns is for --api mirrors: the MCS API keeps namespaces and names, under --clusterset-zone"},
		{name: "mcs zone", args: []string{"--api", "mcs", "--clusterset-zone", "bad zone"}, want: `--clusterset-zone "bad zone": `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := coreDNS(t, tc.args...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("printed despite the error:\n%s", out)
			}
		})
	}
}

// TestWriteError: a stdout that cannot be written is an error, not a
// silent success.
func TestWriteError(t *testing.T) {
	for _, args := range [][]string{{"--svc-prefix", "e", "--mirror-ns", "m", "--domain", "cluster.east"}, {"--api", "mcs"}} {
		a := app(nil)
		a.Writer = failing{}
		err := a.Run(append([]string{"ssm", "coredns"}, args...))
		if err == nil || !strings.HasPrefix(err.Error(), "write to stdout: ") {
			t.Errorf("%v: err = %v", args, err)
		}
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
