package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ssm-dev/ssm/internal/gittest"
)

// TestMCSFlux runs the MCS API as a Flux user would: `ssm run --api mcs`
// commits the clusterset of two remotes to a repository, Flux's real
// kustomize-controller applies each commit, pruning, and CoreDNS answers
// from what it applied. It shows the namespace the local cluster lacked
// created, a ClusterSetIP import keeping its IPs while clusters stop
// exporting it, and an import removed remotely gone from DNS once the next
// commit is applied, with the namespace ssm created for it.
func TestMCSFlux(t *testing.T) {
	bin := fluxBin(t)
	dnsBin := corednsBinary(t)
	installMCSCRDs(t, remote, remote2, local)
	grantMCSReaders(t)
	ctx := t.Context()
	const fluxNS, shop, data, path = "mcsflux-system", "mcsflux-shop", "mcsflux-data", "clusters/local/mcs"
	ensureNamespace(t, local.Client, fluxNS)
	ensureNamespace(t, local.Client, shop)
	startFlux(t, bin, fluxNS)
	mcsService(t, remote, shop, "web", dualStack(tcp("http", 80)), endpoint{ip: "10.64.0.1", ready: true}, endpoint{ip: "fd00:64::1", ready: true})
	mcsService(t, remote2, shop, "web", dualStack(tcp("http", 80)), endpoint{ip: "10.65.0.1", ready: true})
	mcsService(t, remote2, shop, "api", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}}, endpoint{ip: "10.65.0.2", ready: true})
	mcsService(t, remote, data, "db", headlessSpec(tcp("pg", 5432)), endpoint{ip: "10.64.1.10", hostname: "db-0", ready: true})
	exportService(t, remote, shop, "web")
	exportService(t, remote2, shop, "web")
	exportService(t, remote2, shop, "api")
	exportService(t, remote, data, "db")

	bare := bareRepo(t)
	seed := gittest.Git(t, bare, "rev-parse", "main")
	args := append([]string{"--config", mcsConfigFile(t, "mcsflux", nil), "--git-url", bare, "--git-path", path,
		"--debounce", "200ms", "--max-delay", "1s"}, mcsRanges(3)...)
	run := startRun(t, "run-mcs-flux", args...)
	src := newFluxSource(t, fluxNS, "ssm-mcs")
	fluxKustomization(t, src, "mcs", path)
	webFile, dbFile := path+"/imports/"+shop+".web.yaml", path+"/imports/"+data+".db.yaml"

	head := waitMainMoves(t, bare, seed, "the first commit", func(f map[string]string) bool {
		_, w := f[webFile]
		_, d := f[dbFile]
		return w && d && strings.Contains(f[path+"/namespaces/namespaces.yaml"], "name: "+data)
	})
	src.publish(bare, head)
	waitApplied(t, fluxNS, "mcs", head)
	ips := serviceImportOf(t, shop, "web").Spec.IPs
	if d := derived(t, shop, "web"); len(ips) != 2 || !slices.Equal(d.Spec.ClusterIPs, ips) {
		t.Fatalf("ServiceImport %s/web on %v, its derived Service on %v", shop, ips, d.Spec.ClusterIPs)
	}
	if ns, err := local.Client.CoreV1().Namespaces().Get(ctx, data, metav1.GetOptions{}); err != nil || ns.Labels["app.kubernetes.io/managed-by"] != "ssm" {
		t.Fatalf("namespace %s, which the local cluster lacked: %v, labels %v", data, err, ns.Labels)
	}

	r := ssm(t, nil, "coredns", "--api", "mcs")
	if r.code != 0 {
		t.Fatalf("ssm coredns --api mcs: exit %d\n%s", r.code, r.stderr)
	}
	dns := startCoreDNS(t, dnsBin, loopbackCorefile(t, r.stdout, local.KubeConfig, "e2e"))
	webName, dbName := "web."+shop+".svc.clusterset.local.", "db."+data+".svc.clusterset.local."
	dns.waitFor(t, dbName)
	answers := func(name string, typ dnsmessage.Type) reply {
		t.Helper()
		got, err := dns.query(name, typ)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := answers(webName, dnsmessage.TypeA); !slices.Equal(got.Answer, []string{webName + " A " + ips[0]}) {
		t.Errorf("%s A: %+v, want %s", webName, got, ips[0])
	}

	// West stops exporting web (one of its two exports): the import stays,
	// on the same IPs.
	unexportService(t, remote2, shop, "web")
	head = waitMainMoves(t, bare, head, "west's slices of web gone", func(f map[string]string) bool {
		_, west := f[path+"/west/"+shop+".web.yaml"]
		return !west
	})
	src.publish(bare, head)
	waitApplied(t, fluxNS, "mcs", head)
	if got := serviceImportOf(t, shop, "web").Spec.IPs; !slices.Equal(got, ips) {
		t.Errorf("ServiceImport %s/web moved from %v to %v when a cluster stopped exporting it", shop, ips, got)
	}

	// East stops exporting db, its only exporter: the next commit, once
	// applied, removes it from DNS, and the namespace ssm made for it.
	unexportService(t, remote, data, "db")
	head = waitMainMoves(t, bare, head, "db's removal committed", func(f map[string]string) bool {
		_, d := f[dbFile]
		return !d && !strings.Contains(f[path+"/namespaces/namespaces.yaml"], "name: "+data)
	})
	start := time.Now()
	src.publish(bare, head)
	waitApplied(t, fluxNS, "mcs", head)
	waitImportGone(t, data, "db")
	eventually(t, 30*time.Second, dbName+" gone from DNS", func() bool { return answers(dbName, dnsmessage.TypeA).RCode == "RCodeNameError" })
	t.Logf("%s NXDOMAIN %s after the commit removing it was published to Flux", dbName, time.Since(start).Round(time.Millisecond))
	if ns, err := local.Client.CoreV1().Namespaces().Get(ctx, data, metav1.GetOptions{}); err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("namespace %s, which ssm created, outlived its last import; want it pruned", data)
	}
	if got := answers(webName, dnsmessage.TypeAAAA); !slices.Equal(got.Answer, []string{webName + " AAAA " + ips[1]}) {
		t.Errorf("%s AAAA: %+v, want %s", webName, got, ips[1])
	}
	if _, err := local.Client.CoreV1().Namespaces().Get(ctx, shop, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace %s, which ssm did not create: %v", shop, err)
	}

	// West stops exporting its last Service: that is all of its mirrors
	// at once, which the removal guard holds (as for an outage or a broken
	// selector), naming the cluster.
	unexportService(t, remote2, shop, "api")
	eventually(t, 30*time.Second, "the removal held", func() bool {
		return strings.Contains(run.logs(), `msg="removals held`) && strings.Contains(run.logs(), "cluster=west remove=1 stored=1")
	})
	if now := gittest.Git(t, bare, "rev-parse", "main"); now != head {
		t.Errorf("main moved from %s to %s while the removal is held", head, now)
	}
	if strings.Contains(run.logs(), "level=ERROR") {
		t.Errorf("ssm run logged errors:\n%s", run.logs())
	}
}
