package mirror_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// Fuzzed NodePort renders read the snapshot as both clusters: its Services
// labelled fuzzLocal are the local cluster's, with its namespaces, and the
// rest the remote's; fuzzAdopted is listed with --adopt-service.
const (
	fuzzLocal   = "fuzz.ssm.dev/local"
	fuzzAdopted = "adopted/svc"
)

// nodePortSeeds pit remote Services against local ones of the same names:
// another owner's, ssm's, barrelman's, adopted, a hand-written one; and
// names no cluster can hold.
var nodePortSeeds = []string{
	`{"kind":"List","apiVersion":"v1","items":[
{"kind":"Node","apiVersion":"v1","metadata":{"name":"n1"},"status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"10.0.0.1"},{"type":"InternalIP","address":"127.0.0.1"},{"type":"InternalIP","address":"::ffff:10.0.0.9"}]}},
{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"ingress"}},
{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"shop","labels":{"app.kubernetes.io/managed-by":"ssm"}}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"ctl","namespace":"ingress"},"spec":{"type":"LoadBalancer","ports":[{"name":"https","port":443,"nodePort":31443}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"ctl","namespace":"ingress","labels":{"fuzz.ssm.dev/local":"true"}},"spec":{"ports":[{"name":"https","port":443}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"shop"},"spec":{"type":"NodePort","ports":[{"name":"http","port":80,"nodePort":30080}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"shop","labels":{"fuzz.ssm.dev/local":"true","app.kubernetes.io/managed-by":"ssm"}},"spec":{"ports":[{"name":"http","port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"old","namespace":"shop"},"spec":{"type":"NodePort","ports":[{"name":"http","port":80,"nodePort":30081}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"old","namespace":"shop","labels":{"fuzz.ssm.dev/local":"true","tfw.io/barrelman":"managed-resource"}},"spec":{"ports":[{"name":"http","port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"svc","namespace":"adopted"},"spec":{"type":"NodePort","ports":[{"name":"http","port":80,"nodePort":30082}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"svc","namespace":"adopted","labels":{"fuzz.ssm.dev/local":"true"}},"spec":{"ports":[{"name":"http","port":80}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"hand","namespace":"shop","labels":{"fuzz.ssm.dev/local":"true","tfw.io/barrelman":"true"}},"spec":{"ports":[{"name":"http","port":80,"targetPort":30083}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"x","namespace":"../.."},"spec":{"type":"NodePort","ports":[{"name":"http","port":80,"nodePort":30084}]}},
{"kind":"Service","apiVersion":"v1","metadata":{"name":"kustomization","namespace":"shop"},"spec":{"type":"NodePort","ports":[{"name":"http","port":80,"nodePort":30085}]}}]}`,
}

// fuzzNodePort is FuzzSnapshotRender in NodePort mode. Besides what every
// render must be (valid paths and kustomizations, screened addresses and
// ports, deterministic, its input untouched), no rendered object takes a
// name the local cluster holds as another owner's: a Service only where
// the local cluster holds none, holds ssm's, barrelman's or the adopted
// one, and Flux's force annotation only on those ssm creates; endpoints
// only of a Service rendered beside them or a hand-written one; a
// Namespace only where the local cluster lacks it or ssm made it.
//
// api's bit 5 leaves the local cluster unread, bit 6 renders by namespace,
// bit 7 renders type NodePort.
func fuzzNodePort(t *testing.T, data []byte, api uint8) {
	st, err := source.Parse(bytes.NewReader(data), source.Selection{EndpointsAPI: kubeapi.NoEndpoints, Nodes: true, Namespaces: true})
	if err != nil {
		return
	}
	state := generate.State{Nodes: st.Nodes, Local: &generate.Local{Namespaces: st.Namespaces}}
	for _, s := range st.Services {
		if s.Labels[fuzzLocal] == "true" {
			state.Local.Services = append(state.Local.Services, s)
		} else {
			state.Services = append(state.Services, s)
		}
	}
	if api&32 != 0 {
		state.Local = nil
	}
	opts := generate.Options{Mode: generate.ModeNodePort, EndpointsAPI: generate.EndpointsAPIs[int(api>>1&3)%3], ManualEndpoints: true,
		ByNamespace: api&64 != 0, NodePortService: api&128 != 0, IgnoreNamespaces: []string{"kube-system"},
		DenyCIDRs: fuzzDeny, Adopt: []string{fuzzAdopted}}
	before := deepCopyNodePort(state)
	res, err := generate.Manifests(state, opts)
	if err != nil {
		t.Fatalf("Manifests refuses a parsed NodePort snapshot: %v", err)
	}
	if err := fileset.Files(res.Files).Validate(); err != nil {
		t.Fatalf("a rendered path: %v", err)
	}
	checkRendered(t, res.Files, func(string) bool { return false })
	local := localOwners(state.Local)
	for p, b := range res.Files {
		if path.Base(p) != generate.KustomizationFile {
			checkNodePortFile(t, p, b, local)
		}
	}
	if !reflect.DeepEqual(state, before) {
		t.Fatal("Manifests modified its input")
	}
	rev := deepCopyNodePort(state)
	slices.Reverse(rev.Services)
	slices.Reverse(rev.Nodes)
	if rev.Local != nil {
		slices.Reverse(rev.Local.Services)
		slices.Reverse(rev.Local.Namespaces)
	}
	if again, err := generate.Manifests(rev, opts); err != nil || !reflect.DeepEqual(again.Files, res.Files) {
		t.Fatalf("a render of the reversed input differs (error %v)", err)
	}
}

