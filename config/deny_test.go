package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestResolveDenyCIDRs: a remote's deny ranges are global.denyCIDRs, its
// own and --deny-cidr together, each once, networks masked; the local
// cluster has none (its endpoints are local by definition); plain flags
// give the one remote --deny-cidr's.
func TestResolveDenyCIDRs(t *testing.T) {
	path := writeConfig(t, `
global: {mirrorNamespace: m, mirrorSvcLabelSelector: a, globalSvcLabelSelector: g, denyCIDRs: [10.96.0.0/12, "fd00:10:96::/112"]}
localCluster: {kubeConfigPath: k}
remoteClusters:
- {name: a, servicePrefix: a, kubeConfigPath: k, denyCIDRs: [10.0.0.1/16]}
- {name: b, servicePrefix: b, kubeConfigPath: k}
`)
	cfg, err := Resolve(path, Overrides{DenyCIDRs: []string{"192.168.0.0/16", "10.96.0.0/12"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range cfg.Clusters {
		got[c.Name] = fmt.Sprint(c.Options.DenyCIDRs)
	}
	want := map[string]string{"a": "[10.0.0.0/16 10.96.0.0/12 192.168.0.0/16 fd00:10:96::/112]",
		"b": "[10.96.0.0/12 192.168.0.0/16 fd00:10:96::/112]", "local": "[]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deny ranges %v, want %v", got, want)
	}
	flat, err := Resolve("", Overrides{LabelSelector: ptr("a"), ServicePrefix: ptr("p"), MirrorNamespace: ptr("m"), KubeConfig: ptr("k"),
		DenyCIDRs: []string{"fd00::1/64"}})
	if err != nil || fmt.Sprint(flat.Clusters[0].Options.DenyCIDRs) != "[fd00::/64]" {
		t.Errorf("flat: %v, %v", flat.Clusters, err)
	}
}

// TestDenyCIDRErrors: a value that is no CIDR range is an error naming
// the flag or the key.
func TestDenyCIDRErrors(t *testing.T) {
	for _, tt := range []struct {
		name, config string
		flag         []string
		want         string
	}{
		{name: "flag", flag: []string{"10.0.0.0/33"}, want: `--deny-cidr "10.0.0.0/33": want a CIDR range such as 10.96.0.0/12`},
		{name: "second flag", flag: []string{"10.0.0.0/8", "10.0.0.1"}, want: `--deny-cidr[1] "10.0.0.1": want a CIDR range`},
		{name: "global key", config: `{global: {mirrorNamespace: m, mirrorSvcLabelSelector: a, denyCIDRs: [x]}, remoteClusters: [{name: a, servicePrefix: a, kubeConfigPath: k}]}`,
			want: `global.denyCIDRs "x": want a CIDR range`},
		{name: "remote key", config: `{global: {mirrorNamespace: m, mirrorSvcLabelSelector: a}, remoteClusters: [{name: a, servicePrefix: a, kubeConfigPath: k, denyCIDRs: [10.0.0.0/8, "::/129"]}]}`,
			want: `remoteClusters[0].denyCIDRs[1] "::/129": want a CIDR range`},
		{name: "key of the wrong type", config: `{global: {mirrorNamespace: m, mirrorSvcLabelSelector: a, denyCIDRs: 10.0.0.0/8}, remoteClusters: [{name: a, servicePrefix: a, kubeConfigPath: k}]}`,
			want: `global.denyCIDRs: want a list`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			ov := Overrides{DenyCIDRs: tt.flag}
			if tt.config != "" {
				path = writeConfig(t, tt.config)
			} else {
				ov.LabelSelector, ov.ServicePrefix, ov.MirrorNamespace, ov.KubeConfig = ptr("a"), ptr("p"), ptr("m"), ptr("k")
			}
			_, err := Resolve(path, ov)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestParseSnapshotSize reads Kubernetes quantities of bytes.
func TestParseSnapshotSize(t *testing.T) {
	for in, want := range map[string]int64{"512Mi": 512 << 20, "1Gi": 1 << 30, "300M": 300e6, "1000": 1000} {
		if got, err := ParseSnapshotSize(in); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1Mi", "lots", "1.5.5"} {
		if _, err := ParseSnapshotSize(in); err == nil || !strings.Contains(err.Error(), "--max-snapshot-size") {
			t.Errorf("%q: err = %v, want one naming --max-snapshot-size", in, err)
		}
	}
}
