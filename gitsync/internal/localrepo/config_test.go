package localrepo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadRepoConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		config  string
		want    repoConfig
		wantErr string
	}{
		{config: "", want: repoConfig{}},
		{config: "[core]\n\tbare = true\n", want: repoConfig{}},
		{config: "[core]\n\tsharedRepository = group\n", want: repoConfig{shared: 0o660}},
		{config: "[CORE]\n\tSharedRepository = 1\n\tlogallrefupdates = true\n", want: repoConfig{shared: 0o660, logRefs: logNormal}},
		{config: "[core]\n\tsharedrepository = yes\n\tlogAllRefUpdates = Always\n", want: repoConfig{shared: 0o660, logRefs: logAlways}},
		{config: "[core]\n\tsharedrepository = everybody\n", want: repoConfig{shared: 0o664}},
		{config: "[core]\n\tsharedrepository = 2\n", want: repoConfig{shared: 0o664}},
		{config: "[core]\n\tsharedrepository = umask\n\tlogAllRefUpdates = false\n", want: repoConfig{}},
		{config: "[core]\n\tsharedrepository = 0\n", want: repoConfig{}},
		{config: "[core]\n\tsharedrepository = false\n", want: repoConfig{}},
		{config: "[core]\n\tsharedrepository = 0640\n", want: repoConfig{shared: -0o640}},
		{config: "[core]\n\tsharedrepository = 0777\n", want: repoConfig{shared: -0o666}},
		{config: "[core]\n\tsharedrepository = 0440\n", wantErr: "the owner of files must always have read and write permissions"},
		{config: "[core]\n\tsharedrepository = maybe\n", wantErr: `bad boolean value "maybe"`},
		{config: "[core]\n\tlogAllRefUpdates = sometimes\n", wantErr: "core.logAllRefUpdates"},
		{config: "[gc]\n\tauto = 0\n", want: repoConfig{gcAuto: -defaultGCAuto}},
		{config: "[gc]\n\tauto = lots\n", wantErr: "gc.auto"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if tt.config != "" {
			if err := os.WriteFile(filepath.Join(dir, "config"), []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := readRepoConfig(dir)
		got.gcAuto -= defaultGCAuto // the default, which these cases leave alone
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: error = %v, want %q", tt.config, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("%q: %+v, %v; want %+v", tt.config, got, err, tt.want)
		}
	}
}

func TestSharedMode(t *testing.T) {
	t.Parallel()
	// As git's calc_shared_perm and adjust_shared_perm compute them, from
	// what git creates under umask 022: 0444 objects, 0644 refs and
	// reflogs, 0755 directories.
	tests := []struct {
		shared        int
		obj, ref, dir uint32
	}{
		{shared: 0o660, obj: 0o444, ref: 0o664, dir: 0o2775},
		{shared: 0o664, obj: 0o444, ref: 0o664, dir: 0o2775},
		{shared: -0o640, obj: 0o440, ref: 0o640, dir: 0o2750},
		{shared: -0o600, obj: 0o400, ref: 0o600, dir: 0o700},
		{shared: -0o666, obj: 0o444, ref: 0o666, dir: 0o2777},
	}
	for _, tt := range tests {
		c := repoConfig{shared: tt.shared}
		if got := [3]uint32{c.sharedMode(0o444, false), c.sharedMode(0o644, false), c.sharedMode(0o755, true)}; got != [3]uint32{tt.obj, tt.ref, tt.dir} {
			t.Errorf("shared %#o: object, ref, directory = %#o, want %#o %#o %#o", tt.shared, got, tt.obj, tt.ref, tt.dir)
		}
	}
}
