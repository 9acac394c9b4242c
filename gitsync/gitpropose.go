package gitsync

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/gitsync/internal/pack"
)

// propose keeps the push branch equal to the base's head plus one commit
// holding what plan decides: it makes the branch from the base's head,
// makes it again when the base moved or the decision changed, and deletes
// it when the base already holds the decision, so that no stale proposal
// stays open to be merged. The push is a lease on the branch's head as
// read: another writer's push in between rejects it, and the attempt is
// made again on what is there then.
//
// Only the push branch is ever replaced, and only while its head is a
// commit ssm made (made): what a person committed there is never
// discarded. plan is shown the push branch's files while its head is
// ssm's, as it holds what ssm last decided, merged or not: another
// replica's newer render must not be taken back (Stored), and the base's
// files otherwise.
func (r *Repo) propose(ctx context.Context, base *snapshot, plan fileset.Plan) (fileset.Result, error) {
	prop, err := r.readProposal(ctx, base)
	if err != nil {
		return fileset.Result{}, err
	}
	own := r.made(prop)
	view := base
	if own {
		view = prop
	}
	for _, s := range []*snapshot{base, view} {
		if err := r.checkOwnership(s); err != nil {
			return fileset.Result{}, err
		}
	}
	w, changes, err := r.decide(view, base, plan)
	if err != nil {
		return fileset.Result{}, err
	}
	next, objs, err := r.build(base, w, changes)
	switch {
	case err != nil:
		return fileset.Result{}, err
	case next.tree == base.tree:
		return fileset.Result{}, r.withdraw(ctx, base, prop, own)
	case prop.tree == next.tree && len(prop.parents) == 1 && prop.parents[0] == base.commit:
		return fileset.Result{}, nil // proposed already
	case !prop.commit.IsZero() && !own && prop.commit != base.commit:
		return fileset.Result{}, fmt.Errorf("refusing to replace branch %s of %s: its head %s was committed by %s, not by ssm (%s) on top of %s; ssm replaces only its own commit there: delete the branch and ssm makes it again",
			r.opts.PushBranch, r.url, prop.commit, prop.committer, r.opts.identity(), r.opts.Branch)
	}
	old := prop.commit
	if err := r.push(ctx, r.pushRef, old, next.commit, objs); err != nil {
		return fileset.Result{}, err
	}
	r.prop = next
	res := fileset.ResultOf(changes)
	res.Changed, res.Commit = true, next.commit.String()
	r.log.Debug("pushed commit to the push branch", "commit", res.Commit, "base", base.commit.String(), "replaced", hashString(old),
		"added", len(res.Added), "updated", len(res.Updated), "removed", len(res.Removed))
	return res, nil
}

// readProposal returns the snapshot of the push branch's head, without a
// commit when the branch does not exist. Its objects are fetched as a
// difference from the last head seen, or else from the base's head, which
// most of its tree shares.
func (r *Repo) readProposal(ctx context.Context, base *snapshot) (*snapshot, error) {
	prev := r.prop
	if prev == nil || prev.commit.IsZero() {
		prev = base
	}
	snap, err := r.read(ctx, r.pushRef, prev)
	if err != nil {
		return nil, err
	}
	r.prop = snap
	return snap, nil
}

// made reports whether s is a commit ssm made on a push branch: a single
// parent, and ssm's identity as committer. A forge's merge of the base
// into the branch, or a person's fixup on top, is not.
func (r *Repo) made(s *snapshot) bool {
	return !s.commit.IsZero() && len(s.parents) == 1 && s.committer == r.opts.identity()
}

// withdraw deletes the push branch, as the base holds what it would
// propose: merged, or no longer wanted. A branch whose head is not ssm's
// is left alone.
func (r *Repo) withdraw(ctx context.Context, base, prop *snapshot, own bool) error {
	switch {
	case prop.commit.IsZero():
		return nil
	case !own:
		r.log.Debug("the base holds the render; the push branch is not ssm's commit and is left alone", "head", prop.commit.String())
		return nil
	}
	if err := r.push(ctx, r.pushRef, prop.commit, plumbing.ZeroHash, &pack.Objects{}); err != nil {
		return err
	}
	r.prop = emptySnapshot(len(r.parts))
	r.log.Info("deleted the push branch: the base holds the render", "deleted", prop.commit.String(), "base", base.commit.String())
	return nil
}

// checkEmpty allows a missing branch only in a repository without any
// branch, whose first commit ssm then makes, unless CreateBranch says to
// start it anyway (never the base of a push branch): a branch missing from
// a repository that has others is more likely a typo (--git-branch mian)
// than a wish for an unrelated history, which no pull request could merge.
func (r *Repo) checkEmpty(ctx context.Context) error {
	empty, err := r.remote.Empty(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("list the branches of %s: %w", r.url, err)
	case !empty && r.pushRef != "":
		return fmt.Errorf("branch %s does not exist in %s: the push branch %s is made from its head; create %s first (ssm makes it only in an empty repository)",
			r.opts.Branch, r.url, r.opts.PushBranch, r.opts.Branch)
	case !empty:
		return fmt.Errorf("branch %s does not exist in %s, which has other branches: a typo? ssm starts a branch next to others only when told to (--git-create-branch), "+
			"as a root commit sharing no history with them", r.opts.Branch, r.url)
	case r.pushRef != "":
		r.log.Info("the repository is empty: the first commit goes to the base branch, as there is nothing to review it against")
	default:
		r.log.Info("the repository is empty: the first commit starts the branch")
	}
	return nil
}
