//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package fileset

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"syscall"
	"time"
)

// Flock takes an exclusive flock(2) on f, typically a directory opened for
// reading, waiting for other holders until ctx is done: the writers of one
// directory run one at a time. Closing f releases it, and so does the
// kernel when its process dies, so that a writer killed while holding it
// leaves nothing for the next one to clean up.
func Flock(ctx context.Context, f *os.File) error {
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
