// Package flock serialises the writers of one directory with flock(2), as
// fileset.Flock does, for the local repository store of
// gitsync/internal/remote. It only forwards: the lock itself is
// fileset's, one for every writer of ssm.
package flock

import (
	"context"
	"os"

	"github.com/ssm-dev/ssm/fileset"
)

// Lock takes an exclusive lock on f, as fileset.Flock does.
func Lock(ctx context.Context, f *os.File) error { return fileset.Flock(ctx, f) }
