package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/internal/kubeapi"
	"github.com/ssm-dev/ssm/source"
)

// finish normalises and validates the file and fills in defaults.
func (f *File) finish() error {
	for i := range f.RemoteClusters {
		r := &f.RemoteClusters[i]
		// semaphore-service-mirror's documented example uses "cluster-A",
		// which no Service name may hold: it is lower-cased.
		if lower := strings.ToLower(r.ServicePrefix); lower != r.ServicePrefix && len(validation.IsDNS1035Label(lower)) == 0 {
			f.notes = append(f.notes, fmt.Sprintf("remoteClusters[%d].servicePrefix %q is used as %q: Service names are lower case", i, r.ServicePrefix, lower))
			r.ServicePrefix = lower
		}
	}
	if problems := f.validate(); len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	if or(f.Global.ServiceSync, false) || or(f.Global.EndpointSliceSync, false) {
		f.notes = append(f.notes, "global.serviceSync and global.endpointSliceSync delete nothing: ssm writes to no cluster, and GitOps prunes what ssm stops rendering; "+
			"what semaphore-service-mirror left, ssm migrate semaphore-service-mirror lists")
	}
	if len(f.LocalCluster.Zones) == 0 {
		f.LocalCluster.Zones = []string{"local"}
	}
	f.LocalCluster.Name = cmp.Or(f.LocalCluster.Name, defaultLocalName)
	return nil
}

// validate checks values, naming each problem by its path.
func (f *File) validate() []string {
	var out []string
	if ns := f.Global.MirrorNamespace; ns != "" {
		out = append(out, bad("global.mirrorNamespace", ns, validation.IsDNS1123Label(ns))...)
	}
	for _, s := range []struct{ path, sel string }{{"global.mirrorSvcLabelSelector", f.Global.MirrorSvcLabelSelector},
		{"global.labelSelector", f.Global.LabelSelector}, {"global.globalSvcLabelSelector", f.Global.GlobalSvcLabelSelector},
		{"global.globalSvcRoutingStrategyLabel", f.Global.GlobalSvcRoutingStrategyLabel}} {
		if _, err := labels.Parse(s.sel); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", s.path, err))
		}
	}
	if _, err := ParseDenyCIDRs("global.denyCIDRs", f.Global.DenyCIDRs); err != nil {
		out = append(out, err.Error())
	}
	if len(f.RemoteClusters) == 0 {
		out = append(out, "remoteClusters: at least one remote cluster is required")
	}
	for i, a := range f.LocalCluster.AdoptServices {
		if err := validAdopt(a); err != nil {
			out = append(out, fmt.Sprintf("localCluster.adoptServices[%d]: %v", i, err))
		}
	}
	// Names are directories and object-name parts: compared as slugs, so
	// "a_b", "A-B" and "a-b" are one name.
	names, prefixes, nodePort := map[string]string{}, map[string]int{}, -1
	switch l := f.LocalCluster.Name; {
	case l == "":
		names[generate.ClusterSlug(defaultLocalName)] = fmt.Sprintf("localCluster.name (%q when unset)", defaultLocalName)
	case !generate.ClusterName.MatchString(l):
		out = append(out, fmt.Sprintf("localCluster.name: %q: %s", l, nameRule))
	default:
		names[generate.ClusterSlug(l)] = "localCluster.name"
	}
	mcs := generate.API(f.Global.API) == generate.APIMCS
	if _, err := apiOf(Overrides{}, f.Global.API); err != nil {
		out = append(out, err.Error())
	}
	for i, r := range f.RemoteClusters {
		p := fmt.Sprintf("remoteClusters[%d]", i)
		out = append(out, r.validate(p, mcs)...)
		slug := generate.ClusterSlug(r.Name)
		if other, dup := names[slug]; dup && r.Name != "" {
			out = append(out, fmt.Sprintf("%s.name: %q is also %s (names are compared lower-cased, '_' as '-')", p, r.Name, other))
		}
		if j, dup := prefixes[r.ServicePrefix]; dup && r.ServicePrefix != "" {
			out = append(out, fmt.Sprintf("%s.servicePrefix: %q is also remoteClusters[%d].servicePrefix", p, r.ServicePrefix, j))
		}
		if generate.Mode(r.Mode) == generate.ModeNodePort {
			if nodePort >= 0 {
				out = append(out, fmt.Sprintf("%s.mode: remoteClusters[%d] is in nodeport mode already: NodePort mirrors keep the remote namespace and name, so two remotes would render the same objects", p, nodePort))
			}
			nodePort = i
		}
		names[slug], prefixes[r.ServicePrefix] = p+".name", i
	}
	return out
}

// validAdopt checks a local Service to adopt: "namespace/name".
func validAdopt(s string) error {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1035Label(name)) > 0 {
		return fmt.Errorf("%q: want namespace/name of a local Service", s)
	}
	return nil
}

