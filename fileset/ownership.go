package fileset

import (
	"bytes"
	"fmt"
)

// Ownership names the file whose presence, starting with Prefix, proves that
// a path was written by us. A sink refuses to prune a non-empty path that
// lacks it, so a mistyped --output or --git-path cannot wipe someone's files.
type Ownership struct {
	File   string
	Prefix []byte
	// Placeholder, when set, is what the directory sink writes as File
	// first into a directory that holds nothing, so that the directory is
	// claimed before any other file lands: a first write killed halfway
	// leaves a directory that the next write owns, not one it refuses. It
	// must start with Prefix, and should be a valid File that lists nothing
	// (ssm passes a kustomization.yaml without resources), as GitOps agents
	// may read it.
	Placeholder []byte
}

// Validate checks the ownership file's name and placeholder.
func (o Ownership) Validate() error {
	if o.File != "" {
		if why := PathProblem(o.File); why != "" {
			return fmt.Errorf("invalid ownership file %q: %s", o.File, why)
		}
	}
	if o.Placeholder != nil && (o.File == "" || !bytes.HasPrefix(o.Placeholder, o.Prefix)) {
		return fmt.Errorf("invalid ownership placeholder for %q: it must start with the ownership prefix", o.File)
	}
	return nil
}

// owns reports whether stored (the files found under the owned path) may
// be replaced: it is empty, or it holds the ownership file.
func (o Ownership) owns(stored Files) bool {
	if len(stored) == 0 || o.File == "" {
		return true
	}
	b, ok := stored[o.File]
	return ok && bytes.HasPrefix(b, o.Prefix)
}
