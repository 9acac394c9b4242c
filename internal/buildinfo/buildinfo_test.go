package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestVersion(t *testing.T) {
	vcs := func(revision, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: revision}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name                    string
		version, commit         string // as the linker left them
		info                    *debug.BuildInfo
		wantVersion, wantCommit string
	}{
		{name: "stamped by the linker: build info ignored", version: "v0.2.0", commit: "abc1234",
			info: &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}, Settings: vcs(rev, "true")}, wantVersion: "v0.2.0", wantCommit: "abc1234"},
		{name: "go install @version: the module version, no commit", version: "dev", commit: "unknown",
			info: &debug.BuildInfo{Main: debug.Module{Path: "github.com/ssm-dev/ssm", Version: "v0.1.0"}}, wantVersion: "v0.1.0", wantCommit: "unknown"},
		{name: "go build in a clone: the commit", version: "dev", commit: "unknown",
			info:        &debug.BuildInfo{Main: debug.Module{Version: "v0.1.1-0.20260101000000-0123456789ab"}, Settings: vcs(rev, "false")},
			wantVersion: "v0.1.1-0.20260101000000-0123456789ab", wantCommit: "0123456"},
		{name: "changed tree", version: "dev", commit: "unknown",
			info: &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0+dirty"}, Settings: vcs(rev, "true")}, wantVersion: "v0.1.0+dirty", wantCommit: "0123456-dirty"},
		{name: "no version recorded (devel, -buildvcs=false)", version: "dev", commit: "unknown",
			info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, wantVersion: "dev", wantCommit: "unknown"},
		{name: "only the version stamped", version: "v0.3.0", commit: "unknown",
			info: &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}, Settings: vcs(rev, "false")}, wantVersion: "v0.3.0", wantCommit: "0123456"},
		{name: "no build info", version: "dev", commit: "unknown", wantVersion: "dev", wantCommit: "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func() (*debug.BuildInfo, bool) { return tc.info, tc.info != nil }
			v, c := Version(tc.version, tc.commit, read)
			if v != tc.wantVersion || c != tc.wantCommit {
				t.Errorf("buildVersion = %q, %q; want %q, %q", v, c, tc.wantVersion, tc.wantCommit)
			}
		})
	}
}
