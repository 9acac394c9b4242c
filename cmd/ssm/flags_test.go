package main

import (
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/config"
)

func ptr[T any](v T) *T { return &v }

// TestResolveFlagErrors: a wrong value the flags gave, which config and
// generate report by its options field, is named by its flag (moved from
// config's TestResolveFlatErrors with the naming).
func TestResolveFlagErrors(t *testing.T) {
	base := config.Overrides{LabelSelector: ptr("mirror=true"), ServicePrefix: ptr("east"), MirrorNamespace: ptr("mirrors")}
	with := func(f func(*config.Overrides)) config.Overrides { o := base; f(&o); return o }
	tests := []struct {
		name string
		ov   config.Overrides
		want string
	}{
		{name: "mode", ov: with(func(o *config.Overrides) { o.Mode = ptr("mesh") }), want: `--mode "mesh": want one of [endpoints nodeport]`},
		{name: "prefix", ov: with(func(o *config.Overrides) { o.ServicePrefix = ptr("East") }), want: `--svc-prefix "East"`},
		{name: "prefix in nodeport mode", ov: config.Overrides{Mode: ptr("nodeport"), ServicePrefix: ptr("p")}, want: "--svc-prefix and --mirror-ns are for endpoints mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Resolve("", tt.ov)
			if err = flagged(err); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRunTimingFlags: a debounce the loop cannot work with is named by
// its flags, which mirror.Timing's error names by their fields.
func TestRunTimingFlags(t *testing.T) {
	code, _, stderr := ssm(t, "", "run", "--debounce", "2s", "--max-delay", "1s")
	if want := "--debounce 2s and --max-delay 1s: want 0 < debounce <= max delay"; code != exitError || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want %d with %q:\n%s", code, exitError, want, stderr)
	}
}
