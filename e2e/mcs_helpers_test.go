package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	mcscrd "sigs.k8s.io/mcs-api/config/crd"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
)

// The ClusterSetIP ranges of the MCS tests: in the static bands (KEP-3070)
// of the test clusters' Service CIDRs, 10.96.0.0/16 and fd00:10:96::/108,
// whose lower 256 addresses the allocator hands out last. Each test that
// applies to the local cluster takes its own part, so that tests running
// at once never pin one IP twice.
const (
	mcsRangeV4 = "10.96.0.%d/28"
	mcsRangeV6 = "fd00:10:96::%x/124"
)

// mcsRanges are the --clusterset-ip-range flags of test slot i (1 to 14):
// 14 ClusterSetIPs of each family.
func mcsRanges(i int) []string {
	return []string{"--clusterset-ip-range", fmt.Sprintf(mcsRangeV4, 16*i), "--clusterset-ip-range", fmt.Sprintf(mcsRangeV6, 16*i)}
}

var (
	mcsCRDsMu   sync.Mutex
	mcsCRDsDone = map[*apiServer]bool{}
)

// installMCSCRDs installs the ServiceExport and ServiceImport CRDs of
// sigs.k8s.io/mcs-api, as the module embeds them, in each server once.
func installMCSCRDs(t *testing.T, servers ...*apiServer) {
	t.Helper()
	mcsCRDsMu.Lock()
	defer mcsCRDsMu.Unlock()
	dir := t.TempDir()
	for i, b := range [][]byte{mcscrd.ServiceExportCRD, mcscrd.ServiceImportCRD} {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("crd-%d.yaml", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range servers {
		if mcsCRDsDone[s] {
			continue
		}
		kubectl(t, s, "apply", "--server-side", "-f", dir)
		kubectl(t, s, "wait", "--for", "condition=established", "--timeout", "60s",
			"crd/"+mcsv1a1.ServiceExportFullName, "crd/"+mcsv1a1.ServiceImportFullName)
		mcsCRDsDone[s] = true
	}
}

// mcsClientOf is a client of s's Multi-Cluster Services API objects.
func mcsClientOf(t *testing.T, s *apiServer) *mcsclient.Clientset {
	t.Helper()
	c, err := mcsclient.NewForConfig(&rest.Config{Host: s.URL, BearerToken: adminToken, TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exportService creates the ServiceExport of ns/name in s.
func exportService(t *testing.T, s *apiServer, ns, name string) {
	t.Helper()
	e := &mcsv1a1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if _, err := mcsClientOf(t, s).MulticlusterV1alpha1().ServiceExports(ns).Create(t.Context(), e, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("export %s/%s in %s: %v", ns, name, s.name, err)
	}
}

func unexportService(t *testing.T, s *apiServer, ns, name string) {
	t.Helper()
	if err := mcsClientOf(t, s).MulticlusterV1alpha1().ServiceExports(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("unexport %s/%s in %s: %v", ns, name, s.name, err)
	}
}

// endpoint is a remote endpoint of a test: its IP, hostname and readiness.
type endpoint struct {
	ip, hostname string
	ready        bool
}

// mcsLabel labels the remote Services of one MCS test, and their
// EndpointSlices, for its ssm to select: the remotes are shared.
const mcsLabel = "mcs.e2e/test"

// mcsService creates (or updates) the Service ns/name in s with spec, and
// its EndpointSlices of eps, one per address family and at most 1,000
// endpoints each, their ports named as the Service's, in the pods at the
// port plus 8000; both labelled mcsLabel=ns.
func mcsService(t *testing.T, s *apiServer, ns, name string, spec corev1.ServiceSpec, eps ...endpoint) {
	t.Helper()
	ctx := t.Context()
	labels := map[string]string{mcsLabel: testOf(ns)}
	service{ns: ns, name: name, spec: spec, labels: labels}.apply(ctx, t, s.Client)
	var ports []discoveryv1.EndpointPort
	for _, p := range spec.Ports {
		port := p.Port + 8000
		ports = append(ports, discoveryv1.EndpointPort{Name: ptr(p.Name), Port: &port, Protocol: ptr(p.Protocol)})
	}
	slices := s.Client.DiscoveryV1().EndpointSlices(ns)
	if err := slices.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name}); err != nil {
		t.Fatal(err)
	}
	byFamily := map[discoveryv1.AddressType][]discoveryv1.Endpoint{}
	for _, e := range eps {
		fam := discoveryv1.AddressTypeIPv4
		if strings.Contains(e.ip, ":") {
			fam = discoveryv1.AddressTypeIPv6
		}
		ep := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(e.ready)}}
		if e.hostname != "" {
			ep.Hostname = ptr(e.hostname)
		}
		byFamily[fam] = append(byFamily[fam], ep)
	}
	for _, fam := range slicesSorted(byFamily) {
		n := 0
		for chunk := range chunks(byFamily[fam], 1000) {
			n++
			sl := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s-%d", name, strings.ToLower(string(fam)), n), Namespace: ns,
					Labels: map[string]string{discoveryv1.LabelServiceName: name, mcsLabel: testOf(ns)}},
				AddressType: fam, Endpoints: chunk, Ports: ports,
			}
			if _, err := slices.Create(ctx, sl, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create EndpointSlice %s/%s in %s: %v", ns, sl.Name, s.name, err)
			}
		}
	}
}

