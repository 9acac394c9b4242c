package logging

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal and returns its terminal side, as a
// person's terminal emulator would give ssm: where /dev/tty is missing
// (CI, a container) the terminal cases are tried all the same.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("pty number: %v", e)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

// TestNewTerminalPTY: a progress display on a terminal, unless CI=true or
// TERM=dumb say nobody watches it.
func TestNewTerminalPTY(t *testing.T) {
	tty := openPTY(t)
	env := func(k, v string) func(string) string {
		return func(key string) string {
			if key == k {
				return v
			}
			return ""
		}
	}
	if NewTerminal(tty, env("", "")) == nil {
		t.Error("no progress display on a terminal")
	}
	if NewTerminal(tty, env("CI", "false")) == nil {
		t.Error("no progress display with CI=false")
	}
	if NewTerminal(tty, env("CI", "true")) != nil || NewTerminal(tty, env("TERM", "dumb")) != nil {
		t.Error("a progress display in CI or on a dumb terminal")
	}
}
