package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ssm-dev/ssm/generate"
)

// TestCoreDNS resolves remote Service names through a real CoreDNS whose
// Corefile is what `ssm coredns` prints: ssm renders a remote's Services, the
// result is applied to the local API server, and CoreDNS's kubernetes plugin
// reads the mirrors from there, as it would in the local cluster. Clients ask
// for <name>.<namespace>.svc.<remote domain> and must get the mirrors'
// addresses under exactly the names they asked for.
func TestCoreDNS(t *testing.T) {
	requireEnv(t)
	bin := corednsBinary(t)
	ctx := t.Context()
	const prefix, mirrorNS, domain = "east", "dns-mirrors", "cluster.east"
	sel := map[string]string{"mirror.e2e/dns": "true"}
	headless := corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{tcp("pg", 5432)}}
	for _, s := range []service{
		{ns: "dns-shop", name: "web", labels: sel, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.20.0.1"), addr("10.20.0.2")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}},
		{ns: "dns-db", name: "pg", labels: sel, spec: headless, subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.30.0.11", Hostname: "pg-1"}, {IP: "10.30.0.10", Hostname: "pg-0"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.30.0.12", Hostname: "pg-2"}},
			Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432}},
		}}},
		// Not selected, so not mirrored: its name must not resolve.
		{ns: "dns-shop", name: "secret", labels: map[string]string{"mirror.e2e/dns": "false"}, spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80)}},
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.20.9.9")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}}}}},
	} {
		s.apply(ctx, t, remote.Client)
	}
	ensureNamespace(t, local.Client, mirrorNS)
	// CoreDNS reads EndpointSlices. The local test cluster runs no
	// controller that would make them from Endpoints, so ssm renders them.
	dir := filepath.Join(t.TempDir(), "mirrors")
	if r := ssm(t, nil, "render", "--target-kube-config", remote.KubeConfig, "--label-selector", "mirror.e2e/dns=true",
		"--svc-prefix", prefix, "--mirror-ns", mirrorNS, "--endpoints-api", "endpointslices", "-o", dir); r.code != 0 {
		t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
	}
	applyPruning(t, prefix, mirrorNS, dir)
	web, err := local.Client.CoreV1().Services(mirrorNS).Get(ctx, generate.MirrorName(prefix, "dns-shop", "web"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if net.ParseIP(web.Spec.ClusterIP) == nil {
		t.Fatalf("mirror %s has no cluster IP: %q", web.Name, web.Spec.ClusterIP)
	}

	r := ssm(t, nil, "coredns", "--svc-prefix", prefix, "--mirror-ns", mirrorNS, "--domain", domain)
	if r.code != 0 {
		t.Fatalf("ssm coredns: exit %d\n%s", r.code, r.stderr)
	}
	dns := startCoreDNS(t, bin, loopbackCorefile(t, r.stdout, local.KubeConfig, "e2e"))
	dns.waitFor(t, "web.dns-shop.svc.cluster.east.")

	const soa = "cluster.east. SOA"
	tests := []struct {
		name  string
		typ   dnsmessage.Type
		want  reply
		about string
	}{
		{name: "web.dns-shop.svc.cluster.east.", typ: dnsmessage.TypeA, about: "a ClusterIP mirror: its cluster IP",
			want: reply{RCode: "RCodeSuccess", Answer: []string{"web.dns-shop.svc.cluster.east. A " + web.Spec.ClusterIP}}},
		{name: "WEB.dns-shop.SVC.cluster.east.", typ: dnsmessage.TypeA, about: "names are case-insensitive",
			want: reply{RCode: "RCodeSuccess", Answer: []string{"web.dns-shop.svc.cluster.east. A " + web.Spec.ClusterIP}}},
		{name: "web.dns-shop.svc.cluster.east.", typ: dnsmessage.TypeAAAA, about: "no data, with the remote domain's SOA",
			want: reply{RCode: "RCodeSuccess", Authority: []string{soa}}},
		{name: "_http._tcp.web.dns-shop.svc.cluster.east.", typ: dnsmessage.TypeSRV, about: "SRV of a named port",
			want: reply{RCode: "RCodeSuccess", Answer: []string{"_http._tcp.web.dns-shop.svc.cluster.east. SRV 80 web.dns-shop.svc.cluster.east."},
				Additional: []string{"web.dns-shop.svc.cluster.east. A " + web.Spec.ClusterIP}}},
		{name: "pg.dns-db.svc.cluster.east.", typ: dnsmessage.TypeA, about: "a headless mirror: its ready endpoints",
			want: reply{RCode: "RCodeSuccess", Answer: []string{"pg.dns-db.svc.cluster.east. A 10.30.0.10", "pg.dns-db.svc.cluster.east. A 10.30.0.11"}}},
		{name: "pg-0.pg.dns-db.svc.cluster.east.", typ: dnsmessage.TypeA, about: "a headless mirror's endpoint by hostname",
			want: reply{RCode: "RCodeSuccess", Answer: []string{"pg-0.pg.dns-db.svc.cluster.east. A 10.30.0.10"}}},
		{name: "pg-1.pg.dns-db.svc.cluster.east.", typ: dnsmessage.TypeA,
			want: reply{RCode: "RCodeSuccess", Answer: []string{"pg-1.pg.dns-db.svc.cluster.east. A 10.30.0.11"}}},
		{name: "_pg._tcp.pg.dns-db.svc.cluster.east.", typ: dnsmessage.TypeSRV, about: "SRV of a headless mirror: one target per endpoint hostname",
			want: reply{RCode: "RCodeSuccess",
				Answer: []string{"_pg._tcp.pg.dns-db.svc.cluster.east. SRV 5432 pg-0.pg.dns-db.svc.cluster.east.",
					"_pg._tcp.pg.dns-db.svc.cluster.east. SRV 5432 pg-1.pg.dns-db.svc.cluster.east."},
				Additional: []string{"pg-0.pg.dns-db.svc.cluster.east. A 10.30.0.10", "pg-1.pg.dns-db.svc.cluster.east. A 10.30.0.11"}}},
		{name: "pg-2.pg.dns-db.svc.cluster.east.", typ: dnsmessage.TypeA, about: "a not-ready endpoint",
			want: reply{RCode: "RCodeNameError", Authority: []string{soa}}},
		{name: "secret.dns-shop.svc.cluster.east.", typ: dnsmessage.TypeA, about: "a remote Service that is not mirrored",
			want: reply{RCode: "RCodeNameError", Authority: []string{soa}}},
		{name: "web.dns-db.svc.cluster.east.", typ: dnsmessage.TypeA, about: "a mirrored name in another namespace",
			want: reply{RCode: "RCodeNameError", Authority: []string{soa}}},
		{name: "web.dns-shop.pod.cluster.east.", typ: dnsmessage.TypeA, about: "a name not of a Service",
			want: reply{RCode: "RCodeNameError", Authority: []string{soa}}},
		{name: "web.dns-shopxsvc.cluster.east.", typ: dnsmessage.TypeA, about: "dots are dots",
			want: reply{RCode: "RCodeNameError", Authority: []string{soa}}},
		{name: "cluster.east.", typ: dnsmessage.TypeA, about: "the zone itself exists",
			want: reply{RCode: "RCodeSuccess", Authority: []string{soa}}},
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
}

// corednsBinary is SSM_COREDNS, or coredns next to the API servers.
func corednsBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("SSM_COREDNS")
	if bin == "" {
		bin = filepath.Join(testbin, "coredns")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("SSM_E2E_REQUIRED") != "" {
			t.Fatalf("no CoreDNS (run hack/coredns/build.sh): %v", err)
		}
		t.Skipf("no CoreDNS at %s: run `make test`, which builds it", bin)
	}
	return bin
}

// loopbackCorefile makes a stanza of `ssm coredns` serve on loopback only
// and reach the test API server from outside it, with the kubernetes
// plugin's kubeconfig option. Nothing else is changed.
func loopbackCorefile(t *testing.T, stanza, kubeconfig, context string) string {
	t.Helper()
	var b strings.Builder
	var bind, kube bool
	for line := range strings.Lines(stanza) {
		b.WriteString(line)
		switch {
		case !bind && strings.HasSuffix(line, " {\n") && !strings.HasPrefix(line, " "):
			b.WriteString("    bind 127.0.0.1\n")
			bind = true
		case strings.HasPrefix(strings.TrimSpace(line), "kubernetes "):
			fmt.Fprintf(&b, "        kubeconfig %q %s\n", kubeconfig, context)
			kube = true
		}
	}
	if !bind || !kube {
		t.Fatalf("no server block or no kubernetes plugin in:\n%s", stanza)
	}
	return b.String()
}

// coreDNS is a running CoreDNS on loopback.
type coreDNS struct {
	addr    string
	logFile string
	exited  chan struct{} // closed when the process is gone; then err is its exit
	err     error
}

func startCoreDNS(t *testing.T, bin, corefile string) *coreDNS {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &coreDNS{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), logFile: filepath.Join(dir, "coredns.log"), exited: make(chan struct{})}
	log, err := os.Create(c.logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-conf", conf, "-dns.port", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
		log.Close()
	})
	t.Logf("CoreDNS on %s with Corefile:\n%s", c.addr, corefile)
	return c
}

