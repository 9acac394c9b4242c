package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// deployOverlay is what an overlay of examples/deploy running `ssm run
// --config` builds, as its Deployment would run it.
type deployOverlay struct {
	src      string
	pod      corev1.PodSpec
	args     []string
	cm       *corev1.ConfigMap
	roles    []*rbacv1.ClusterRole
	bindings []*rbacv1.ClusterRoleBinding
	// configText is the configuration file it mounts, config the same
	// parsed, and remotes its remoteClusters (not copies: a test points
	// them at its servers).
	configText string
	config     map[string]any
	remotes    []any
}

// readDeployOverlay builds examples/<dir> and checks it: `ssm run
// --config` with flags ssm has, the configuration from its ConfigMap, of
// n remotes, each naming its token and CA in a Secret the Deployment
// mounts.
func readDeployOverlay(t *testing.T, dir string, n int) deployOverlay {
	t.Helper()
	o := deployOverlay{src: "examples/" + dir}
	var deploy *appsDeployment
	for _, obj := range splitObjects(t, o.src, kustomization{dir: dir}.build(t)) {
		switch obj.GetKind() {
		case "Deployment":
			deploy = convert[appsDeployment](t, obj)
		case "ConfigMap":
			o.cm = convert[corev1.ConfigMap](t, obj)
		case "ClusterRole":
			o.roles = append(o.roles, convert[rbacv1.ClusterRole](t, obj))
		case "ClusterRoleBinding":
			o.bindings = append(o.bindings, convert[rbacv1.ClusterRoleBinding](t, obj))
		}
	}
	if deploy == nil || o.cm == nil || len(deploy.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s builds no Deployment of one container, or no ConfigMap", o.src)
	}
	o.pod = deploy.Spec.Template.Spec
	o.args = o.pod.Containers[0].Args
	flags := helpFlags(t, "run")
	path := ""
	for _, a := range o.args[1:] {
		name, value, _ := strings.Cut(a, "=")
		if !flags[name] {
			t.Errorf("%s: ssm run has no flag %s", o.src, name)
		}
		if name == "--config" {
			path = value
		}
	}
	if o.args[0] != "run" || path == "" {
		t.Fatalf("%s: not `ssm run --config`: %q", o.src, o.args)
	}
	// Every file the configuration names is mounted from a Secret, the
	// configuration itself from the ConfigMap.
	mounts := map[string]corev1.Volume{}
	for _, m := range o.pod.Containers[0].VolumeMounts {
		for _, v := range o.pod.Volumes {
			if v.Name == m.Name {
				mounts[m.MountPath] = v
			}
		}
	}
	data := o.cm.Data[filepath.Base(path)]
	if v := mounts[filepath.Dir(path)]; v.ConfigMap == nil || v.ConfigMap.Name != o.cm.Name || data == "" {
		t.Fatalf("%s: --config=%s is not ConfigMap %s's %s", o.src, path, o.cm.Name, filepath.Base(path))
	}
	o.configText = data
	if err := yaml.Unmarshal([]byte(data), &o.config); err != nil {
		t.Fatal(err)
	}
	o.remotes, _ = o.config["remoteClusters"].([]any)
	if len(o.remotes) != n {
		t.Fatalf("%s: %d remotes, want %d", o.src, len(o.remotes), n)
	}
	for _, r := range o.remotes {
		for _, key := range []string{"remoteCAURL", "remoteSATokenPath"} {
			file, _ := r.(map[string]any)[key].(string)
			if v := mounts[filepath.Dir(file)]; v.Secret == nil {
				t.Errorf("%s: %s %q is in no Secret the Deployment mounts", o.src, key, file)
			}
		}
	}
	return o
}

// boundRole is a ClusterRole of an example as a test created it in a
// cluster, and the test's binding to it.
type boundRole struct {
	role, binding string
}

// exampleIdentity gives cluster s the ClusterRoles of an example, named
// with suffix added, binds them as its ClusterRoleBindings bind them to
// the ServiceAccount account (in namespace ns of the test's own), and
// returns a token of that account, and the roles bound, by their names in
// the example.
func exampleIdentity(t *testing.T, s *apiServer, ns, account, suffix string, roles []*rbacv1.ClusterRole, bindings []*rbacv1.ClusterRoleBinding) (string, map[string]boundRole) {
	t.Helper()
	ctx := t.Context()
	ensureNamespace(t, s.Client, ns)
	if _, err := s.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rbac := s.Client.RbacV1()
	bound := map[string]boundRole{}
	for _, b := range bindings {
		i := slices.IndexFunc(roles, func(r *rbacv1.ClusterRole) bool { return r.Name == b.RoleRef.Name })
		if i < 0 || !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return s.Kind == "ServiceAccount" && s.Name == account }) {
			continue
		}
		role := roles[i].DeepCopy()
		role.Name, role.ResourceVersion = role.Name+suffix, ""
		if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		ref := b.RoleRef
		ref.Name = role.Name
		mine := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: b.Name + "-" + ns}, RoleRef: ref,
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: account, Namespace: ns}}}
		if _, err := rbac.ClusterRoleBindings().Create(ctx, mine, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		bound[b.RoleRef.Name] = boundRole{role: role.Name, binding: mine.Name}
		t.Cleanup(func() { _ = rbac.ClusterRoleBindings().Delete(ctx, mine.Name, metav1.DeleteOptions{}) })
	}
	exp := int64(3600)
	tr, err := s.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, account,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token, bound
}
