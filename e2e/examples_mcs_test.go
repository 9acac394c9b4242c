package e2e

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestExamplesDeployMCS checks examples/deploy-mcs, `ssm run --config` of
// the MCS API in the local cluster, and examples/deploy/remote-mcs, the
// remotes' identity: every flag exists, the configuration it mounts names
// files the Deployment mounts, and the access they grant is what
// docs/mcs.md says ssm reads. Against real API servers, its configuration
// renders both remotes' exports with exactly that access: each remote read
// as remote-mcs's ServiceAccount, the local cluster as the overlay's, each
// bound to the examples' ClusterRoles; `ssm run` of it commits them.
// Without any one resource of those roles, the render fails.
func TestExamplesDeployMCS(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	o := readDeployOverlay(t, "deploy-mcs", 2)
	file := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, file, o.configText)
	if r := ssm(t, nil, "coredns", "--config", file); r.code != 0 || !strings.Contains(r.stdout, "clusterset.local {") {
		t.Fatalf("ssm coredns --config %s: exit %d\n%s%s", o.src, r.code, r.stdout, r.stderr)
	}
	var remoteRoles []*rbacv1.ClusterRole
	var remoteBindings []*rbacv1.ClusterRoleBinding
	var account string
	for _, obj := range splitObjects(t, "examples/deploy/remote-mcs", kustomization{dir: "deploy/remote-mcs"}.build(t)) {
		switch obj.GetKind() {
		case "ClusterRole":
			remoteRoles = append(remoteRoles, convert[rbacv1.ClusterRole](t, obj))
		case "ClusterRoleBinding":
			remoteBindings = append(remoteBindings, convert[rbacv1.ClusterRoleBinding](t, obj))
		case "ServiceAccount":
			account = obj.GetName()
		}
	}
	docRemote, docLocal := mcsDocRules(t)
	// remote-mcs keeps remote/'s Endpoints, for mirrors of the same remote.
	if got, want := grants(remoteRoles...), append(docRemote, "core/endpoints:get,list,watch"); !equalSets(got, want) {
		t.Errorf("examples/deploy/remote-mcs grants %q, docs/mcs.md %q and Endpoints", got, docRemote)
	}
	if got := grants(o.roles...); !equalSets(got, docLocal) {
		t.Errorf("%s grants the local cluster %q, docs/mcs.md %q", o.src, got, docLocal)
	}

	// Against real clusters: east and north are the test's remotes, west
	// its local cluster, which lacks the exported namespace.
	installMCSCRDs(t, remote, remote2, local)
	const ns = "dm-shop"
	for _, s := range []*apiServer{remote, remote2} {
		mcsService(t, s, ns, "api", dualStack(tcp("http", 80)), endpoint{ip: "10.43.0.1", ready: true})
		exportService(t, s, ns, "api")
	}
	bound := map[*apiServer]map[string]boundRole{}
	for i, s := range []*apiServer{remote, remote2} {
		token, b := exampleIdentity(t, s, "e2e-deploy-mcs", account, "-e2e-deploy-mcs", remoteRoles, remoteBindings)
		bound[s] = b
		tokenFile := filepath.Join(t.TempDir(), "token")
		writeFile(t, tokenFile, token)
		registerSecret(t, token)
		rc := o.remotes[i].(map[string]any)
		rc["remoteAPIURL"], rc["remoteCAURL"], rc["remoteSATokenPath"] = s.URL, s.CAFile, tokenFile
	}
	token, b := exampleIdentity(t, local, "e2e-deploy-mcs", o.pod.ServiceAccountName, "-e2e-deploy-mcs", o.roles, o.bindings)
	bound[local] = b
	registerSecret(t, token)
	kubeConfig := filepath.Join(t.TempDir(), "local.kubeconfig")
	writeFile(t, kubeConfig, kubeconfig(local.URL, local.CAFile, token))
	_ = unstructured.SetNestedField(o.config, kubeConfig, "localCluster", "kubeConfigPath")
	// The remotes are shared: render this test's exports alone.
	_ = unstructured.SetNestedField(o.config, mcsLabel+"="+testOf(ns), "global", "mirrorSvcLabelSelector")
	b2, err := yaml.Marshal(o.config)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, string(b2))
	want := []string{"imports/" + ns + ".api.yaml", "east/" + ns + ".api.yaml", "north/" + ns + ".api.yaml"}
	render := func() result {
		out := filepath.Join(t.TempDir(), "mcs")
		r := ssm(t, nil, "render", "--config", file, "-o", out)
		for _, f := range want {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil && r.code == 0 {
				t.Fatalf("render %s's configuration: no %s\n%s", o.src, f, r.stderr)
			}
		}
		if r.code != 0 {
			return r
		}
		if made := readFile(filepath.Join(out, "namespaces", "namespaces.yaml")); !strings.Contains(made, "name: "+ns+"\n") {
			t.Fatalf("render %s's configuration: namespace %s, which the local cluster lacks, not rendered:\n%s", o.src, ns, made)
		}
		return r
	}
	if r := render(); r.code != 0 {
		t.Fatalf("render %s's configuration: exit %d\n%s", o.src, r.code, r.stderr)
	}
	bare := bareRepo(t)
	seed := gittest.Git(t, bare, "rev-parse", "main")
	run := startRun(t, "run-deploy-mcs", "--config", file, "--git-url", bare, "--git-path", "clusters/west/mcs", "--debounce", "200ms")
	waitMainMoves(t, bare, seed, "ssm run's first commit", func(f map[string]string) bool {
		_, ok := f["clusters/west/mcs/"+want[0]]
		return ok
	})
	run.terminate()

	// Each resource of each role is needed: without it, the render fails.
	for s, roles := range bound {
		for name, br := range roles {
			requireEachResource(t, s, br.role, render, name)
		}
	}
}

