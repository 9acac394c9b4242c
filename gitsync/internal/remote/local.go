package remote

import (
	"context"
	"errors"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/ssm-dev/ssm/gitsync/internal/localrepo"
	"github.com/ssm-dev/ssm/gitsync/internal/pack"
)

// local reaches a bare repository on this machine through its files, with
// localrepo, rather than over the git protocol: go-git's in-process
// protocol server has no shallow fetches, so it would send the whole
// history at every fetch that is not incremental, and it lists every file
// below refs/ for its advertisement, taking a git client's half-written
// lock file for a broken reference. go-git's own file transport execs
// git-upload-pack and git-receive-pack, which a minimal container image
// lacks.
type local struct{ repo *localrepo.Repo }

// newLocal checks the options for a local repository.
func newLocal(ep *transport.Endpoint, opts Options) (Transport, error) {
	if opts.SSHKeyPath != "" || opts.KnownHostsPath != "" || opts.Username != "" || opts.PasswordPath != "" {
		return nil, errors.New("a local repository takes no ssh key, known_hosts, username or password")
	}
	if len(opts.PushOptions) > 0 {
		return nil, errors.New("a local repository takes no push options: it is written directly and runs no hooks to read them; push to it over ssh or http(s)")
	}
	repo, err := localrepo.Open(ep.Path, localrepo.Options{
		Logger:         opts.Logger,
		Committer:      opts.Committer,
		Wait:           opts.Timeout,
		StaleLockAfter: opts.StaleLockAfter,
	})
	if err != nil {
		return nil, err
	}
	return &local{repo}, nil
}

// FetchHead returns the repository's own object store, which holds every
// object.
func (l *local) FetchHead(ctx context.Context, ref plumbing.ReferenceName, have plumbing.Hash) (plumbing.Hash, storer.EncodedObjectStorer, error) {
	head, sto, err := l.repo.Head(ctx, ref)
	if err != nil || head.IsZero() || head == have {
		return head, nil, localError(err)
	}
	return head, sto, nil
}

// Push writes the objects and moves ref, as git's receive-pack would.
func (l *local) Push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *pack.Objects) error {
	return localError(l.repo.Update(ctx, ref, old, commit, objs))
}

func (l *local) Empty(ctx context.Context) (bool, error) {
	empty, err := l.repo.Empty(ctx)
	return empty, localError(err)
}

// localError returns localrepo's errors as a transport reports them: a
// lost compare-and-swap or a lock held by another writer is a
// *RejectedError to retry, a missing repository go-git's
// transport.ErrRepositoryNotFound.
func localError(err error) error {
	if moved, ok := errors.AsType[*localrepo.MovedError](err); ok {
		return &RejectedError{movedReason(moved.Ref, moved.Current)}
	}
	if locked, ok := errors.AsType[*localrepo.LockedError](err); ok {
		return &RejectedError{locked.Error()}
	}
	if errors.Is(err, localrepo.ErrNotFound) {
		return transport.ErrRepositoryNotFound
	}
	return err
}
