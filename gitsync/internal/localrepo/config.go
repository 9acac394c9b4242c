package localrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	format "github.com/go-git/go-git/v5/plumbing/format/config"
)

// repoConfig is what a write into a local repository needs of its config
// file, read as git reads it, so that what ssm writes is what git would
// write there: the same modes, and a reflog exactly when git keeps one.
type repoConfig struct {
	// shared is git's get_shared_repository(): 0 leaves modes to the
	// umask, a positive value holds the bits to add (0660 for group, 0664
	// for everybody), a negative one the exact mode to set, negated.
	shared int
	// logRefs is core.logAllRefUpdates: logNone (a bare repository's
	// default), logNormal (true) or logAlways.
	logRefs int
	// gcAuto is gc.auto: how many loose objects make a pack of them (git
	// gc --auto's threshold); 0 never packs.
	gcAuto int
}

const (
	logNone = iota
	logNormal
	logAlways
)

// readRepoConfig reads core.sharedRepository and core.logAllRefUpdates from
// the repository's own config file. A key given without "=" reads as
// empty, where git takes it for true: go-git's parser does not tell them
// apart.
func readRepoConfig(dir string) (repoConfig, error) {
	c := repoConfig{gcAuto: defaultGCAuto}
	p := filepath.Join(dir, "config")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	cfg := format.New()
	if err := format.NewDecoder(strings.NewReader(string(b))).Decode(cfg); err != nil {
		return c, fmt.Errorf("read %s: %w", p, err)
	}
	core := cfg.Section("core")
	if core.HasOption("sharedRepository") {
		if c.shared, err = sharedPerm(core.Option("sharedRepository")); err != nil {
			return c, fmt.Errorf("read %s: %w", p, err)
		}
	}
	if v := core.Option("logAllRefUpdates"); strings.EqualFold(v, "always") {
		c.logRefs = logAlways
	} else if on, err := parseBool(v); err != nil {
		return c, fmt.Errorf("read %s: core.logAllRefUpdates: %w", p, err)
	} else if on {
		c.logRefs = logNormal
	}
	if v := cfg.Section("gc").Option("auto"); v != "" {
		if c.gcAuto, err = strconv.Atoi(v); err != nil {
			return c, fmt.Errorf("read %s: gc.auto %q: %w", p, v, err)
		}
	}
	return c, nil
}

// sharedPerm parses core.sharedRepository as git's git_config_perm does.
func sharedPerm(v string) (int, error) {
	switch v {
	case "umask":
		return 0, nil
	case "group":
		return 0o660, nil
	case "all", "world", "everybody":
		return 0o664, nil
	}
	i, err := strconv.ParseInt(v, 8, 32)
	if err != nil {
		on, err := parseBool(v)
		if err != nil {
			return 0, fmt.Errorf("core.sharedRepository: %w", err)
		}
		if on {
			return 0o660, nil
		}
		return 0, nil
	}
	switch i {
	case 0:
		return 0, nil
	case 1:
		return 0o660, nil
	case 2:
		return 0o664, nil
	}
	if i&0o600 != 0o600 {
		return 0, fmt.Errorf("core.sharedRepository %#o: the owner of files must always have read and write permissions", i)
	}
	return -int(i & 0o666), nil
}

// parseBool parses a boolean as git's git_config_bool does, but for the
// unit suffixes it allows on numbers.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off", "":
		return false, nil
	}
	if i, err := strconv.ParseInt(v, 0, 64); err == nil {
		return i != 0, nil
	}
	return false, fmt.Errorf("bad boolean value %q", v)
}

// logsRef reports whether git would create a reflog for name: every ref
// with logAlways; branches, remote-tracking refs, notes and HEAD with
// logNormal. An existing reflog is appended to in any case.
func (c repoConfig) logsRef(name string) bool {
	switch c.logRefs {
	case logAlways:
		return true
	case logNormal:
		return name == "HEAD" || strings.HasPrefix(name, "refs/heads/") ||
			strings.HasPrefix(name, "refs/remotes/") || strings.HasPrefix(name, "refs/notes/")
	}
	return false
}
