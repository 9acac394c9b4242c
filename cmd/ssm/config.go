package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/source"
)

// fileConfig is semaphore-service-mirror's v0.4 configuration file, read as
// is (YAML or JSON), plus ssm's own keys per remote.
type fileConfig struct {
	Global         globalConfig   `json:"global"`
	LocalCluster   localConfig    `json:"localCluster"`
	RemoteClusters []remoteConfig `json:"remoteClusters"`

	notes []string // what finish changed, to log
}

type globalConfig struct {
	MirrorNamespace               string `json:"mirrorNamespace"`
	MirrorSvcLabelSelector        string `json:"mirrorSvcLabelSelector"`
	LabelSelector                 string `json:"labelSelector"` // the v0.3 name of mirrorSvcLabelSelector
	GlobalSvcLabelSelector        string `json:"globalSvcLabelSelector"`
	GlobalSvcRoutingStrategyLabel string `json:"globalSvcRoutingStrategyLabel"`
	// Deleting what the selectors no longer match at start: ssm's output
	// is pruned by GitOps on every change, so both are accepted and have
	// no effect.
	ServiceSync       *bool `json:"serviceSync"`
	EndpointSliceSync *bool `json:"endpointSliceSync"`
}

type localConfig struct {
	Name           string   `json:"name"`
	Zones          []string `json:"zones"`
	KubeConfigPath string   `json:"kubeConfigPath"`
	// ssm's own keys.
	Context  string `json:"context"`  // context in kubeConfigPath
	FromFile string `json:"fromFile"` // render: a snapshot of the local cluster instead
}

type remoteConfig struct {
	Name              string   `json:"name"`
	KubeConfigPath    string   `json:"kubeConfigPath"`
	RemoteAPIURL      string   `json:"remoteAPIURL"`
	RemoteCAURL       string   `json:"remoteCAURL"`
	RemoteSATokenPath string   `json:"remoteSATokenPath"`
	ServicePrefix     string   `json:"servicePrefix"`
	ResyncPeriod      duration `json:"resyncPeriod"`
	// ssm's own keys: what a flag sets for the one remote of a run without
	// --config.
	Mode                      string   `json:"mode"`                      // --mode: endpoints (default) or nodeport
	Context                   string   `json:"context"`                   // --target-context
	Domain                    string   `json:"domain"`                    // ssm coredns: the remote's DNS domain; default cluster.<name>
	LabelSelector             string   `json:"labelSelector"`             // --label-selector, instead of global.mirrorSvcLabelSelector
	RemoteEndpointsAPI        string   `json:"remoteEndpointsAPI"`        // --remote-endpoints-api
	EndpointsAPI              string   `json:"endpointsAPI"`              // --endpoints-api
	Timeout                   duration `json:"timeout"`                   // --timeout
	FromFile                  string   `json:"fromFile"`                  // render --from-file
	IgnoreNamespaces          []string `json:"ignoreNamespaces"`          // --ignore-namespace
	ExcludeUnschedulableNodes *bool    `json:"excludeUnschedulableNodes"` // --exclude-unschedulable-nodes
	NodePortService           *bool    `json:"nodePortService"`           // --nodeport-svc
	ManualEndpoints           *bool    `json:"manualEndpoints"`           // --manual-endpoints
}

// duration is a Go duration string ("10s") or a number of nanoseconds, as
// semaphore-service-mirror reads it.
type duration struct{ time.Duration }

// MarshalJSON writes the duration as a Go duration string.
func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case float64:
		d.Duration = time.Duration(x)
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return err
		}
		d.Duration = p
	default:
		return fmt.Errorf("want a duration such as \"10s\" or a number of nanoseconds, got %v", v)
	}
	return nil
}

