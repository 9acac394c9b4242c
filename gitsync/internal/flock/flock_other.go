//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package flock

import (
	"context"
	"errors"
	"os"
	"runtime"
)

// Lock fails: this system has no flock(2), and writing without it could
// interleave two writers.
func Lock(context.Context, *os.File) error {
	return errors.New("file locks are not supported on " + runtime.GOOS)
}
