package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1a1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// TestMCSCoreDNS renders the Multi-Cluster Services API of two remotes
// that export Services with ServiceExports, read as a user bound to the
// read-only roles docs/mcs.md gives, applies it to the local cluster
// (whose mcs-api CRDs are those sigs.k8s.io/mcs-api v0.5.2 embeds) with
// kubectl apply --server-side, and resolves the clusterset's names through
// a real CoreDNS whose Corefile is what `ssm coredns --api mcs` prints: a
// ClusterSetIP import's A and AAAA records are its pinned IPs, which the
// API server accepted for the derived Service; a Headless import's A
// records are every cluster's ready endpoints; endpoints by hostname per
// cluster; SRV records of named ports; nothing for what is not exported,
// nor for a name another MCS implementation serves, whose objects stay.
func TestMCSCoreDNS(t *testing.T) {
	requireEnv(t)
	bin := corednsBinary(t)
	installMCSCRDs(t, remote, remote2, local)
	grantMCSReaders(t)
	ctx := t.Context()
	const shop, data = "mcsdns-shop", "mcsdns-data" // data does not exist locally: ssm renders it
	ensureNamespace(t, local.Client, shop)
	mcsService(t, remote, shop, "web", dualStack(tcp("http", 80)),
		endpoint{ip: "10.60.0.1", ready: true}, endpoint{ip: "10.60.0.2"}, endpoint{ip: "fd00:60::1", ready: true})
	mcsService(t, remote2, shop, "web", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}, endpoint{ip: "10.62.0.1", ready: true})
	mcsService(t, remote, data, "db", headlessSpec(tcp("pg", 5432)),
		endpoint{ip: "10.61.0.10", hostname: "db-0", ready: true}, endpoint{ip: "10.61.0.11", hostname: "db-1"})
	mcsService(t, remote2, data, "db", headlessSpec(tcp("pg", 5432)), endpoint{ip: "10.63.0.10", hostname: "db-0", ready: true})
	mcsService(t, remote, shop, "secret", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}, endpoint{ip: "10.60.9.9", ready: true})
	mcsService(t, remote, shop, "theirs", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}, endpoint{ip: "10.60.8.8", ready: true})
	for _, s := range []struct {
		server   *apiServer
		ns, name string
	}{{remote, shop, "web"}, {remote2, shop, "web"}, {remote, data, "db"}, {remote2, data, "db"}, {remote, shop, "theirs"}} {
		exportService(t, s.server, s.ns, s.name)
	}
	// Another implementation's import of shop/theirs, as Cilium makes one.
	theirs := &mcsv1a1.ServiceImport{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "theirs", Labels: map[string]string{"app.kubernetes.io/managed-by": "cilium-operator"}},
		Spec: mcsv1a1.ServiceImportSpec{Type: mcsv1a1.ClusterSetIP, IPs: []string{"10.96.0.250"}, Ports: []mcsv1a1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	if _, err := mcsClientOf(t, local).MulticlusterV1alpha1().ServiceImports(shop).Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "mcs")
	args := append([]string{"render", "--config", mcsConfigFile(t, "mcsdns", nil), "-o", dir}, mcsRanges(1)...)
	r := ssm(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "reason=ImportOwnedByOther") || !strings.Contains(r.stderr, "cilium-operator") {
		t.Errorf("render did not say why it left %s/theirs out:\n%s", shop, r.stderr)
	}
	kubectl(t, local, "apply", "--server-side", "--field-manager=e2e-gitops", "-k", dir)

	web := serviceImportOf(t, shop, "web")
	if len(web.Spec.IPs) != 2 || web.Spec.Type != mcsv1a1.ClusterSetIP {
		t.Fatalf("ServiceImport %s/web: %+v, want a dual-stack ClusterSetIP import", shop, web.Spec)
	}
	if d := derived(t, shop, "web"); !slices.Equal(d.Spec.ClusterIPs, web.Spec.IPs) {
		t.Fatalf("derived Service of %s/web holds %v, the ServiceImport %v", shop, d.Spec.ClusterIPs, web.Spec.IPs)
	}
	if got := serviceImportOf(t, shop, "theirs"); got.Labels["app.kubernetes.io/managed-by"] != "cilium-operator" || got.Spec.IPs[0] != "10.96.0.250" {
		t.Errorf("another implementation's ServiceImport changed: %+v", got)
	}

	r = ssm(t, nil, "coredns", "--api", "mcs")
	if r.code != 0 {
		t.Fatalf("ssm coredns --api mcs: exit %d\n%s", r.code, r.stderr)
	}
	dns := startCoreDNS(t, bin, loopbackCorefile(t, r.stdout, local.KubeConfig, "e2e"))
	dns.waitFor(t, "web."+shop+".svc.clusterset.local.")

	const zone = ".svc.clusterset.local."
	webName, dbName := "web."+shop+zone, "db."+data+zone
	soa := "clusterset.local. SOA"
	tests := []struct {
		name  string
		typ   dnsmessage.Type
		want  reply
		about string
	}{
		{name: webName, typ: dnsmessage.TypeA, about: "a ClusterSetIP import: its IPv4 ClusterSetIP",
			want: reply{RCode: "RCodeSuccess", Answer: []string{webName + " A " + web.Spec.IPs[0]}}},
		{name: webName, typ: dnsmessage.TypeAAAA, about: "and its IPv6 ClusterSetIP",
			want: reply{RCode: "RCodeSuccess", Answer: []string{webName + " AAAA " + web.Spec.IPs[1]}}},
		{name: "_http._tcp." + webName, typ: dnsmessage.TypeSRV, about: "SRV of a ClusterSetIP import's named port",
			want: reply{RCode: "RCodeSuccess", Answer: []string{"_http._tcp." + webName + " SRV 80 " + webName},
				Additional: []string{webName + " A " + web.Spec.IPs[0], webName + " AAAA " + web.Spec.IPs[1]}}},
		{name: dbName, typ: dnsmessage.TypeA, about: "a Headless import: every cluster's ready endpoints",
			want: reply{RCode: "RCodeSuccess", Answer: []string{dbName + " A 10.61.0.10", dbName + " A 10.63.0.10"}}},
		{name: "db-0.east." + dbName, typ: dnsmessage.TypeA, about: "an endpoint by hostname, in cluster east",
			want: reply{RCode: "RCodeSuccess", Answer: []string{"db-0.east." + dbName + " A 10.61.0.10"}}},
		{name: "db-0.west." + dbName, typ: dnsmessage.TypeA, about: "the same hostname, in cluster west",
			want: reply{RCode: "RCodeSuccess", Answer: []string{"db-0.west." + dbName + " A 10.63.0.10"}}},
		{name: "_pg._tcp." + dbName, typ: dnsmessage.TypeSRV, about: "SRV of a Headless import: each cluster's ready endpoints, on the pods' port",
			want: reply{RCode: "RCodeSuccess",
				Answer:     []string{"_pg._tcp." + dbName + " SRV 13432 db-0.east." + dbName, "_pg._tcp." + dbName + " SRV 13432 db-0.west." + dbName},
				Additional: []string{"db-0.east." + dbName + " A 10.61.0.10", "db-0.west." + dbName + " A 10.63.0.10"}}},
		{name: "db-1.east." + dbName, typ: dnsmessage.TypeA, about: "a not-ready endpoint",
			want: reply{RCode: "RCodeNameError", Authority: []string{soa}}},
		{name: "secret." + shop + zone, typ: dnsmessage.TypeA, about: "a Service not exported",
			want: reply{RCode: "RCodeNameError", Authority: []string{soa}}},
		{name: "theirs." + shop + zone, typ: dnsmessage.TypeA, about: "another implementation's import: its IP, not ssm's",
			want: reply{RCode: "RCodeSuccess", Answer: []string{"theirs." + shop + zone + " A 10.96.0.250"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.typ.String(), func(t *testing.T) {
			got, err := dns.query(tt.name, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s\nCoreDNS log:\n%s", tt.about, diff, dns.logs())
			}
		})
	}
	if t.Failed() {
		t.Logf("rendered:\n%s", kubectl(t, local, "kustomize", dir))
	}
}
