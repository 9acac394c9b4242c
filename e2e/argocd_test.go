package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
)

// TestArgoCD has a real Argo CD apply what `ssm run` pushed to real
// repositories, to the local cluster, whose kube-controller-manager runs the
// garbage collector Argo CD's foreground pruning needs:
//
//  1. with Argo CD's stock argocd-cm, the Application of examples/argocd
//     reports Synced and Healthy while only the Services were applied:
//     Endpoints and EndpointSlices are excluded, and all that says so is an
//     ExcludedResourceWarning condition per object;
//  2. with the override of examples/argocd/resource-exclusions, the same
//     Application applies every endpoint object once refreshed, and a new
//     one applies every mirror in its first sync;
//  3. a Service deleted on the remote is pruned with its endpoints;
//  4. in NodePort mode, a namespace no longer rendered is kept (Prune=false).
func TestArgoCD(t *testing.T) {
	requireControllers(t)
	argoCDBins(t, true)
	for _, s := range argoFixture() {
		s.apply(t.Context(), t, remote.Client)
	}
	// Two `ssm run`s, each pushing to its own repository: the default
	// --endpoints-api (Endpoints, which the mirroring controller turns into
	// EndpointSlices) and both.
	endpoints, both := argoRun(t, "argo-endpoints", "endpoints"), argoRun(t, "argo-both", "both")
	stock := []byte(readFile(filepath.Join(argoCDManifests(t), "argocd-cm.yaml")))
	argo := startArgoCD(t, stock)

	argoStock(t, argo, endpoints)
	argoOverride(t, argo, stock, endpoints, both)
	argoPrune(t, argo, endpoints, both)
	argoNodePort(t, argo)
}

// argoTree is what one `ssm run` of TestArgoCD pushes, and its Application.
type argoTree struct {
	repo, prefix string // the prefix is also the mirror namespace
	app          string
}

const (
	argoGitPath  = "clusters/local/mirrors/remote"
	argoRemoteNS = "argo-shop"
)

// mirror is the name of the mirror of the remote Service name.
func (tr argoTree) mirror(name string) string {
	return generate.MirrorName(tr.prefix, argoRemoteNS, name)
}

// dir checks the tree out as it is on main now.
func (tr argoTree) dir(t *testing.T) string { return filepath.Join(checkout(t, tr.repo), argoGitPath) }

// argoFixture is the remote of TestArgoCD: a Service with two ports and a
// not-ready address, a headless one with hostnames, and one to delete.
func argoFixture() []service {
	sel := map[string]string{"mirror.e2e/argocd": "true"}
	return []service{
		{ns: argoRemoteNS, name: "web", labels: sel,
			spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80), tcp("https", 443)}},
			subsets: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{addr("10.80.0.1"), addr("10.80.0.2")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("10.80.0.3")},
				Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "https", Port: 8443}},
			}}},
		{ns: argoRemoteNS, name: "db", labels: sel,
			spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{tcp("pg", 5432)}},
			subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "10.80.1.1", Hostname: "db-0"}, {IP: "10.80.1.2", Hostname: "db-1"}},
				Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432}},
			}}},
		{ns: argoRemoteNS, name: "cart", labels: sel,
			spec:    corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.80.2.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}},
	}
}

// argoRun starts `ssm run` pushing the mirrors of TestArgoCD's remote to
// argoGitPath of a new repository, and waits for its first commit.
func argoRun(t *testing.T, prefix, endpointsAPI string) argoTree {
	t.Helper()
	tr := argoTree{repo: bareRepo(t), prefix: prefix, app: "mirrors-" + endpointsAPI}
	startRun(t, "run-"+prefix, "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/argocd=true",
		"--svc-prefix", prefix, "--mirror-ns", prefix, "--endpoints-api", endpointsAPI,
		"--git-url", tr.repo, "--git-path", argoGitPath, "--debounce", "200ms", "--max-delay", "1s")
	eventually(t, 30*time.Second, "the first commit of "+prefix, func() bool { return len(commits(t, tr.repo, "main")) == 2 })
	return tr
}