// bad reports a value that failed a Kubernetes name check, by path.
func bad(path, value string, errs []string) []string {
	if len(errs) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s: %q: %s", path, value, strings.Join(errs, "; "))}
}

// defaultLocalName names the local cluster when the file does not.
const defaultLocalName = "local"

const nameRule = "want 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"

// validate checks the remote at path p; the MCS API (mcs) keeps
// namespaces and names, and needs no service prefix.
func (r RemoteCluster) validate(p string, mcs bool) []string {
	var out []string
	switch {
	case !generate.ClusterName.MatchString(r.Name):
		out = append(out, fmt.Sprintf("%s.name: %q: %s", p, r.Name, nameRule))
	case generate.ClusterSlug(r.Name) == generate.GlobalDir:
		out = append(out, fmt.Sprintf("%s.name: %q: the output directory %s/ holds the global Services", p, r.Name, generate.GlobalDir))
	}
	mode := generate.Mode(r.Mode)
	switch {
	case r.Mode != "" && !slices.Contains(generate.Modes, mode):
		out = append(out, fmt.Sprintf("%s.mode: %q: want one of %v", p, r.Mode, generate.Modes))
	case mode != generate.ModeNodePort && r.ServicePrefix == "" && !mcs:
		out = append(out, p+".servicePrefix: required")
	case r.ServicePrefix == generate.GlobalPrefix:
		out = append(out, fmt.Sprintf("%s.servicePrefix: %q: global Services are named %s-<namespace>-73736d-<name>", p, r.ServicePrefix, generate.GlobalPrefix))
	case r.ServicePrefix != "":
		out = append(out, bad(p+".servicePrefix", r.ServicePrefix, validation.IsDNS1035Label(r.ServicePrefix))...)
	}
	return append(out, r.validateReads(p)...)
}

// validateReads checks how the remote is reached and what is read of it.
func (r RemoteCluster) validateReads(p string) []string {
	var out []string
	if r.LabelSelector != "" {
		if _, err := labels.Parse(r.LabelSelector); err != nil {
			out = append(out, fmt.Sprintf("%s.labelSelector: %v", p, err))
		}
	}
	if a := r.RemoteEndpointsAPI; a != "" && a != string(kubeapi.Endpoints) && a != string(kubeapi.EndpointSlices) {
		out = append(out, fmt.Sprintf("%s.remoteEndpointsAPI: %q: want %s or %s", p, a, kubeapi.Endpoints, kubeapi.EndpointSlices))
	}
	if a := r.EndpointsAPI; a != "" && !slices.Contains(generate.EndpointsAPIs, kubeapi.EndpointsAPI(a)) {
		out = append(out, fmt.Sprintf("%s.endpointsAPI: %q: want one of %v", p, a, generate.EndpointsAPIs))
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"resyncPeriod", r.ResyncPeriod}, {"timeout", r.Timeout}} {
		if d.v.Duration < 0 {
			out = append(out, fmt.Sprintf("%s.%s: %s: must not be negative", p, d.key, d.v.Duration))
		}
	}
	if r.FromFile != "" && (r.KubeConfigPath != "" || r.RemoteAPIURL != "") {
		out = append(out, p+".fromFile: reads a snapshot instead of the cluster: drop kubeConfigPath and remoteAPIURL")
	}
	if r.Domain != "" {
		out = append(out, bad(p+".domain", r.Domain, validation.IsDNS1123Subdomain(r.Domain))...)
	}
	if _, err := ParseDenyCIDRs(p+".denyCIDRs", r.DenyCIDRs); err != nil {
		out = append(out, err.Error())
	}
	if r.FromFile == "" && r.KubeConfigPath == "" && (r.RemoteAPIURL == "" || r.RemoteCAURL == "" || r.RemoteSATokenPath == "") {
		out = append(out, p+": set kubeConfigPath, or remoteAPIURL, remoteCAURL and remoteSATokenPath")
	}
	if err := r.Connection().Validate(); err != nil && r.KubeConfigPath != "" {
		out = append(out, fmt.Sprintf("%s: %v", p, err))
	}
	return out
}

// Connection is how to reach the remote: its kubeconfig when it has one
// (as semaphore-service-mirror prefers it), else URL, CA and token.
func (r RemoteCluster) Connection() source.Connection {
	if r.KubeConfigPath != "" {
		return source.Connection{KubeConfig: r.KubeConfigPath, Context: r.Context}
	}
	return source.Connection{APIURL: r.RemoteAPIURL, CAURL: r.RemoteCAURL, TokenPath: r.RemoteSATokenPath}
}

// DNSDomain is the remote's DNS domain: cluster.<name, lower-cased> unless set.
func (r RemoteCluster) DNSDomain() string {
	if r.Domain != "" {
		return r.Domain
	}
	return "cluster." + strings.ToLower(strings.ReplaceAll(r.Name, "_", "-"))
}
