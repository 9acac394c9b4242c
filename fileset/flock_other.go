//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package fileset

import (
	"context"
	"errors"
	"os"
	"runtime"
)

// Flock fails: this system has no flock(2), and writing without it could
// interleave two writers.
func Flock(context.Context, *os.File) error {
	return errors.New("file locks are not supported on " + runtime.GOOS)
}
