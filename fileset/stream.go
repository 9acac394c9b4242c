package fileset

import (
	"context"
	"fmt"
	"io"
	"path"
)

// StreamSink prints every file a Plan decides as one multi-document YAML
// stream on W, in path order, leaving out the files named Index (base
// name): the kustomization.yaml that lists the others, say. It stores
// nothing: a Plan is shown no files.
type StreamSink struct {
	W     io.Writer
	Index string
}

// Sync prints the files plan decides; its result reports no change.
func (s StreamSink) Sync(_ context.Context, plan Plan) (Result, error) {
	w, err := plan(storedFiles{})
	if err != nil {
		return Result{}, err
	}
	first := true
	for _, p := range w.Files.Paths() {
		if s.Index != "" && path.Base(p) == s.Index {
			continue
		}
		if !first {
			if _, err := io.WriteString(s.W, "---\n"); err != nil {
				return Result{}, fmt.Errorf("write to stdout: %w", err)
			}
		}
		first = false
		if _, err := s.W.Write(w.Files[p]); err != nil {
			return Result{}, fmt.Errorf("write to stdout: %w", err)
		}
	}
	return Result{}, nil
}