// argoStock: with the stock argocd-cm, Synced and Healthy, and no endpoints.
func argoStock(t *testing.T, argo *argoCD, tr argoTree) {
	t.Helper()
	argo.newApplication(t, tr.app, tr.repo, argoGitPath, tr.prefix)
	took := argo.waitSynced(t, tr.app, tr.repo)
	t.Logf("stock argocd-cm: Synced/Healthy %s after the Application was created", took.Round(time.Millisecond))
	dir := tr.dir(t)
	requireLive(t, dir, "Service")
	requireAbsent(t, dir, "Endpoints", "EndpointSlice")
	// The only sign: a warning condition per excluded object.
	var want []string
	for _, o := range renderedObjects(t, dir) {
		if o.kind() == "Endpoints" {
			want = append(want, "ExcludedResourceWarning: Resource /Endpoints "+o.meta()["name"].(string)+" is excluded in the settings")
		}
	}
	got := argo.status(t, tr.app).conditions
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Application %s with the stock argocd-cm: conditions %q, want %q", tr.app, got, want)
	}
}

// argoOverride applies examples/argocd's override: the Application of
// argoStock applies the endpoints once refreshed, a new one (both) applies
// everything in its first sync, and kube-proxy would read every remote
// address once from either.
func argoOverride(t *testing.T, argo *argoCD, stock []byte, endpoints, both argoTree) {
	t.Helper()
	argo.setConfigMap(t, overrideConfigMap(t, stock))
	// Argo CD reloads argocd-cm at once, but compares an Application again
	// only at its next reconciliation (timeout.reconciliation, 120 s plus
	// jitter) or when refreshed: refresh it, as docs/argocd.md says to.
	argo.refresh(t, endpoints.app)
	dir := endpoints.dir(t)
	took := eventually(t, 60*time.Second, "the Endpoints applied after the override", func() bool {
		return len(missing(t, dir, "Endpoints")) == 0
	})
	t.Logf("override: Endpoints applied %s after argocd-cm changed and a refresh", took.Round(time.Millisecond))
	argo.waitSynced(t, endpoints.app, endpoints.repo)
	requireLive(t, dir, "Service", "Endpoints")

	argo.newApplication(t, both.app, both.repo, argoGitPath, both.prefix)
	took = argo.waitSynced(t, both.app, both.repo)
	t.Logf("override: first sync of a new Application %s after it was created", took.Round(time.Millisecond))
	requireLive(t, both.dir(t), "Service", "Endpoints", "EndpointSlice")

	web := map[string]bool{"10.80.0.1:8080/TCP": true, "10.80.0.2:8080/TCP": true, "10.80.0.3:8080/TCP": false,
		"10.80.0.1:8443/TCP": true, "10.80.0.2:8443/TCP": true, "10.80.0.3:8443/TCP": false}
	eventually(t, 30*time.Second, "the mirrored EndpointSlices", func() bool {
		return len(kubeProxyView(t, endpoints.prefix, endpoints.mirror("web")).endpoints) == len(web)
	})
	kubeProxyView(t, endpoints.prefix, endpoints.mirror("web")).requireEndpoints(t, web)
	kubeProxyView(t, both.prefix, both.mirror("web")).requireEndpoints(t, web)
	// The mirrored slices carry the Endpoints' tracking annotation: Argo
	// CD must not take them for its own.
	if s := argo.status(t, endpoints.app); s.sync != "Synced" {
		t.Errorf("Application %s with mirrored EndpointSlices: %v", endpoints.app, s)
	}
}

// argoPrune deletes a remote Service: ssm commits the deletion, a refresh
// (what a webhook does) has Argo CD prune the mirror with its endpoints, in
// the foreground (the garbage collector finishes each deletion).
func argoPrune(t *testing.T, argo *argoCD, endpoints, both argoTree) {
	t.Helper()
	deleteService(t, remote.Client, argoRemoteNS, "cart")
	for _, tr := range []argoTree{endpoints, both} {
		eventually(t, 30*time.Second, "ssm's commit of the deletion", func() bool {
			return !slices.Contains(lsPath(t, tr.repo, argoGitPath), tr.mirror("cart")+".yaml")
		})
		argo.refresh(t, tr.app)
	}
	took := eventually(t, 60*time.Second, "the pruned mirror gone", func() bool {
		for _, tr := range []argoTree{endpoints, both} {
			if exists(t, "Service", tr.prefix, tr.mirror("cart")) || exists(t, "Endpoints", tr.prefix, tr.mirror("cart")) ||
				len(kubeProxyView(t, tr.prefix, tr.mirror("cart")).slices) > 0 {
				return false
			}
		}
		return true
	})
	t.Logf("prune: the deleted mirror gone %s after the refresh", took.Round(time.Millisecond))
	argo.waitSynced(t, endpoints.app, endpoints.repo)
	argo.waitSynced(t, both.app, both.repo)
}

