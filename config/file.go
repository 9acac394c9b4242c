package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// File is semaphore-service-mirror's v0.4 configuration file, read as is
// (YAML or JSON), plus ssm's own keys per remote.
type File struct {
	Global         Global          `json:"global"`
	LocalCluster   LocalCluster    `json:"localCluster"`
	RemoteClusters []RemoteCluster `json:"remoteClusters"`

	path  string   // where it was read from; fromFile is relative to it
	notes []string // what finish changed, to log
}

// Global holds the settings of every remote.
type Global struct {
	MirrorNamespace               string `json:"mirrorNamespace"`
	MirrorSvcLabelSelector        string `json:"mirrorSvcLabelSelector"`
	LabelSelector                 string `json:"labelSelector"` // the v0.3 name of mirrorSvcLabelSelector
	GlobalSvcLabelSelector        string `json:"globalSvcLabelSelector"`
	GlobalSvcRoutingStrategyLabel string `json:"globalSvcRoutingStrategyLabel"`
	// DenyCIDRs, ssm's own key, are ranges no endpoint of any remote may
	// point into (--deny-cidr adds to them): the local cluster's Service
	// and node ranges, say.
	DenyCIDRs []string `json:"denyCIDRs"`
	// Deleting what the selectors no longer match at start: ssm's output
	// is pruned by GitOps on every change, so both are accepted, delete
	// nothing, and say so (a note): what semaphore-service-mirror left is
	// for `ssm migrate semaphore-service-mirror` to list.
	ServiceSync       *bool `json:"serviceSync"`
	EndpointSliceSync *bool `json:"endpointSliceSync"`
	// ssm's own keys: what is rendered (--api), and how the Multi-Cluster
	// Services API is.
	API string `json:"api"`
	MCS MCS    `json:"mcs"`
}

// LocalCluster is the cluster the mirrors are for.
type LocalCluster struct {
	Name           string   `json:"name"`
	Zones          []string `json:"zones"`
	KubeConfigPath string   `json:"kubeConfigPath"`
	// ssm's own keys.
	Context  string `json:"context"`  // context in kubeConfigPath
	FromFile string `json:"fromFile"` // render: a snapshot of the local cluster instead
	// AdoptServices lists local Services ("namespace/name") that a mirror
	// may take over although ssm did not render them (--adopt-service).
	AdoptServices []string `json:"adoptServices"`
}

// RemoteCluster is one cluster whose Services are mirrored.
type RemoteCluster struct {
	Name              string   `json:"name"`
	KubeConfigPath    string   `json:"kubeConfigPath"`
	RemoteAPIURL      string   `json:"remoteAPIURL"`
	RemoteCAURL       string   `json:"remoteCAURL"`
	RemoteSATokenPath string   `json:"remoteSATokenPath"`
	ServicePrefix     string   `json:"servicePrefix"`
	ResyncPeriod      Duration `json:"resyncPeriod"`
	// ssm's own keys: what a flag sets for the one remote of a run without
	// --config.
	Mode                      string   `json:"mode"`                      // --mode: endpoints (default) or nodeport
	Context                   string   `json:"context"`                   // --target-context
	Domain                    string   `json:"domain"`                    // ssm coredns: the remote's DNS domain; default cluster.<name>
	LabelSelector             string   `json:"labelSelector"`             // --label-selector, instead of global.mirrorSvcLabelSelector
	RemoteEndpointsAPI        string   `json:"remoteEndpointsAPI"`        // --remote-endpoints-api
	EndpointsAPI              string   `json:"endpointsAPI"`              // --endpoints-api
	Timeout                   Duration `json:"timeout"`                   // --timeout
	FromFile                  string   `json:"fromFile"`                  // render --from-file
	IgnoreNamespaces          []string `json:"ignoreNamespaces"`          // --ignore-namespace
	ExcludeUnschedulableNodes *bool    `json:"excludeUnschedulableNodes"` // --exclude-unschedulable-nodes
	NodePortService           *bool    `json:"nodePortService"`           // --nodeport-svc
	ManualEndpoints           *bool    `json:"manualEndpoints"`           // --manual-endpoints
	DenyCIDRs                 []string `json:"denyCIDRs"`                 // besides global.denyCIDRs and --deny-cidr
}

// Duration is a Go duration string ("10s") or a number of nanoseconds, as
// semaphore-service-mirror reads it.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil: // a key with no value: unset
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

// Notes are what reading the file changed on its own (a prefix lower-cased,
// say), for the caller to log.
func (f *File) Notes() []string { return f.notes }

// Load reads, overrides and validates a configuration file. Every problem
// is reported with its path in the file, e.g. remoteClusters[1].servicePrefix.
// ov is applied before the values are checked, as flags override the file.
func Load(path string, ov Overrides) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	f, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	f.path = path
	if ov.any() {
		ov.apply(f)
		if err := f.finish(); err != nil {
			return nil, fmt.Errorf("config %s (with flags applied): %w", path, err)
		}
		return f, nil
	}
	if err := f.finish(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Parse reads and validates a configuration file's content.
func Parse(raw []byte) (*File, error) {
	f, err := decode(raw)
	if err != nil {
		return nil, err
	}
	return f, f.finish()
}

// decode reads a configuration file's shape: unknown keys and values of
// the wrong type are errors. finish checks the values once flags have
// overridden what they set.
func decode(raw []byte) (*File, error) {
	j, err := yaml.YAMLToJSON(raw)
	if err != nil && strings.HasPrefix(err.Error(), "yaml: ") { // "yaml: line 1: …" already
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	if problems := checkShape("", generic, reflect.TypeFor[File]()); len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	var f File
	if err := json.Unmarshal(j, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

var durationType = reflect.TypeFor[Duration]()

// checkShape walks a decoded document against the Go type it must fill and
// names, by path, every unknown key and every value of the wrong type.
func checkShape(path string, v any, t reflect.Type) []string {
	at := func(msg string) []string {
		if path == "" {
			return []string{"the file: " + msg + " with the keys global, localCluster and remoteClusters"}
		}
		return []string{strings.TrimPrefix(path, ".") + ": " + msg}
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case v == nil:
		return nil
	case t == durationType:
		return checkDuration(v, at)
	case t.Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return at("want an object")
		}
		var out []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			f, ok := fieldByTag(t, k)
			if !ok {
				name := k
				if name == "" {
					name = `""`
				}
				out = append(out, strings.TrimPrefix(path+"."+name, ".")+": unknown key")
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

func checkDuration(v any, at func(string) []string) []string {
	if _, ok := v.(json.Number); ok {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return at("want a duration such as \"10s\" or a number of nanoseconds")
	}
	if _, err := time.ParseDuration(s); err != nil {
		return at(err.Error())
	}
	return nil
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name := strings.Split(f.Tag.Get("json"), ",")[0]; f.IsExported() && name != "" && name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
