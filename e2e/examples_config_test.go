package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// TestExamplesDeployConfig checks examples/deploy-config, `ssm run --config`
// in the local cluster, as its Deployment would run: every flag exists,
// the configuration it mounts is one ssm takes and names files the
// Deployment mounts, and, against real API servers, that configuration
// renders both remotes and the global Services with exactly the access the
// examples give: the remotes read with their read-only identity
// (examples/deploy/remote), the local cluster with a token of the
// overlay's ServiceAccount bound to the overlay's ClusterRoles. Without
// local-global-reader.yaml, the render fails.
func TestExamplesDeployConfig(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	o := readDeployOverlay(t, "deploy-config", 2)
	src, config, remotes := o.src, o.config, o.remotes
	file := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, file, o.configText)
	if r := ssm(t, nil, "coredns", "--config", file); r.code != 0 || !strings.Contains(r.stdout, "cluster.east {") || !strings.Contains(r.stdout, "cluster.north {") {
		t.Fatalf("ssm coredns --config %s: exit %d\n%s%s", src, r.code, r.stdout, r.stderr)
	}

	// Against real clusters: east and north are the test's remotes, west
	// its local cluster.
	global := deployConfigFixtures(t, config)
	kubeConfig, unbind := deployConfigIdentity(t, o.pod.ServiceAccountName, o.roles, o.bindings)
	for i, s := range []*apiServer{remote, remote2} {
		grantReader(t, s.Client)
		token := filepath.Join(t.TempDir(), "token")
		writeFile(t, token, readerToken)
		rc := remotes[i].(map[string]any)
		rc["remoteAPIURL"], rc["remoteCAURL"], rc["remoteSATokenPath"] = s.URL, s.CAFile, token
	}
	lc, _, _ := unstructured.NestedMap(config, "localCluster")
	lc["kubeConfigPath"] = kubeConfig
	_ = unstructured.SetNestedMap(config, lc, "localCluster")
	b, err := yaml.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, string(b))
	out := filepath.Join(t.TempDir(), "mirrors")
	if r := ssm(t, nil, "render", "--config", file, "-o", out); r.code != 0 {
		t.Fatalf("render %s's configuration: exit %d\n%s", src, r.code, r.stderr)
	}
	for _, want := range []string{"east/east-dc-shop-73736d-api.yaml", "north/north-dc-shop-73736d-api.yaml",
		"global/" + global + ".yaml", "global/west/" + global + ".yaml", "global/east/" + global + ".yaml", "global/north/" + global + ".yaml"} {
		if _, err := os.Stat(filepath.Join(out, want)); err != nil {
			t.Errorf("render %s's configuration: no %s", src, want)
		}
	}

	unbind("ssm-local-global-reader")
	eventually(t, 30*time.Second, "a render without local-global-reader.yaml to fail", func() bool {
		r := ssm(t, nil, "render", "--config", file, "-o", filepath.Join(t.TempDir(), "mirrors"))
		return r.code == 2 && strings.Contains(r.stderr, "endpointslices") && strings.Contains(r.stderr, "forbidden")
	})
}

// appsDeployment is the part of a Deployment the test reads.
type appsDeployment struct {
	Spec struct {
		Template struct {
			Spec corev1.PodSpec `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

func convert[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	v := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, v); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return v
}

// deployConfigFixtures creates dc-shop/api, selected by the configuration
// as mirrored and global, in the remotes (east with Endpoints, north with
// EndpointSlices, as the configuration reads them) and as global in the
// local cluster, and returns the global Service's name.
func deployConfigFixtures(t *testing.T, config map[string]any) string {
	t.Helper()
	ctx := t.Context()
	label := func(key string) map[string]string {
		sel, _, _ := unstructured.NestedString(config, "global", key)
		k, v, _ := strings.Cut(sel, "=")
		return map[string]string{k: v}
	}
	both := label("mirrorSvcLabelSelector")
	for k, v := range label("globalSvcLabelSelector") {
		both[k] = v
	}
	spec := corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}
	service{ns: "dc-shop", name: "api", labels: both, spec: spec,
		subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.41.0.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}}.apply(ctx, t, remote.Client)
	service{ns: "dc-shop", name: "api", labels: both, spec: spec}.apply(ctx, t, remote2.Client)
	service{ns: "dc-shop", name: "api", labels: label("globalSvcLabelSelector"), spec: spec}.apply(ctx, t, local.Client)
	ready, port, name := true, int32(8080), "http"
	for c, ip := range map[*apiServer]string{remote2: "10.42.0.1", local: "10.40.0.1"} {
		// As the EndpointSlice controller makes them: the Service's labels.
		labels := map[string]string{discoveryv1.LabelServiceName: "api"}
		for k, v := range both {
			if c == remote2 || label("globalSvcLabelSelector")[k] == v {
				labels[k] = v
			}
		}
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "api-dc", Namespace: "dc-shop", Labels: labels},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		}
		if _, err := c.Client.DiscoveryV1().EndpointSlices("dc-shop").Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	return "gl-dc-shop-73736d-api"
}

// deployConfigIdentity gives the local cluster the overlay's ClusterRoles,
// binds them as its ClusterRoleBindings do, to a ServiceAccount named as
// the Deployment's in a namespace of the test's own, and returns a
// kubeconfig holding a token of that account, and a function that deletes
// the binding to a ClusterRole.
func deployConfigIdentity(t *testing.T, account string, roles []*rbacv1.ClusterRole, bindings []*rbacv1.ClusterRoleBinding) (string, func(role string)) {
	t.Helper()
	token, bound := exampleIdentity(t, local, "e2e-deploy-config", account, "", roles, bindings)
	if bound["ssm-local-reader"].binding == "" || bound["ssm-local-global-reader"].binding == "" {
		t.Fatalf("examples/deploy-config binds %v to ServiceAccount %s, want ssm-local-reader and ssm-local-global-reader", bound, account)
	}
	p := filepath.Join(t.TempDir(), "local.kubeconfig")
	writeFile(t, p, kubeconfig(local.URL, local.CAFile, token))
	return p, func(role string) {
		if err := local.Client.RbacV1().ClusterRoleBindings().Delete(t.Context(), bound[role].binding, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExamplesRemoteCommands requires the commands that mint the remote's
// token and take its CA to be the same in examples/deploy/remote and in
// docs/deploy.md, which a user may follow either of.
func TestExamplesRemoteCommands(t *testing.T) {
	t.Parallel()
	example := filepath.Join(examplesDir, "deploy", "remote", "kustomization.yaml")
	doc := string(readExampleFile(t, filepath.Join(examplesDir, "..", "docs", "deploy.md")))
	var found int
	for line := range strings.SplitSeq(string(readExampleFile(t, example)), "\n") {
		cmd := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		if !strings.HasPrefix(cmd, "kubectl --context east -n ssm ") {
			continue
		}
		found++
		if !strings.Contains(doc, "\n"+cmd+"\n") {
			t.Errorf("%s gives a command docs/deploy.md does not:\n%s", example, cmd)
		}
	}
	if found != 2 {
		t.Errorf("%s: %d commands minting the token or taking the CA, want 2", example, found)
	}
}
