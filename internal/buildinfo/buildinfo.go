// Package buildinfo says which version and commit a binary is: what the
// linker stamped, or else what the go command recorded. It imports
// nothing of ssm's.
package buildinfo

import "runtime/debug"

// Version is the version and commit `ssm version` prints: what the
// linker stamped (make build, the Dockerfile, GoReleaser), or else what the
// go command recorded in the binary. `go install …/cmd/ssm@v0.1.0` records
// the module version and no commit (a module zip has no history); a build
// in a clone records the commit, `vcs.modified` when the tree had changes,
// and, since Go 1.24, a version derived from the tags.
func Version(version, commit string, read func() (*debug.BuildInfo, bool)) (string, string) {
	if version != "dev" && commit != "unknown" {
		return version, commit
	}
	info, ok := read()
	if !ok {
		return version, commit
	}
	if v := info.Main.Version; version == "dev" && v != "" && v != "(devel)" {
		version = v
	}
	if commit != "unknown" {
		return version, commit
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision == "" {
		return version, commit
	}
	// As short as `git rev-parse --short`, which make build stamps.
	commit = revision[:min(len(revision), 7)]
	if modified == "true" {
		commit += "-dirty"
	}
	return version, commit
}