// owners is what the local cluster holds, as the oracle reads it; nil when
// it was not read.
type owners struct {
	services   map[string]*corev1.Service
	namespaces map[string]*corev1.Namespace
}

func localOwners(l *generate.Local) *owners {
	if l == nil {
		return nil
	}
	o := &owners{services: map[string]*corev1.Service{}, namespaces: map[string]*corev1.Namespace{}}
	for _, s := range l.Services {
		o.services[s.Namespace+"/"+s.Name] = s
	}
	for _, n := range l.Namespaces {
		o.namespaces[n.Name] = n
	}
	return o
}

// mayTake says whether a rendered Service may take the local name ns/name,
// and whether with Flux's force annotation.
func (o *owners) mayTake(key string) (ok, force bool) {
	if o == nil {
		return true, true
	}
	s, held := o.services[key]
	switch {
	case !held || s.Labels[generate.LabelManagedBy] == generate.ManagedBy:
		return true, true
	case key == fuzzAdopted || s.Labels[generate.LabelBarrelman] == generate.BarrelmanManaged:
		return true, false
	}
	return false, false
}

// checkNodePortFile checks the documents of one rendered file.
func checkNodePortFile(t *testing.T, p string, b []byte, local *owners) {
	t.Helper()
	services := map[string]bool{} // rendered in this file
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("%s, document %d: %v\n%s", p, n, err, doc)
		}
		var head struct {
			Kind     string           `json:"kind"`
			Metadata metav1ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(j, &head); err != nil {
			t.Fatalf("%s, document %d: %v", p, n, err)
		}
		ns, name := head.Metadata.Namespace, head.Metadata.Name
		switch head.Kind {
		case "Namespace":
			var o corev1.Namespace
			strict(t, p, j, &o)
			if local != nil {
				if held, ok := local.namespaces[o.Name]; ok && held.Labels[generate.LabelManagedBy] != generate.ManagedBy {
					t.Fatalf("%s: renders namespace %q, which the local cluster holds and ssm did not make", p, o.Name)
				}
			}
			continue
		case "Service":
			var o corev1.Service
			strict(t, p, j, &o)
			ok, force := local.mayTake(ns + "/" + name)
			if !ok {
				t.Fatalf("%s: renders Service %s/%s over the local one, another owner's", p, ns, name)
			}
			if got := o.Annotations[generate.AnnotationFluxForce] != ""; got != force {
				t.Fatalf("%s: Service %s/%s with force annotation %v, want %v", p, ns, name, got, force)
			}
			checkServicePorts(t, p, o.Spec.Ports)
			services[ns+"/"+name] = true
		case "Endpoints":
			var o corev1.Endpoints
			strict(t, p, j, &o)
			checkEndpoints(t, p, &o)
			checkEndpointsOwner(t, p, ns, name, services, local)
		case "EndpointSlice":
			var o discoveryv1.EndpointSlice
			strict(t, p, j, &o)
			checkSlice(t, p, &o)
			checkEndpointsOwner(t, p, ns, o.Labels[discoveryv1.LabelServiceName], services, local)
		default:
			t.Fatalf("%s, document %d: kind %q", p, n, head.Kind)
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			t.Fatalf("%s: %s %q in namespace %q: %v", p, head.Kind, name, ns, errs)
		}
		if !strings.HasSuffix(p, ".yaml") {
			t.Fatalf("%s: not a .yaml file", p)
		}
	}
}

// checkEndpointsOwner fails unless endpoints of ns/svc belong to a
// Service rendered beside them or a local hand-written one.
func checkEndpointsOwner(t *testing.T, p, ns, svc string, services map[string]bool, local *owners) {
	t.Helper()
	if services[ns+"/"+svc] {
		return
	}
	if local != nil {
		if s, ok := local.services[ns+"/"+svc]; ok && s.Labels[generate.LabelBarrelman] == generate.BarrelmanManual {
			return
		}
	}
	t.Fatalf("%s: endpoints of %s/%s, which is neither rendered here nor a hand-written local Service", p, ns, svc)
}

// metav1ObjectMeta is the part of an object's metadata the checks read.
type metav1ObjectMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

func deepCopyNodePort(st generate.State) generate.State {
	out := generate.State{}
	for _, s := range st.Services {
		out.Services = append(out.Services, s.DeepCopy())
	}
	for _, n := range st.Nodes {
		out.Nodes = append(out.Nodes, n.DeepCopy())
	}
	if st.Local != nil {
		out.Local = &generate.Local{}
		for _, s := range st.Local.Services {
			out.Local.Services = append(out.Local.Services, s.DeepCopy())
		}
		for _, n := range st.Local.Namespaces {
			out.Local.Namespaces = append(out.Local.Namespaces, n.DeepCopy())
		}
	}
	return out
}
