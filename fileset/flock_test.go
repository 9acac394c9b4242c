package fileset

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

func TestLockWaitsForTheHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() *os.File {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	holder, waiter := open(), open()
	if err := Flock(t.Context(), holder); err != nil {
		t.Fatal(err)
	}
	// Another open file description of the same directory waits, until
	// its context ends…
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := Flock(ctx, waiter); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while held = %v, want the deadline", err)
	}
	// …or the holder closes its file.
	done := make(chan error, 1)
	go func() { done <- Flock(t.Context(), waiter) }()
	select {
	case err := <-done:
		t.Fatalf("Lock returned %v while held", err)
	case <-time.After(50 * time.Millisecond):
	}
	holder.Close()
	if err := <-done; err != nil {
		t.Fatalf("Lock after the holder closed: %v", err)
	}
}
