package source_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// typedLists is a snapshot of typed lists, as `kubectl get -o yaml` prints
// one kind, single nodes and namespaces, and kinds that are not read.
const typedLists = `
apiVersion: v1
kind: EndpointsList
items:
- metadata: {name: a, namespace: x, labels: {mirror: "true"}}
  subsets: [{addresses: [{ip: 10.0.0.1, nodeName: n1, targetRef: {kind: Pod, name: a-0}}]}]
- metadata: {name: b, namespace: z, labels: {mirror: "true"}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSliceList
items:
- metadata: {name: a-1, namespace: x, labels: {mirror: "true", kubernetes.io/service-name: a, app: a}}
  addressType: IPv4
  endpoints: [{addresses: [10.0.0.1], nodeName: n1}]
---
apiVersion: v1
kind: NodeList
items:
- metadata: {name: n1, labels: {zone: z}}
  status: {addresses: [{type: InternalIP, address: 192.168.0.1}], images: [{names: [big]}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
---
apiVersion: v1
kind: NamespaceList
items:
- metadata: {name: x, labels: {team: x}}
  status: {phase: Active}
---
apiVersion: v1
kind: Namespace
metadata: {name: z}
spec: {finalizers: [kubernetes]}
---
null
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: a, namespace: x, labels: {mirror: "true"}}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: x, labels: {mirror: "true"}}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: z, labels: {mirror: "true"}}
`

// TestParseTypedLists: every list kind a snapshot may hold is read, nodes
// and namespaces only when asked for, stripped as a live list is, and a
// namespace selection leaves out the others.
func TestParseTypedLists(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		sel        source.Selection
		want       []string
		nodes, nss []string
	}{
		{name: "endpoints", sel: source.Selection{LabelSelector: "mirror=true"},
			want: []string{"Endpoints x/a", "Endpoints z/b", "Service x/a", "Service z/b"}},
		{name: "slices, nodes and namespaces", sel: source.Selection{LabelSelector: "mirror=true", EndpointsAPI: kubeapi.EndpointSlices, Nodes: true, Namespaces: true},
			want: []string{"EndpointSlice x/a-1", "Service x/a", "Service z/b"}, nodes: []string{"n1", "n2"}, nss: []string{"x", "z"}},
		{name: "one namespace", sel: source.Selection{Namespace: "z"},
			want: []string{"Endpoints z/b", "Service z/b"}},
		{name: "no endpoints", sel: source.Selection{EndpointsAPI: kubeapi.NoEndpoints},
			want: []string{"Service x/a", "Service z/b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := source.Parse(strings.NewReader(typedLists), tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, names(st)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			var nodes, nss []string
			for _, n := range st.Nodes {
				nodes = append(nodes, n.Name)
				if n.Labels != nil || n.Status.Images != nil {
					t.Errorf("node %s keeps labels %v, images %v", n.Name, n.Labels, n.Status.Images)
				}
			}
			for _, n := range st.Namespaces {
				nss = append(nss, n.Name)
				if len(n.Spec.Finalizers) > 0 || n.Status.Phase != "" {
					t.Errorf("namespace %s keeps spec %v, status %v", n.Name, n.Spec, n.Status)
				}
			}
			if !cmp.Equal(nodes, tt.nodes) || !cmp.Equal(nss, tt.nss) {
				t.Errorf("nodes %v, namespaces %v; want %v, %v", nodes, nss, tt.nodes, tt.nss)
			}
			for _, e := range st.Endpoints {
				if e.Labels != nil || len(e.Subsets) > 0 && (e.Subsets[0].Addresses[0].TargetRef != nil || e.Subsets[0].Addresses[0].NodeName != nil) {
					t.Errorf("Endpoints %s keeps what rendering never reads: %+v", e.Name, e)
				}
			}
			for _, s := range st.EndpointSlices {
				if len(s.Labels) != 1 || s.Endpoints[0].NodeName != nil {
					t.Errorf("EndpointSlice %s keeps labels %v, node %v", s.Name, s.Labels, s.Endpoints[0].NodeName)
				}
			}
		})
	}
}

// TestParseBrokenLists: an item of a typed list that does not decode fails
// the snapshot, naming the document.
func TestParseBrokenLists(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		"apiVersion: v1\nkind: ServiceList\nitems: [{spec: {ports: 7}}]\n",
		"apiVersion: v1\nkind: NodeList\nitems: 3\n",
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: ok, namespace: x}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: [IPv4]\n",
	} {
		_, err := source.Parse(strings.NewReader(doc), source.Selection{})
		if err == nil || !strings.Contains(err.Error(), "document ") {
			t.Errorf("Parse(%q): error = %v, want one naming the document", doc, err)
		}
	}
}
