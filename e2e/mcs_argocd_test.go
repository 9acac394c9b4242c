package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestMCSArgoCD runs the MCS API as an Argo CD user would: `ssm run --api
// mcs` commits the clusterset of two remotes, and Argo CD's real
// application-controller, with argocd-cm overridden as docs/argocd.md says
// (its defaults exclude EndpointSlices), applies it with the Application
// of examples/argocd. The Application reports Synced and Healthy with
// every object applied as committed: the ServiceImports (whose status
// nobody writes, and for which Argo CD has no health check), the derived
// Services on their pinned ClusterSetIPs, the EndpointSlices kube-proxy
// reads, and the namespace ssm creates. A cluster that stops exporting a
// Service has its slices pruned, the import keeping its IPs; an import
// removed remotely is pruned with its namespace; a new ClusterSetIP range
// fails the sync until the derived Services are deleted (a clusterIP is
// immutable), then is applied.
func TestMCSArgoCD(t *testing.T) {
	requireControllers(t)
	argoCDBins(t, true)
	installMCSCRDs(t, remote, remote2, local)
	grantMCSReaders(t)
	const shop, data, path = "mcsargo-shop", "mcsargo-data", "clusters/local/mcs"
	ensureNamespace(t, local.Client, shop)
	mcsService(t, remote, shop, "web", dualStack(tcp("http", 80)), endpoint{ip: "10.66.0.1", ready: true}, endpoint{ip: "fd00:66::1", ready: true})
	mcsService(t, remote2, shop, "web", dualStack(tcp("http", 80)), endpoint{ip: "10.67.0.1", ready: true}, endpoint{ip: "10.67.0.2"})
	mcsService(t, remote2, shop, "api", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}, endpoint{ip: "10.67.0.3", ready: true})
	mcsService(t, remote, data, "db", headlessSpec(tcp("pg", 5432)), endpoint{ip: "10.66.1.10", hostname: "db-0", ready: true})
	for _, e := range []struct {
		s        *apiServer
		ns, name string
	}{{remote, shop, "web"}, {remote2, shop, "web"}, {remote2, shop, "api"}, {remote, data, "db"}} {
		exportService(t, e.s, e.ns, e.name)
	}

	bare := bareRepo(t)
	seed := gittest.Git(t, bare, "rev-parse", "main")
	args := append([]string{"--config", mcsConfigFile(t, "mcsargo", nil), "--git-url", bare, "--git-path", path,
		"--debounce", "200ms", "--max-delay", "1s"}, mcsRanges(5)...)
	run := startRun(t, "run-mcs-argocd", args...)
	webFile, dbFile, nsFile := path+"/imports/"+shop+".web.yaml", path+"/imports/"+data+".db.yaml", path+"/namespaces/namespaces.yaml"
	head := waitMainMoves(t, bare, seed, "the first commit", func(f map[string]string) bool {
		_, w := f[webFile]
		_, d := f[dbFile]
		return w && d && strings.Contains(f[nsFile], "name: "+data)
	})

	argo := startArgoCD(t, overrideConfigMap(t, []byte(readFile(filepath.Join(argoCDManifests(t), "argocd-cm.yaml")))))
	app := argo.newApplication(t, "mcs", bare, path, shop)
	took := argo.waitSynced(t, app, bare)
	t.Logf("Synced/Healthy %s after the Application was created", took.Round(time.Millisecond))
	argoMCSApplied(t, argo, app, bare, path, "Namespace", "ServiceImport", "Service", "EndpointSlice")
	ips := serviceImportOf(t, shop, "web").Spec.IPs
	if d := derived(t, shop, "web"); len(ips) != 2 || !slices.Equal(d.Spec.ClusterIPs, ips) {
		t.Fatalf("ServiceImport %s/web on %v, its derived Service on %v", shop, ips, d.Spec.ClusterIPs)
	}
	web := map[string]bool{"10.66.0.1:8080/TCP": true, "fd00:66::1:8080/TCP": true, "10.67.0.1:8080/TCP": true, "10.67.0.2:8080/TCP": false}
	kubeProxyView(t, shop, generate.DerivedName(shop, "web")).requireEndpoints(t, web)
	if ns := liveObject(t, "Namespace", "", data); ns == nil || ns.GetLabels()[generate.LabelManagedBy] != generate.ManagedBy {
		t.Fatalf("namespace %s, which the local cluster lacked: %v", data, ns)
	}

	// The status of a ServiceImport is nobody's to write here, but another
	// tool may write it: the Application stays Synced.
	si := serviceImportOf(t, shop, "web")
	si.Status.Clusters = []mcsv1a1.ClusterStatus{{Cluster: "east"}, {Cluster: "west"}}
	if _, err := mcsClientOf(t, local).MulticlusterV1alpha1().ServiceImports(shop).UpdateStatus(t.Context(), si, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("write the status of ServiceImport %s/web: %v", shop, err)
	}
	argo.refresh(t, app)
	eventually(t, 30*time.Second, "a comparison after the status was written", func() bool {
		return argo.application(t, app).GetAnnotations()["argocd.argoproj.io/refresh"] == ""
	})
	argo.waitSynced(t, app, bare)

	// West stops exporting web: its slices are pruned, the import stays
	// on its IPs.
	unexportService(t, remote2, shop, "web")
	head = waitMainMoves(t, bare, head, "west's slices of web gone", func(f map[string]string) bool {
		_, west := f[path+"/west/"+shop+".web.yaml"]
		return !west
	})
	argo.refresh(t, app)
	argo.waitSynced(t, app, bare)
	eventually(t, 30*time.Second, "west's slices of web pruned", func() bool {
		return len(kubeProxyView(t, shop, generate.DerivedName(shop, "web")).endpoints) == 2
	})
	if got := serviceImportOf(t, shop, "web").Spec.IPs; !slices.Equal(got, ips) {
		t.Errorf("ServiceImport %s/web moved from %v to %v when a cluster stopped exporting it", shop, ips, got)
	}

	// East stops exporting db, its only exporter: the import, its slices
	// and the namespace ssm made for it are pruned.
	unexportService(t, remote, data, "db")
	waitMainMoves(t, bare, head, "db's removal committed", func(f map[string]string) bool {
		_, d := f[dbFile]
		return !d && !strings.Contains(f[nsFile], "name: "+data)
	})
	start := time.Now()
	argo.refresh(t, app)
	waitImportGone(t, data, "db")
	eventually(t, 60*time.Second, "the namespace ssm created pruned", func() bool { return liveObject(t, "Namespace", "", data) == nil })
	t.Logf("ServiceImport %s/db and namespace %s pruned %s after the refresh", data, data, time.Since(start).Round(time.Millisecond))
	argo.waitSynced(t, app, bare)
	argoMCSApplied(t, argo, app, bare, path, "ServiceImport", "Service", "EndpointSlice")
	argoMCSRangeMoved(t, argo, run, app, bare, path, args)
}

