// Package remote moves a branch of one git repository for gitsync: it reads
// the commit the branch points at, with the objects that changed, and moves
// the branch with a compare-and-swap, sending the new objects. Transport
// hides how: git's wire protocol over http(s) (go-git's client) or ssh (its
// own sessions), or a local bare repository read and written through its
// files (localrepo). It imports gitsync/internal/localrepo,
// gitsync/internal/pack and the leaf internal/redact.
package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/ssm-dev/ssm/gitsync/internal/pack"
	"github.com/ssm-dev/ssm/internal/redact"
)

// Transport reads and moves references of one repository. Its calls must
// not overlap: they share buffers.
type Transport interface {
	// FetchHead returns the commit ref points at, zero when it does not
	// exist, and, unless that is have, a storer holding the commit and its
	// tree. The remote is told that have (zero: nothing) and its tree are
	// known already, so the storer may hold only the objects that differ.
	FetchHead(ctx context.Context, ref plumbing.ReferenceName, have plumbing.Hash) (plumbing.Hash, storer.EncodedObjectStorer, error)
	// Push moves ref from old (zero: create it) to commit (zero: delete
	// it), sending objs, only if ref still points at old: a lease, so that it
	// never overwrites or deletes a commit the caller did not see. If ref
	// moved it returns a *RejectedError; if the remote refused the update for
	// another reason (a hook, a protected branch), a *RefusedError.
	Push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *pack.Objects) error
	// Empty reports whether the repository has no references at all: a
	// repository nobody pushed to yet.
	Empty(ctx context.Context) (bool, error)
}

// Options says which repository to reach and how to authenticate.
type Options struct {
	// URL is an ssh URL (ssh://… or scp-like), an http(s) URL, or a local
	// path or file:// URL of a bare repository.
	URL string
	// SSHKeyPath, KnownHostsPath and InsecureIgnoreHostKey are for ssh.
	SSHKeyPath, KnownHostsPath string
	InsecureIgnoreHostKey      bool
	// Username and PasswordPath are http basic authentication; the password
	// file is read again before every session.
	Username, PasswordPath string
	// CAFile is a PEM bundle of the certificate authorities https servers
	// are checked against, instead of the system's.
	CAFile string
	// Timeout bounds each network step, from connecting to the last byte.
	Timeout time.Duration
	// Logger receives what the remote said and warnings about settings
	// that weaken security. It must not be nil.
	Logger *slog.Logger
	// Committer ("Name <email>") signs the reflog entries of a local
	// repository.
	Committer string
	// StaleLockAfter is the age from which a local repository's ref lock
	// is taken for a dead writer's and removed; 10s when zero.
	StaleLockAfter time.Duration
	// PushOptions are sent with every push, as git push -o sends them (any
	// string on one line), for the server's hooks: GitLab reads
	// merge_request.create, for one. A server that does not advertise
	// push-options refuses the push. A local repository takes none: it runs
	// no hooks to read them.
	PushOptions []string
}

// New checks that the authentication options fit the URL's transport and
// sets them up. It reads the ssh key and known_hosts once, and touches no
// network. The errors of the transport it returns show the URL redacted.
func New(opts Options) (Transport, error) {
	u := redact.URL(opts.URL)
	ep, err := transport.NewEndpoint(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("parse git url %s: %w", u, withoutURL(err, opts.URL, u))
	}
	var t Transport
	switch ep.Protocol {
	case "file":
		t, err = newLocal(ep, opts)
	case "ssh":
		t, err = newSSH(ep, opts)
	case "http", "https":
		t, err = newHTTP(ep, opts)
	default:
		err = fmt.Errorf("unsupported protocol %q: use ssh, https, http, file or a local path", ep.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("git url %s: %w", u, redact.Error(err, opts.URL))
	}
	if opts.InsecureIgnoreHostKey {
		opts.Logger.Warn("the ssh host key is not verified")
	}
	if ep.Protocol == "http" && opts.PasswordPath != "" {
		opts.Logger.Warn("the password is sent over plain http")
	}
	return redacting{t: t, raw: []string{opts.URL, ep.Path}}, nil
}

// withoutURL returns err with raw, which it may quote, replaced by its
// redacted form u.
func withoutURL(err error, raw, u string) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	if msg := err.Error(); strings.Contains(msg, raw) {
		return errors.New(strings.ReplaceAll(msg, raw, u))
	}
	return redact.Error(err, raw)
}

// redacting is a Transport whose errors show no secret of the URL: go-git
// quotes the URL of a request that failed, query and all, an ssh error
// may quote the address as given, and git on an ssh server quotes the
// repository's path as it was sent, with what followed a ? or a #.
type redacting struct {
	t   Transport
	raw []string // the URL as given, and its path
}

func (r redacting) FetchHead(ctx context.Context, ref plumbing.ReferenceName, have plumbing.Hash) (plumbing.Hash, storer.EncodedObjectStorer, error) {
	h, s, err := r.t.FetchHead(ctx, ref, have)
	return h, s, r.error(err)
}

func (r redacting) Push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *pack.Objects) error {
	return r.error(r.t.Push(ctx, ref, old, commit, objs))
}

func (r redacting) Empty(ctx context.Context) (bool, error) {
	empty, err := r.t.Empty(ctx)
	return empty, r.error(err)
}

func (r redacting) error(err error) error { return redact.Error(err, r.raw...) }

// RejectedError is a push the remote refused because the branch did not
// point where the push expected: someone else pushed first. Building the
// commit again on the new head and pushing it may succeed.
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return "push rejected: " + e.Reason }

// movedReason says where ref went, for a RejectedError.
func movedReason(ref plumbing.ReferenceName, current plumbing.Hash) string {
	if current.IsZero() {
		return ref.Short() + " was deleted"
	}
	return fmt.Sprintf("%s moved to %s", ref.Short(), current)
}

// RefusedError is a push whose update the remote refused in its own words
// while the branch still pointed where the push expected: a hook declined
// it or the branch is protected. Retrying cannot change that.
type RefusedError struct {
	Ref     plumbing.ReferenceName
	Status  string // the reason the remote gave
	Message string // what the remote said besides, on one line
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("remote refused to update %s: %s", e.Ref.Short(), e.Status)
	if e.Message != "" {
		s += " (remote: " + e.Message + ")"
	}
	return s
}

// contextError returns ctx's error in place of err once ctx is done, as
// transports report a cancelled session in their own words.
func contextError(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