func slicesSorted[V any](m map[discoveryv1.AddressType]V) []discoveryv1.AddressType {
	return slices.Sorted(maps.Keys(m))
}

func chunks[T any](s []T, n int) func(func([]T) bool) {
	return slices.Chunk(s, n)
}

// dualStack is a ClusterIP Service of both families, as a dual-stack
// remote gives it.
func dualStack(ports ...corev1.ServicePort) corev1.ServiceSpec {
	return corev1.ServiceSpec{IPFamilyPolicy: ptr(corev1.IPFamilyPolicyRequireDualStack), Ports: ports}
}

func headlessSpec(ports ...corev1.ServicePort) corev1.ServiceSpec {
	return corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: ports}
}

var mcsReadersOnce sync.Once

// grantMCSReaders binds the reader user to what docs/mcs.md says ssm
// reads: of a remote, Services, EndpointSlices and ServiceExports; of the
// local cluster, Services, namespaces, ServiceImports and EndpointSlices.
func grantMCSReaders(t *testing.T) {
	t.Helper()
	mcsReadersOnce.Do(func() {
		read := []string{"get", "list", "watch"}
		remoteRules := []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
			{APIGroups: []string{mcsv1a1.GroupName}, Resources: []string{"serviceexports"}, Verbs: read},
		}
		localRules := []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "namespaces"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
			{APIGroups: []string{mcsv1a1.GroupName}, Resources: []string{"serviceimports"}, Verbs: read},
		}
		for s, rules := range map[*apiServer][]rbacv1.PolicyRule{remote: remoteRules, remote2: remoteRules, local: localRules} {
			bindReader(t, s, "ssm-mcs-reader", rules)
		}
	})
}

func bindReader(t *testing.T, s *apiServer, name string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := t.Context()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := s.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: readerUser}}}
	if _, err := s.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// testOf is the test a namespace belongs to: its part before the first
// '-' (mcsdns-shop: mcsdns).
func testOf(ns string) string {
	test, _, _ := strings.Cut(ns, "-")
	return test
}

// mcsConfigFile writes a configuration file of the MCS API over the
// clusters named (east: remote, west: remote2, and any given by snapshot
// file), read as the reader user, selecting the Services of test, and
// returns its path.
func mcsConfigFile(t *testing.T, test string, snapshots map[string]string) string {
	t.Helper()
	return mcsConfigFileVia(t, test, snapshots, readerKubeConfig(t, remote))
}

// mcsConfigFileVia is mcsConfigFile reading east through the kubeconfig
// given.
func mcsConfigFileVia(t *testing.T, test string, snapshots map[string]string, east string) string {
	t.Helper()
	type remoteCluster struct {
		Name           string `json:"name"`
		KubeConfigPath string `json:"kubeConfigPath,omitempty"`
		FromFile       string `json:"fromFile,omitempty"`
	}
	f := map[string]any{
		"global":       map[string]any{"api": "mcs", "mirrorSvcLabelSelector": mcsLabel + "=" + test},
		"localCluster": map[string]any{"name": "local", "kubeConfigPath": readerKubeConfig(t, local)},
	}
	remotes := []remoteCluster{{Name: "east", KubeConfigPath: east}, {Name: "west", KubeConfigPath: readerKubeConfig(t, remote2)}}
	for _, name := range slices.Sorted(maps.Keys(snapshots)) {
		remotes = append(remotes, remoteCluster{Name: name, FromFile: snapshots[name]})
	}
	f["remoteClusters"] = remotes
	b, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "mcs.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serviceImportOf reads the ServiceImport ns/name of the local cluster.
func serviceImportOf(t *testing.T, ns, name string) *mcsv1a1.ServiceImport {
	t.Helper()
	si, err := mcsClientOf(t, local).MulticlusterV1alpha1().ServiceImports(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ServiceImport %s/%s: %v", ns, name, err)
	}
	return si
}

// waitGone waits until the local cluster holds no ServiceImport ns/name.
func waitImportGone(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, 60*time.Second, "ServiceImport "+ns+"/"+name+" pruned", func() bool {
		_, err := mcsClientOf(t, local).MulticlusterV1alpha1().ServiceImports(ns).Get(t.Context(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// derived is the derived Service of the local ServiceImport ns/name.
func derived(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	svc, err := local.Client.CoreV1().Services(ns).Get(t.Context(), generate.DerivedName(ns, name), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("derived Service of %s/%s: %v", ns, name, err)
	}
	return svc
}
