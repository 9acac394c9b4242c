package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
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
	const src = "examples/deploy-config"
	var deploy *appsDeployment
	var cm *corev1.ConfigMap
	var roles []*rbacv1.ClusterRole
	var bindings []*rbacv1.ClusterRoleBinding
	for _, o := range splitObjects(t, src, kustomization{dir: "deploy-config"}.build(t)) {
		switch o.GetKind() {
		case "Deployment":
			deploy = convert[appsDeployment](t, o)
		case "ConfigMap":
			cm = convert[corev1.ConfigMap](t, o)
		case "ClusterRole":
			roles = append(roles, convert[rbacv1.ClusterRole](t, o))
		case "ClusterRoleBinding":
			bindings = append(bindings, convert[rbacv1.ClusterRoleBinding](t, o))
		}
	}
	if deploy == nil || cm == nil || len(deploy.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s builds no Deployment of one container, or no ConfigMap", src)
	}
	pod := deploy.Spec.Template.Spec
	args := pod.Containers[0].Args
	flags := helpFlags(t, "run")
	path := ""
	for _, a := range args[1:] {
		name, value, _ := strings.Cut(a, "=")
		if !flags[name] {
			t.Errorf("%s: ssm run has no flag %s", src, name)
		}
		if name == "--config" {
			path = value
		}
	}
	if args[0] != "run" || path == "" {
		t.Fatalf("%s: not `ssm run --config`: %q", src, args)
	}

	// Every file the configuration names is mounted from a Secret, the
	// configuration itself from the ConfigMap.
	mounts := map[string]corev1.Volume{}
	for _, m := range pod.Containers[0].VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == m.Name {
				mounts[m.MountPath] = v
			}
		}
	}
	if v := mounts[filepath.Dir(path)]; v.ConfigMap == nil || v.ConfigMap.Name != cm.Name || cm.Data[filepath.Base(path)] == "" {
		t.Fatalf("%s: --config=%s is not ConfigMap %s's %s", src, path, cm.Name, filepath.Base(path))
	}
	var config map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data[filepath.Base(path)]), &config); err != nil {
		t.Fatal(err)
	}
	remotes, _ := config["remoteClusters"].([]any) // not a copy: changed below
	if len(remotes) != 2 {
		t.Fatalf("%s: %d remotes, want 2", src, len(remotes))
	}
	for _, r := range remotes {
		for _, key := range []string{"remoteCAURL", "remoteSATokenPath"} {
			file, _ := r.(map[string]any)[key].(string)
			if v := mounts[filepath.Dir(file)]; v.Secret == nil {
				t.Errorf("%s: %s %q is in no Secret the Deployment mounts", src, key, file)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, file, cm.Data[filepath.Base(path)])
	if r := ssm(t, nil, "coredns", "--config", file); r.code != 0 || !strings.Contains(r.stdout, "cluster.east {") || !strings.Contains(r.stdout, "cluster.north {") {
		t.Fatalf("ssm coredns --config %s: exit %d\n%s%s", src, r.code, r.stdout, r.stderr)
	}

	// Against real clusters: east and north are the test's remotes, west
	// its local cluster.
	global := deployConfigFixtures(t, config)
	kubeConfig, unbind := deployConfigIdentity(t, pod.ServiceAccountName, roles, bindings)
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
	ctx := t.Context()
	const ns = "e2e-deploy-config"
	ensureNamespace(t, local.Client, ns)
	if _, err := local.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rbac := local.Client.RbacV1()
	for _, r := range roles {
		r.ResourceVersion = ""
		if _, err := rbac.ClusterRoles().Create(ctx, r, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	names := map[string]string{} // ClusterRole → the test's binding
	for _, b := range bindings {
		if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return s.Kind == "ServiceAccount" && s.Name == account }) {
			continue
		}
		mine := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: b.Name + "-e2e-deploy-config"}, RoleRef: b.RoleRef,
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: account, Namespace: ns}}}
		if _, err := rbac.ClusterRoleBindings().Create(ctx, mine, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		names[b.RoleRef.Name] = mine.Name
		t.Cleanup(func() { _ = rbac.ClusterRoleBindings().Delete(ctx, mine.Name, metav1.DeleteOptions{}) })
	}
	if names["ssm-local-reader"] == "" || names["ssm-local-global-reader"] == "" {
		t.Fatalf("examples/deploy-config binds %v to ServiceAccount %s, want ssm-local-reader and ssm-local-global-reader", names, account)
	}
	exp := int64(3600)
	tr, err := local.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, account,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "local.kubeconfig")
	writeFile(t, p, kubeconfig(local.URL, local.CAFile, tr.Status.Token))
	return p, func(role string) {
		if err := rbac.ClusterRoleBindings().Delete(ctx, names[role], metav1.DeleteOptions{}); err != nil {
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
