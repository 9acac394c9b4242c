package gitsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/gitsync/internal/pack"
	"github.com/ssm-dev/ssm/gitsync/internal/remote"
)

// Apply makes the owned path hold what plan decides, in one commit on top
// of the branch head, and pushes it. plan is called once per attempt with
// what the head holds, so that its decision is made on the commit the push
// builds on. When the path already holds exactly the planned files it
// commits nothing and returns Changed false. A push rejected because
// someone else pushed first is rebuilt on their commit, with plan called
// again on it, and retried, up to MaxRetries times. Apply never
// force-pushes the branch. After an error the remote is either untouched or
// fully updated; the caller retries later.
//
// With a PushBranch the commit goes there instead, on top of the branch's
// head (propose), and plan is shown the push branch's files while its head
// is ssm's commit: a proposal not merged yet is what ssm last decided.
func (r *Repo) Apply(ctx context.Context, plan fileset.Plan) (fileset.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	branch := cmp.Or(r.opts.PushBranch, r.opts.Branch)
	for attempt := 1; ; attempt++ {
		res, err := r.applyOnce(ctx, plan)
		rejected, ok := errors.AsType[*remote.RejectedError](err)
		if !ok {
			res.Retries = attempt - 1
			return res, err
		}
		if attempt > r.opts.MaxRetries {
			return fileset.Result{}, fmt.Errorf("push %s to %s: gave up after %d attempts: %w", branch, r.url, attempt, err)
		}
		wait := backoff(attempt)
		r.log.Info("push rejected, retrying on the new head", "attempt", attempt, "reason", rejected.Reason, "backoff", wait)
		if err := sleep(ctx, wait); err != nil {
			return fileset.Result{}, fmt.Errorf("push %s to %s: waiting to retry: %w", branch, r.url, err)
		}
	}
}

// Sync makes the owned path hold exactly files, with subject as the first
// line of the commit's message: Apply with a plan that ignores what is
// stored. Apply validates files, as it validates every plan's write.
func (r *Repo) Sync(ctx context.Context, files fileset.Files, subject string) (fileset.Result, error) {
	return r.Apply(ctx, func(fileset.Stored) (fileset.Write, error) { return fileset.Write{Files: files, Subject: subject}, nil })
}

// applyOnce brings the snapshot up to date with the remote, asks plan what
// to write, builds the commit and pushes it. A rejected push returns a
// bare *remote.RejectedError.
func (r *Repo) applyOnce(ctx context.Context, plan fileset.Plan) (fileset.Result, error) {
	if err := r.refresh(ctx); err != nil {
		return fileset.Result{}, err
	}
	base := r.snap
	if r.pushRef != "" && !base.commit.IsZero() {
		return r.propose(ctx, base, plan)
	}
	if base.commit.IsZero() && (r.pushRef != "" || !r.opts.CreateBranch) {
		if err := r.checkEmpty(ctx); err != nil {
			return fileset.Result{}, err
		}
	}
	if err := r.checkOwnership(base); err != nil {
		return fileset.Result{}, err
	}
	w, changes, err := r.decide(base, base, plan)
	if err != nil {
		return fileset.Result{}, err
	}
	next, objs, err := r.build(base, w, changes)
	if err != nil || next.tree == base.tree {
		return fileset.Result{}, err
	}
	if err := r.push(ctx, r.ref, base.commit, next.commit, objs); err != nil {
		return fileset.Result{}, err
	}
	r.snap = next
	base.handOver(next, changes)
	res := fileset.ResultOf(changes)
	res.Changed, res.Commit = true, next.commit.String()
	r.log.Debug("pushed commit", "commit", res.Commit, "parent", hashString(base.commit),
		"added", len(res.Added), "updated", len(res.Updated), "removed", len(res.Removed))
	return res, nil
}

// decide asks plan what to write, showing it view, and returns the write
// with how it changes the owned path of base.
func (r *Repo) decide(view, base *snapshot, plan fileset.Plan) (fileset.Write, []fileset.Change, error) {
	w, err := plan(newStoredSnapshot(view))
	if err != nil {
		return fileset.Write{}, nil, err
	}
	if err := validTrailers(w.Trailers); err != nil {
		return fileset.Write{}, nil, err
	}
	changes := base.changesTo(w.Files)
	if err := fileset.ValidWrites(changes); err != nil {
		return fileset.Write{}, nil, err
	}
	return w, changes, nil
}

// build returns the snapshot of the commit that makes changes on top of
// base, with the objects it adds. When the tree would not change it makes
// no commit: the snapshot's tree is base's.
func (r *Repo) build(base *snapshot, w fileset.Write, changes []fileset.Change) (*snapshot, *pack.Objects, error) {
	next, objs, err := base.next(r.parts, changes)
	if err != nil {
		return nil, nil, fmt.Errorf("build %s for %s: %w", cmp.Or(r.opts.Path, "."), r.url, err)
	}
	if next.tree == base.tree {
		return next, objs, nil
	}
	if next.message, err = messageOf(w, changes); err != nil {
		return nil, nil, err
	}
	sig := object.Signature{Name: r.opts.AuthorName, Email: r.opts.AuthorEmail, When: time.Now()}
	data, err := commitObject(next.tree, base.commit, sig, next.message, r.signer)
	if err != nil {
		return nil, nil, err
	}
	next.commit = objs.Add(plumbing.CommitObject, data)
	next.committer = r.opts.identity()
	if !base.commit.IsZero() {
		next.parents = []plumbing.Hash{base.commit}
	}
	return next, objs, nil
}

// push moves ref from old to commit (zero: deletes it). A rejected push
// returns a bare *remote.RejectedError.
func (r *Repo) push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *pack.Objects) error {
	err := r.remote.Push(ctx, ref, old, commit, objs)
	if _, ok := errors.AsType[*remote.RejectedError](err); ok || err == nil {
		return err
	}
	return fmt.Errorf("push %s to %s: %w", ref.Short(), r.url, err)
}

// storedSnapshot is a snapshot as a Plan sees it.
type storedSnapshot struct{ snap *snapshot }

func newStoredSnapshot(s *snapshot) *storedSnapshot { return &storedSnapshot{snap: s} }

func (s *storedSnapshot) Files() fileset.Files { return s.snap.storedFiles() }
func (s *storedSnapshot) Message() string      { return s.snap.message }

// storedFiles returns the files of the owned path, built on first use only:
// most plans never ask, and a sync that changes nothing should cost one
// lookup per rendered file, not a copy of the tree. A commit hands them on
// to the next snapshot (handOver) instead of a new set being built.
func (s *snapshot) storedFiles() fileset.Files {
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	if s.files == nil {
		s.files, s.irregular = make(fileset.Files, s.owned.files), 0
		s.owned.walk("", func(p string, e *entry) {
			s.files[p] = e.data
			if e.mode != filemode.Regular {
				s.irregular++
			}
		})
	}
	return s.files
}

// handOver gives next, the snapshot of a commit that made changes on top
// of s, the files of s with the changes made, if s has built them; s has
// none after. It is called once the commit is pushed, when s is no longer
// the branch head: its files are shown to no Plan again.
func (s *snapshot) handOver(next *snapshot, changes []fileset.Change) {
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	files := s.files
	if files == nil || s.irregular > 0 { // which of them a commit rewrites is not counted
		return
	}
	s.files = nil
	for _, c := range changes {
		if c.Kind == fileset.Removed {
			delete(files, c.Path)
		} else {
			files[c.Path] = c.New
		}
	}
	next.files = files
}