// newApplication creates the Application of examples/argocd/application.yaml
// for the mirrors ssm pushed to repo: only its name, repository, path and
// destination namespace (the --mirror-ns) change.
func (a *argoCD) newApplication(t *testing.T, name, repo, path, ns string) string {
	t.Helper()
	app := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(readExampleFile(t, filepath.Join(examplesDir, "argocd", "application.yaml")), &app.Object); err != nil {
		t.Fatal(err)
	}
	app.SetName(name)
	app.SetNamespace(argoNS)
	for field, v := range map[string]string{"repoURL": "file://" + repo, "path": path} {
		if err := unstructured.SetNestedField(app.Object, v, "spec", "source", field); err != nil {
			t.Fatal(err)
		}
	}
	if err := unstructured.SetNestedField(app.Object, ns, "spec", "destination", "namespace"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.dyn.Resource(applicationGVR).Namespace(argoNS).Create(t.Context(), app, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // t.Context() is done by now
		_ = a.dyn.Resource(applicationGVR).Namespace(argoNS).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// waitSynced waits until the Application has synced the head of main
// successfully and reports Synced and Healthy.
func (a *argoCD) waitSynced(t *testing.T, name, repo string) time.Duration {
	t.Helper()
	head := strings.TrimSpace(git(t, repo, "rev-parse", "main"))
	start := time.Now()
	for {
		s := a.status(t, name)
		if s.sync == "Synced" && s.health == "Healthy" && s.revision == head && s.phase == "Succeeded" && s.operationRevision == head {
			return time.Since(start)
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("Application %s not Synced/Healthy at %.7s after 2m: %v\napplication-controller:\n%s\nrepo-server:\n%s",
				name, head, s, a.logs("application-controller"), a.logs("repo-server"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// argoCDManifests is the folder of Argo CD's manifests hack/argocd/build.sh
// copies from the module it builds: crds/ and argocd-cm.yaml.
func argoCDManifests(t *testing.T) string {
	t.Helper()
	bin, _ := argoCDBins(t, false)
	return filepath.Join(bin, "argocd-manifests")
}

// overrideConfigMap is argocd-cm as the kustomization installing Argo CD
// builds it with examples/argocd/resource-exclusions: stock, patched.
func overrideConfigMap(t *testing.T, stock []byte) []byte {
	t.Helper()
	tmp := t.TempDir()
	if err := os.CopyFS(filepath.Join(tmp, "resource-exclusions"), os.DirFS(filepath.Join(examplesDir, "argocd", "resource-exclusions"))); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tmp, "argocd-cm.yaml"), string(stock))
	writeFile(t, filepath.Join(tmp, "kustomization.yaml"), "resources: [argocd-cm.yaml]\ncomponents: [resource-exclusions]\n")
	r := run(t, nil, "kubectl", "kustomize", tmp)
	if r.code != 0 {
		t.Fatalf("kubectl kustomize: exit %d\n%s", r.code, r.stderr)
	}
	return []byte(r.stdout)
}

// TestArgoCDDefaultExclusions requires examples/argocd/resource-exclusions to
// exclude exactly what the Argo CD version hack/argocd builds excludes by
// default (its manifests/base/config/argocd-cm.yaml), but Endpoints and
// EndpointSlice; and e2e/testdata/argocd-cm-default.yaml, the base the
// examples tests build the component on, to hold those defaults.
func TestArgoCDDefaultExclusions(t *testing.T) {
	t.Parallel()
	file := filepath.Join(argoCDManifests(t), "argocd-cm.yaml")
	stock := []byte(readFile(file))
	defaults := readExclusions(t, file, stock)
	var want []exclusion
	for _, e := range defaults {
		if !e.excludes("Endpoints") && !e.excludes("EndpointSlice") {
			want = append(want, e)
		}
	}
	if len(want) == len(defaults) {
		t.Fatalf("%s excludes neither Endpoints nor EndpointSlice: is the override still needed?", file)
	}
	got := readExclusions(t, "examples/argocd/resource-exclusions on Argo CD's argocd-cm", overrideConfigMap(t, stock))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resource.exclusions with the override, against Argo CD's defaults without Endpoints and EndpointSlice (-want +got):\n%s", diff)
	}
	fixture := "testdata/argocd-cm-default.yaml"
	if diff := cmp.Diff(defaults, readExclusions(t, fixture, readExampleFile(t, fixture))); diff != "" {
		t.Errorf("%s: resource.exclusions are not Argo CD's (-Argo CD +%s):\n%s", fixture, fixture, diff)
	}
}

// argoNodePort has Argo CD apply a NodePort-mode tree, with the Namespaces
// ssm creates, then checks that a namespace ssm created is pruned with its
// last mirror.
func argoNodePort(t *testing.T, argo *argoCD) {
	t.Helper()
	ctx := t.Context()
	createNode(t, "argo-node-1", "10.81.0.1", corev1.ConditionTrue)
	// createNode's own cleanup deletes with t.Context(), which is done by
	// then: delete the node here, or every later NodePort test backs onto it.
	t.Cleanup(func() {
		_ = remote.Client.CoreV1().Nodes().Delete(context.Background(), "argo-node-1", metav1.DeleteOptions{})
	})
	sel := map[string]string{"mirror.e2e/argonp": "true"}
	for _, ns := range []string{"argo-np", "argo-np2"} {
		service{ns: ns, name: "api", labels: sel,
			spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{tcp("http", 80)}}}.apply(ctx, t, remote.Client)
	}
	// NodePort mode without a label selector (barrelman's) would mirror it.
	t.Cleanup(func() {
		_ = remote.Client.CoreV1().Services("argo-np").Delete(context.Background(), "api", metav1.DeleteOptions{})
	})
	repo := bareRepo(t)
	const path = "clusters/local/nodeport/remote"
	startRun(t, "run-argo-nodeport", "--target-kube-config", remote.KubeConfig, "--mode", "nodeport",
		"--label-selector", "mirror.e2e/argonp=true", "--manual-endpoints=false", "--kube-config", local.KubeConfig,
		"--git-url", repo, "--git-path", path, "--debounce", "200ms", "--max-delay", "1s")
	eventually(t, 30*time.Second, "the first NodePort commit", func() bool { return len(commits(t, repo, "main")) == 2 })

	app := argo.newApplication(t, "mirrors-nodeport", repo, path, "argo-np")
	took := argo.waitSynced(t, app, repo)
	t.Logf("NodePort mode: Synced/Healthy %s after the Application was created", took.Round(time.Millisecond))
	tree := filepath.Join(checkout(t, repo), path)
	requireLive(t, tree, "Namespace", "Service", "Endpoints")

	// argo-np2 loses its only mirror: ssm no longer renders the namespace.
	deleteService(t, remote.Client, "argo-np2", "api")
	eventually(t, 30*time.Second, "ssm's commit of the deletion", func() bool {
		return !strings.Contains(git(t, repo, "show", "main:"+path+"/namespaces/namespaces.yaml"), "argo-np2")
	})
	argo.refresh(t, app)
	eventually(t, 60*time.Second, "the pruned NodePort mirror gone", func() bool {
		return !exists(t, "Service", "argo-np2", "api") && !exists(t, "Endpoints", "argo-np2", "api")
	})
	head := strings.TrimSpace(git(t, repo, "rev-parse", "main"))
	eventually(t, 60*time.Second, "the sync of the deletion", func() bool {
		s := argo.status(t, app)
		return s.phase == "Succeeded" && s.operationRevision == head
	})
	// ssm created argo-np2 (the local cluster lacked it): Argo CD prunes it
	// with its last mirror.
	eventually(t, 60*time.Second, "the namespace ssm created pruned", func() bool {
		return liveObject(t, "Namespace", "", "argo-np2") == nil
	})
	eventually(t, 60*time.Second, "the Application Synced", func() bool {
		return argo.status(t, app).sync == "Synced"
	})
	requireLive(t, filepath.Join(checkout(t, repo), path), "Namespace", "Service", "Endpoints")
}