// waitFor waits until CoreDNS answers name, which it does once it loaded
// the Corefile and its kubernetes plugin synced.
func (c *coreDNS) waitFor(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := c.query(name, dnsmessage.TypeA)
		if err == nil && len(r.Answer) > 0 {
			return
		}
		select {
		case <-c.exited:
			t.Fatalf("CoreDNS exited (%v); log:\n%s", c.err, c.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("CoreDNS on %s does not answer %s (last: %+v, %v); log:\n%s", c.addr, name, r, err, c.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *coreDNS) logs() string {
	b, _ := os.ReadFile(c.logFile)
	return string(b)
}

// reply is a DNS response as the tests compare it: the response code, and
// each section's records as "<name> <type> <value>", sorted. Authority
// records are "<name> <type>" only; TTLs are left out.
type reply struct {
	RCode                         string
	Answer, Authority, Additional []string
}

// query asks CoreDNS over UDP, as a pod's resolver does.
func (c *coreDNS) query(name string, typ dnsmessage.Type) (reply, error) {
	id := uint16(rand.Uint32())
	q := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := q.StartQuestions(); err != nil {
		return reply{}, err
	}
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		return reply{}, err
	}
	if err := q.Question(dnsmessage.Question{Name: qname, Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		return reply{}, err
	}
	msg, err := q.Finish()
	if err != nil {
		return reply{}, err
	}
	conn, err := net.Dial("udp", c.addr)
	if err != nil {
		return reply{}, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return reply{}, err
	}
	if _, err := conn.Write(msg); err != nil {
		return reply{}, fmt.Errorf("query %s %s: %w", name, typ, err)
	}
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil {
		return reply{}, fmt.Errorf("query %s %s: %w", name, typ, err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		return reply{}, fmt.Errorf("parse reply to %s %s: %w", name, typ, err)
	}
	if m.ID != id || !m.Response || m.Truncated || len(m.Questions) != 1 || m.Questions[0] != (dnsmessage.Question{Name: qname, Type: typ, Class: dnsmessage.ClassINET}) {
		return reply{}, fmt.Errorf("reply to %s %s does not answer it: %+v", name, typ, m.Header)
	}
	return toReply(m)
}

func toReply(m dnsmessage.Message) (reply, error) {
	r := reply{RCode: m.RCode.String()}
	var errs []error
	for _, sec := range []struct {
		rrs   []dnsmessage.Resource
		out   *[]string
		value bool
	}{{m.Answers, &r.Answer, true}, {m.Authorities, &r.Authority, false}, {m.Additionals, &r.Additional, true}} {
		for _, rr := range sec.rrs {
			if rr.Header.Type == dnsmessage.TypeOPT {
				continue
			}
			s := rr.Header.Name.String() + " " + strings.TrimPrefix(rr.Header.Type.String(), "Type")
			if sec.value {
				switch b := rr.Body.(type) {
				case *dnsmessage.AResource:
					s += " " + net.IP(b.A[:]).String()
				case *dnsmessage.AAAAResource:
					s += " " + net.IP(b.AAAA[:]).String()
				case *dnsmessage.SRVResource:
					s += " " + strconv.Itoa(int(b.Port)) + " " + b.Target.String()
				default:
					errs = append(errs, fmt.Errorf("unexpected record %s", rr.GoString()))
				}
			}
			*sec.out = append(*sec.out, s)
		}
		slices.Sort(*sec.out)
	}
	return r, errors.Join(errs...)
}
