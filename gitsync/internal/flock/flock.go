//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

// Package flock serialises the writers of one directory with flock(2): an
// advisory lock on an open file that the kernel drops when the file is
// closed or its process dies, so that a writer killed while holding it
// leaves nothing for the next one to clean up. It imports no package of
// this module.
package flock

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"syscall"
	"time"
)

// Lock takes an exclusive lock on f, typically a directory opened for
// reading, waiting for other holders until ctx is done. Closing f releases
// it.
func Lock(ctx context.Context, f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var lerr error
		if err := rc.Control(func(fd uintptr) { lerr = flock(fd) }); err != nil {
			return err
		}
		if !errors.Is(lerr, syscall.EWOULDBLOCK) {
			return lerr
		}
		// Polled rather than blocking, so that ctx can end the wait.
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func flock(fd uintptr) error {
	for {
		err := syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
