package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

func ptr[T any](v T) *T { return &v }

func ensureNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	_, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// grantReader binds the e2e reader user to exactly the read access ssm
// documents for a remote cluster.
func grantReader(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	ctx := t.Context()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "ssm-remote-reader"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "endpoints"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ssm-remote-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: readerUser}},
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// service describes a remote Service and its Endpoints for a fixture.
type service struct {
	ns, name string
	labels   map[string]string
	spec     corev1.ServiceSpec
	subsets  []corev1.EndpointSubset // nil: no Endpoints object
}

func (s service) apply(ctx context.Context, t *testing.T, c kubernetes.Interface) {
	t.Helper()
	ensureNamespace(t, c, s.ns)
	meta := metav1.ObjectMeta{Namespace: s.ns, Name: s.name, Labels: s.labels}
	svcs := c.CoreV1().Services(s.ns)
	if old, err := svcs.Get(ctx, s.name, metav1.GetOptions{}); err == nil {
		spec := s.spec
		spec.ClusterIP, spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
		old.Spec, old.Labels = spec, s.labels
		if _, err := svcs.Update(ctx, old, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update service %s/%s: %v", s.ns, s.name, err)
		}
	} else if _, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: meta, Spec: s.spec}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service %s/%s: %v", s.ns, s.name, err)
	}
	if s.subsets == nil {
		return
	}
	eps := c.CoreV1().Endpoints(s.ns)
	ep := &corev1.Endpoints{ObjectMeta: meta, Subsets: s.subsets}
	if old, err := eps.Get(ctx, s.name, metav1.GetOptions{}); err == nil {
		old.Subsets, old.Labels = s.subsets, s.labels
		_, err = eps.Update(ctx, old, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update endpoints %s/%s: %v", s.ns, s.name, err)
		}
	} else if _, err := eps.Create(ctx, ep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create endpoints %s/%s: %v", s.ns, s.name, err)
	}
}

func deleteService(t *testing.T, c kubernetes.Interface, ns, name string) {
	t.Helper()
	if err := c.CoreV1().Services(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Endpoints(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func tcp(name string, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(port + 8000)}
}

func addr(ip string) corev1.EndpointAddress { return corev1.EndpointAddress{IP: ip} }

// remoteFixture is a remote cluster's worth of Services covering every
// rendering rule: plain, NodePort, headless StatefulSet, multi-protocol,
// no endpoints, ExternalName, unselected and a name too long to mirror.
func remoteFixture(sel map[string]string) []service {
	pod := &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-1"}
	return []service{
		{ns: "shop", name: "web", labels: sel,
			spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80), {Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, AppProtocol: ptr("https")}}},
			subsets: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{{IP: "10.1.0.2", NodeName: ptr("node-b"), TargetRef: pod}, addr("10.1.0.1")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("10.1.0.3")},
				Ports:             []corev1.EndpointPort{{Name: "https", Port: 8443, Protocol: corev1.ProtocolTCP}, {Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
			}}},
		{ns: "shop", name: "cart", labels: sel,
			spec:    corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.1.1.1")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}},
		{ns: "db", name: "pg", labels: sel,
			spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true, Ports: []corev1.ServicePort{tcp("pg", 5432)}},
			subsets: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{{IP: "10.3.0.10", Hostname: "pg-0"}},
				NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.3.0.11", Hostname: "pg-1"}},
				Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432}},
			}}},
		{ns: "edge", name: "dns", labels: sel,
			spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
				{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP}}},
			subsets: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("10.2.0.1")}, Ports: []corev1.EndpointPort{{Name: "dns-udp", Port: 1053, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", Port: 1053}}},
				{Addresses: []corev1.EndpointAddress{addr("10.2.0.2"), addr("fd00::2")}, Ports: []corev1.EndpointPort{{Name: "dns-udp", Port: 1053, Protocol: corev1.ProtocolUDP}}},
			}},
		{ns: "shop", name: "empty", labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}},
		{ns: "shop", name: "ext", labels: sel, spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
		{ns: "shop", name: "hidden", labels: map[string]string{"app": "hidden"}, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.9.9.9")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}},
		{ns: "shop", name: "a-service-name-long-enough-to-overflow-the-limit", labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}},
	}
}
