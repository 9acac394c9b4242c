package mirror

import (
	"context"
	"sync"

	"github.com/ssm-dev/ssm/generate"
	"github.com/ssm-dev/ssm/gitsync"
)

// Ownership marks an output directory as ssm's: its kustomization.yaml
// starts with generate.Header. A sink refuses to prune a non-empty path
// without it.
// Its placeholder, a kustomization listing nothing, claims an empty
// directory before anything else lands in it.
var Ownership = gitsync.Ownership{File: generate.KustomizationFile, Prefix: []byte(generate.Header), Placeholder: emptyKustomization()}

func emptyKustomization() []byte {
	files := map[string][]byte{}
	generate.Kustomize(files)
	return files[generate.KustomizationFile]
}

// DirSink keeps a directory equal to each render (gitsync.WriteDir).
type DirSink struct{ Dir string }

// Sync writes what plan returns for the directory's files.
func (d DirSink) Sync(_ context.Context, plan Plan) (gitsync.Result, error) {
	return gitsync.ApplyDir(d.Dir, Ownership, plan)
}

// Plan calls plan with the directory's files, writing nothing.
func (d DirSink) Plan(plan Plan) (Write, error) {
	files, err := filesOf(gitsync.DiffDir(d.Dir, nil))
	if err != nil {
		return Write{}, err
	}
	return plan(dirStored(files))
}

// GitSink commits each render to a branch (gitsync.Repo). It opens the
// repository on first use, so that an unreachable git server at start is
// retried like any failed write instead of ending the process.
type GitSink struct {
	opts gitsync.RepoOptions
	mu   sync.Mutex
	repo *gitsync.Repo
}

// NewGitSink returns a sink committing to the repository opts name; opts
// is validated by the first Sync (and by opts.Validate beforehand).
func NewGitSink(opts gitsync.RepoOptions) *GitSink {
	opts.Ownership = Ownership
	return &GitSink{opts: opts}
}

// Sync commits what plan returns for the owned path's files, and pushes it.
func (g *GitSink) Sync(ctx context.Context, plan Plan) (gitsync.Result, error) {
	repo, err := g.open(ctx)
	if err != nil {
		return gitsync.Result{}, err
	}
	return repo.Apply(ctx, plan)
}

func (g *GitSink) open(ctx context.Context) (*gitsync.Repo, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.repo != nil {
		return g.repo, nil
	}
	repo, err := gitsync.Open(ctx, g.opts)
	if err != nil {
		return nil, err
	}
	g.repo = repo
	return repo, nil
}

// dirStored is what a directory holds, read whole.
type dirStored gitsync.Files

func (d dirStored) Files() gitsync.Files { return gitsync.Files(d) }
func (dirStored) Message() string        { return "" }

// filesOf turns the changes from stored files to nothing, that is every
// stored file as removed, into the stored files.
func filesOf(changes []gitsync.Change, err error) (gitsync.Files, error) {
	if err != nil {
		return nil, err
	}
	files := make(gitsync.Files, len(changes))
	for _, c := range changes {
		files[c.Path] = c.Old
	}
	return files, nil
}
