package source_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssm-dev/ssm/source"
)

// endless is a snapshot on stdin that never ends: a Service, then
// comments, which a YAML reader gathers into one document until it ends.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	const head = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\n"
	n := 0
	for n < len(p) {
		if e.read < int64(len(head)) {
			c := copy(p[n:], head[e.read:])
			n, e.read = n+c, e.read+int64(c)
			continue
		}
		p[n] = "# padding\n"[e.read%10]
		n, e.read = n+1, e.read+1
	}
	return n, nil
}

// TestSnapshotSizeLimit: a snapshot over the limit is an error naming the
// limit, from a file without reading it, from stdin after reading at most
// a buffer past it; one within it is read.
func TestSnapshotSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := source.LoadFile(big, source.Selection{}, nil, limit); err != nil {
		t.Fatalf("a snapshot within the limit: %v", err)
	}
	if err := os.Truncate(big, limit+1); err != nil { // sparse: nothing is read
		t.Fatal(err)
	}
	_, err := source.LoadFile(big, source.Selection{}, nil, limit)
	if tooLarge, ok := errors.AsType[*source.SnapshotTooLargeError](err); !ok || tooLarge.Limit != limit || !strings.Contains(err.Error(), "1Mi") || !strings.Contains(err.Error(), big) {
		t.Errorf("file over the limit: error %v, want one naming %s and the limit 1Mi", err, big)
	}
	in := &endless{}
	_, err = source.LoadFile("-", source.Selection{}, in, limit)
	if _, ok := errors.AsType[*source.SnapshotTooLargeError](err); !ok || !strings.Contains(err.Error(), "stdin") || !strings.Contains(err.Error(), "1Mi") {
		t.Errorf("stdin over the limit: error %v", err)
	}
	if in.read > limit+1<<17 {
		t.Errorf("read %d bytes of stdin for a limit of %d", in.read, limit)
	}
	// A limit of 0 is the default, 256 MiB.
	if err := os.Truncate(big, source.DefaultMaxSnapshotSize+1); err != nil {
		t.Fatal(err)
	}
	if _, err := source.LoadFile(big, source.Selection{}, nil, 0); !strings.Contains(fmt.Sprint(err), "256Mi") {
		t.Errorf("file over the default limit: error %v, want one naming 256Mi", err)
	}
}