// requireEachResource takes each resource out of the ClusterRole role of
// s in turn, and requires render to fail, naming it, until it is given
// back.
func requireEachResource(t *testing.T, s *apiServer, role string, render func() result, example string) {
	t.Helper()
	ctx := t.Context()
	roles := s.Client.RbacV1().ClusterRoles()
	whole, err := roles.Get(ctx, role, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, rule := range whole.Rules {
		for j, res := range rule.Resources {
			if res == "endpoints" { // remote/'s, for mirrors: the MCS API reads EndpointSlices
				continue
			}
			cut := whole.DeepCopy()
			cut.Rules[i].Resources = slices.Delete(slices.Clone(rule.Resources), j, j+1)
			if len(cut.Rules[i].Resources) == 0 {
				cut.Rules = slices.Delete(cut.Rules, i, i+1)
			}
			setRules(t, s, role, cut.Rules)
			what := fmt.Sprintf("a render without %s of %s's ClusterRole %s to fail", res, s.name, example)
			eventually(t, 30*time.Second, what, func() bool {
				r := render()
				return r.code != 0 && strings.Contains(r.stderr, "forbidden") && strings.Contains(r.stderr, res)
			})
			setRules(t, s, role, whole.Rules)
			eventually(t, 30*time.Second, "a render with "+res+" given back", func() bool { return render().code == 0 })
		}
	}
}

func setRules(t *testing.T, s *apiServer, role string, rules []rbacv1.PolicyRule) {
	t.Helper()
	roles := s.Client.RbacV1().ClusterRoles()
	r, err := roles.Get(t.Context(), role, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.Rules = rules
	if _, err := roles.Update(t.Context(), r, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// mcsDocRules reads the rules of docs/mcs.md's RBAC section: the remote
// clusters', then the local cluster's, as grants.
func mcsDocRules(t *testing.T) (remote, local []string) {
	t.Helper()
	doc := string(readExampleFile(t, filepath.Join(examplesDir, "..", "docs", "mcs.md")))
	_, block, ok := strings.Cut(doc, "```yaml\n# remote clusters\n")
	block, _, _ = strings.Cut(block, "```")
	parts := strings.Split(block, "---\n")
	if !ok || len(parts) != 2 {
		t.Fatalf("docs/mcs.md: no YAML block of the remote clusters' and the local cluster's rules")
	}
	var out [2][]string
	for i, part := range parts {
		var role rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict([]byte(part), &role); err != nil {
			t.Fatalf("docs/mcs.md's rules: %v\n%s", err, part)
		}
		out[i] = grants(&role)
	}
	return out[0], out[1]
}

// grants lists what roles grant, one "group/resource:verbs" each.
func grants(roles ...*rbacv1.ClusterRole) []string {
	var out []string
	for _, r := range roles {
		for _, rule := range r.Rules {
			verbs := slices.Sorted(slices.Values(rule.Verbs))
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					out = append(out, fmt.Sprintf("%s/%s:%s", cmp.Or(g, "core"), res, strings.Join(verbs, ",")))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func equalSets(a, b []string) bool {
	return slices.Equal(slices.Compact(slices.Sorted(slices.Values(a))), slices.Compact(slices.Sorted(slices.Values(b))))
}