// argoMCSRangeMoved gives ssm another ClusterSetIP range: it moves the
// imports to it, and as a Service's clusterIP is immutable, Argo CD's sync
// fails until the derived Services are deleted, when Argo CD makes them
// again on their new IPs.
func argoMCSRangeMoved(t *testing.T, argo *argoCD, run *proc, app, bare, path string, args []string) {
	t.Helper()
	const shop = "mcsargo-shop"
	before := serviceImportOf(t, shop, "web").Spec.IPs
	run.terminate()
	head := gittest.Git(t, bare, "rev-parse", "main")
	startRun(t, "run-mcs-argocd-moved", append(slices.Clone(args[:len(args)-4]), mcsRanges(6)...)...)
	waitMainMoves(t, bare, head, "web moved to the new range", func(f map[string]string) bool {
		file := f[path+"/imports/"+shop+".web.yaml"]
		return strings.Contains(file, "  ips:\n") && !strings.Contains(file, "- "+before[0]+"\n")
	})
	argo.refresh(t, app)
	var msg string
	eventually(t, 60*time.Second, "the sync failing on the derived Service", func() bool {
		obj := argo.application(t, app).Object
		msg, _, _ = unstructured.NestedString(obj, "status", "operationState", "message")
		return strings.Contains(msg, generate.DerivedName(shop, "web"))
	})
	t.Logf("the sync of the moved ClusterSetIPs: %s", msg)
	start := time.Now()
	// Every derived Service of the namespace moved (web's and api's), as the
	// failed sync says: delete them all, by the label ssm gives them.
	services := local.Client.CoreV1().Services(shop)
	list, err := services.List(t.Context(), metav1.ListOptions{LabelSelector: generate.LabelMCSServiceName})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("derived Services of %s: %v (%v)", shop, list, err)
	}
	for _, svc := range list.Items {
		if err := services.Delete(t.Context(), svc.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	argo.waitSynced(t, app, bare)
	t.Logf("Synced %s after the derived Services were deleted", time.Since(start).Round(time.Millisecond))
	ips := serviceImportOf(t, shop, "web").Spec.IPs
	if d := derived(t, shop, "web"); slices.Equal(ips, before) || !slices.Equal(d.Spec.ClusterIPs, ips) {
		t.Fatalf("ServiceImport %s/web on %v (before: %v), its derived Service on %v", shop, ips, before, d.Spec.ClusterIPs)
	}
}

// argoMCSApplied fails unless the local cluster holds every object of the
// tree at path as committed, among them some of each kind present, and
// the Application reports each of them Synced, and no condition.
func argoMCSApplied(t *testing.T, argo *argoCD, app, bare, path string, present ...string) {
	t.Helper()
	dir := filepath.Join(checkout(t, bare), path)
	requireLive(t, dir, "Namespace", "ServiceImport", "Service", "EndpointSlice")
	if s := argo.status(t, app); len(s.conditions) > 0 {
		t.Errorf("Application %s: conditions %q, want none", app, s.conditions)
	}
	var want, got []string
	for _, o := range renderedObjects(t, dir) {
		ns, _ := o.meta()["namespace"].(string)
		want = append(want, fmt.Sprintf("%s %s/%s Synced", o.kind(), ns, o.meta()["name"]))
	}
	for _, k := range present {
		if !slices.ContainsFunc(want, func(w string) bool { return strings.HasPrefix(w, k+" ") }) {
			t.Errorf("the tree holds no %s", k)
		}
	}
	resources, _, _ := unstructured.NestedSlice(argo.application(t, app).Object, "status", "resources")
	for _, r := range resources {
		m, _ := r.(map[string]any)
		ns, _ := m["namespace"].(string)
		got = append(got, fmt.Sprintf("%s %s/%s %s", m["kind"], ns, m["name"], m["status"]))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Application %s reports resources\n%s\nwant\n%s", app, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