// loadConfig reads and validates a configuration file. Every problem is
// reported with its path in the file, e.g. remoteClusters[1].servicePrefix.
func loadConfig(path string) (*fileConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// readConfig reads a configuration file's shape only: see decodeConfig.
func readConfig(path string) (*fileConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := decodeConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func parseConfig(raw []byte) (*fileConfig, error) {
	cfg, err := decodeConfig(raw)
	if err != nil {
		return nil, err
	}
	return cfg, cfg.finish()
}

// decodeConfig reads a configuration file's shape: unknown keys and values
// of the wrong type are errors. finish checks the values once flags have
// overridden what they set.
func decodeConfig(raw []byte) (*fileConfig, error) {
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	if problems := checkShape("", generic, reflect.TypeFor[fileConfig]()); len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	var cfg fileConfig
	if err := json.Unmarshal(j, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// finish normalises and validates the configuration and fills in defaults.
func (c *fileConfig) finish() error {
	for i := range c.RemoteClusters {
		r := &c.RemoteClusters[i]
		// semaphore-service-mirror's documented example uses "cluster-A",
		// which no Service name may hold: it is lower-cased.
		if lower := strings.ToLower(r.ServicePrefix); lower != r.ServicePrefix && len(validation.IsDNS1035Label(lower)) == 0 {
			c.notes = append(c.notes, fmt.Sprintf("remoteClusters[%d].servicePrefix %q is used as %q: Service names are lower case", i, r.ServicePrefix, lower))
			r.ServicePrefix = lower
		}
	}
	if problems := c.validate(); len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	if len(c.LocalCluster.Zones) == 0 {
		c.LocalCluster.Zones = []string{"local"}
	}
	c.LocalCluster.Name = cmp.Or(c.LocalCluster.Name, "local")
	return nil
}

var durationType = reflect.TypeFor[duration]()

// checkShape walks a decoded document against the Go type it must fill and
// names, by path, every unknown key and every value of the wrong type.
func checkShape(path string, v any, t reflect.Type) []string {
	at := func(msg string) []string { return []string{strings.TrimPrefix(path, ".") + ": " + msg} }
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case v == nil:
		return nil
	case t == durationType:
		if _, ok := v.(json.Number); ok {
			return nil
		}
		if s, ok := v.(string); !ok {
			return at("want a duration such as \"10s\" or a number of nanoseconds")
		} else if _, err := time.ParseDuration(s); err != nil {
			return at(err.Error())
		}
		return nil
	case t.Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return at("want an object")
		}
		var out []string
		for _, k := range sortedKeys(m) {
			f, ok := fieldByTag(t, k)
			if !ok {
				out = append(out, strings.TrimPrefix(path+"."+k, ".")+": unknown key")
				continue
			}
			out = append(out, checkShape(path+"."+k, m[k], f.Type)...)
		}
		return out
	case t.Kind() == reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return at("want a list")
		}
		var out []string
		for i, e := range l {
			out = append(out, checkShape(fmt.Sprintf("%s[%d]", path, i), e, t.Elem())...)
		}
		return out
	case t.Kind() == reflect.String:
		if _, ok := v.(string); !ok {
			return at("want a string")
		}
	case t.Kind() == reflect.Bool:
		if _, ok := v.(bool); !ok {
			return at("want true or false")
		}
	}
	return nil
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); strings.Split(f.Tag.Get("json"), ",")[0] == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// validate checks values, naming each problem by its path.
func (c *fileConfig) validate() []string {
	var out []string
	bad := func(path, value string, errs []string) {
		if len(errs) > 0 {
			out = append(out, fmt.Sprintf("%s: %q: %s", path, value, strings.Join(errs, "; ")))
		}
	}
	if ns := c.Global.MirrorNamespace; ns != "" {
		bad("global.mirrorNamespace", ns, validation.IsDNS1123Label(ns))
	}
	for _, s := range []struct{ path, sel string }{{"global.mirrorSvcLabelSelector", c.Global.MirrorSvcLabelSelector},
		{"global.labelSelector", c.Global.LabelSelector}, {"global.globalSvcLabelSelector", c.Global.GlobalSvcLabelSelector}} {
		if _, err := labels.Parse(s.sel); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", s.path, err))
		}
	}
	if len(c.RemoteClusters) == 0 {
		out = append(out, "remoteClusters: at least one remote cluster is required")
	}
	// Names are directories and object-name parts: compared as slugs, so
	// "a_b", "A-B" and "a-b" are one name.
	names, prefixes, nodePort := map[string]string{}, map[string]int{}, -1
	if l := c.LocalCluster.Name; l != "" {
		if !generate.ClusterName.MatchString(l) {
			out = append(out, fmt.Sprintf("localCluster.name: %q: %s", l, nameRule))
		}
		names[generate.ClusterSlug(l)] = "localCluster.name"
	}
	for i, r := range c.RemoteClusters {
		p := fmt.Sprintf("remoteClusters[%d]", i)
		out = append(out, r.validate(p)...)
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

const nameRule = "want 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"

func (r remoteConfig) validate(p string) []string {
	var out []string
	bad := func(key, value string, errs []string) {
		if len(errs) > 0 {
			out = append(out, fmt.Sprintf("%s.%s: %q: %s", p, key, value, strings.Join(errs, "; ")))
		}
	}
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
	case mode != generate.ModeNodePort && r.ServicePrefix == "":
		out = append(out, p+".servicePrefix: required")
	case r.ServicePrefix == generate.GlobalPrefix:
		out = append(out, fmt.Sprintf("%s.servicePrefix: %q: global Services are named %s-<namespace>-73736d-<name>", p, r.ServicePrefix, generate.GlobalPrefix))
	case r.ServicePrefix != "":
		bad("servicePrefix", r.ServicePrefix, validation.IsDNS1035Label(r.ServicePrefix))
	}
	if r.LabelSelector != "" {
		if _, err := labels.Parse(r.LabelSelector); err != nil {
			out = append(out, fmt.Sprintf("%s.labelSelector: %v", p, err))
		}
	}
	if a := r.RemoteEndpointsAPI; a != "" && a != string(source.Endpoints) && a != string(source.EndpointSlices) {
		out = append(out, fmt.Sprintf("%s.remoteEndpointsAPI: %q: want %s or %s", p, a, source.Endpoints, source.EndpointSlices))
	}
	if a := r.EndpointsAPI; a != "" && !slices.Contains(generate.EndpointsAPIs, generate.EndpointsAPI(a)) {
		out = append(out, fmt.Sprintf("%s.endpointsAPI: %q: want one of %v", p, a, generate.EndpointsAPIs))
	}
	if r.FromFile != "" && (r.KubeConfigPath != "" || r.RemoteAPIURL != "") {
		out = append(out, p+".fromFile: reads a snapshot instead of the cluster: drop kubeConfigPath and remoteAPIURL")
	}
	if r.Domain != "" {
		bad("domain", r.Domain, validation.IsDNS1123Subdomain(r.Domain))
	}
	if r.FromFile == "" && r.KubeConfigPath == "" && (r.RemoteAPIURL == "" || r.RemoteCAURL == "" || r.RemoteSATokenPath == "") {
		out = append(out, p+": set kubeConfigPath, or remoteAPIURL, remoteCAURL and remoteSATokenPath")
	}
	if err := r.connection().Validate(); err != nil && r.KubeConfigPath != "" {
		out = append(out, fmt.Sprintf("%s: %v", p, err))
	}
	return out
}

// connection is how to reach the remote: its kubeconfig when it has one
// (as semaphore-service-mirror prefers it), else URL, CA and token.
func (r remoteConfig) connection() source.Connection {
	if r.KubeConfigPath != "" {
		return source.Connection{KubeConfig: r.KubeConfigPath, Context: r.Context}
	}
	return source.Connection{APIURL: r.RemoteAPIURL, CAURL: r.RemoteCAURL, TokenPath: r.RemoteSATokenPath}
}

// domain is the remote's DNS domain: cluster.<name, lower-cased> unless set.
func (r remoteConfig) domain() string {
	if r.Domain != "" {
		return r.Domain
	}
	return "cluster." + strings.ToLower(strings.ReplaceAll(r.Name, "_", "-"))
}
