package gitsync

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/ssm-dev/ssm/gitsync/internal/remote"
)

// RepoOptions configures a git sink: which branch of which repository, the
// folder in it that the sink owns, and how to authenticate.
type RepoOptions struct {
	// URL is an ssh URL (ssh://… or scp-like git@host:path), an https or http
	// URL, or a local path or file:// URL of a bare repository. It holds no
	// secret, as it shows in logs and errors: an http(s) URL with user
	// information and an ssh URL with a password are refused; see Username
	// and PasswordPath. A local repository is read and written directly,
	// without git's protocol, and runs no hooks; what ssm writes there is
	// what git would (modes for core.sharedRepository, reflogs for
	// core.logAllRefUpdates), its writers wait for one another (a flock on
	// the repository, which dies with its process), and what a writer that
	// died left, a ref lock older than 10s included, is removed.
	URL string
	// Branch is the branch to keep; "main" when empty. It is created with a
	// root commit if it does not exist.
	Branch string
	// Path is the folder owned in the repository, slash-separated; "" or "."
	// is the root. Nothing outside it is ever changed.
	Path string
	// AuthorName and AuthorEmail sign the commits; "ssm" and "ssm@localhost"
	// when empty.
	AuthorName, AuthorEmail string

	// SSHKeyPath is the private key file for ssh URLs.
	SSHKeyPath string
	// KnownHostsPath is the known_hosts file that ssh host keys are checked
	// against. Required with ssh unless InsecureIgnoreHostKey is set.
	KnownHostsPath        string
	InsecureIgnoreHostKey bool
	// Username and PasswordPath are http basic authentication. The password
	// (or token) file is read again before every network step, so a rotated
	// token is picked up. A token alone needs no username.
	Username     string
	PasswordPath string

	// Timeout bounds each network step (a fetch, a push), from connecting,
	// and for ssh the handshake, to the last byte; 30s when zero.
	Timeout time.Duration
	// MaxRetries is how many times a push that was rejected because the
	// branch moved is rebuilt on the new head and retried before Sync
	// returns an error; 5 when zero.
	MaxRetries int
	// Ownership, as for WriteDir: Sync refuses to take over a non-empty path
	// that lacks the ownership file.
	Ownership Ownership
	// Logger receives what was pushed and why a push was retried; nil
	// discards.
	Logger *slog.Logger

	// staleLockAfter is the age at which a local repository's ref lock is
	// taken for a dead writer's; the transport's default when zero. Tests
	// shorten it.
	staleLockAfter time.Duration
}

// Validate checks o without touching the network: the URL, branch and
// path, that the authentication options fit the URL, and that the key,
// known_hosts and password files can be read. Open does the same.
func (o RepoOptions) Validate() error {
	o, _, err := o.withDefaults()
	if err != nil {
		return err
	}
	_, err = remote.New(o.transportOptions(slog.New(slog.DiscardHandler)))
	return err
}

// transportOptions returns what the transport needs of o; log receives
// what the remote says and warnings about settings that weaken security.
func (o RepoOptions) transportOptions(log *slog.Logger) remote.Options {
	return remote.Options{
		URL:                   o.URL,
		SSHKeyPath:            o.SSHKeyPath,
		KnownHostsPath:        o.KnownHostsPath,
		InsecureIgnoreHostKey: o.InsecureIgnoreHostKey,
		Username:              o.Username,
		PasswordPath:          o.PasswordPath,
		Timeout:               o.Timeout,
		Logger:                log,
		Committer:             o.AuthorName + " <" + o.AuthorEmail + ">",
		StaleLockAfter:        o.staleLockAfter,
	}
}

// withDefaults validates o and fills in its defaults. It returns the owned
// path's segments too.
func (o RepoOptions) withDefaults() (RepoOptions, []string, error) {
	if o.URL == "" {
		return o, nil, errors.New("git url is required")
	}
	if o.Branch == "" {
		o.Branch = "main"
	}
	// git's strbuf_check_branch_ref refuses these, which go-git accepts.
	if o.Branch == "HEAD" || strings.HasPrefix(o.Branch, "-") {
		return o, nil, fmt.Errorf("invalid git branch %q: git takes no branch named HEAD or starting with '-'", o.Branch)
	}
	if err := plumbing.NewBranchReferenceName(o.Branch).Validate(); err != nil {
		return o, nil, fmt.Errorf("invalid git branch %q: %w", o.Branch, err)
	}
	var parts []string
	if o.Path = strings.TrimSuffix(o.Path, "/"); o.Path == "." {
		o.Path = ""
	}
	if o.Path != "" {
		if why := pathProblem(o.Path); why != "" {
			return o, nil, fmt.Errorf("invalid git path %q: %s", o.Path, why)
		}
		parts = strings.Split(o.Path, "/")
	}
	if err := o.Ownership.validate(); err != nil {
		return o, nil, err
	}
	o.AuthorName = cmp.Or(o.AuthorName, "ssm")
	o.AuthorEmail = cmp.Or(o.AuthorEmail, "ssm@localhost")
	if strings.ContainsAny(o.AuthorName+o.AuthorEmail, "<>\n") {
		return o, nil, fmt.Errorf("invalid git author %q <%s>: must not contain <, > or newlines", o.AuthorName, o.AuthorEmail)
	}
	switch {
	case o.Timeout < 0:
		return o, nil, fmt.Errorf("invalid git timeout %s: must not be negative", o.Timeout)
	case o.Timeout == 0:
		o.Timeout = 30 * time.Second
	}
	switch {
	case o.MaxRetries < 0:
		return o, nil, fmt.Errorf("invalid git max retries %d: must not be negative", o.MaxRetries)
	case o.MaxRetries == 0:
		o.MaxRetries = 5
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, parts, nil
}

// Repo keeps the owned path of one branch equal to a file set. It holds no
// clone: only the branch head's trees down to the owned path and the files
// below it, so that a sync costs what changed, not what the repository
// holds. A Repo is safe for concurrent use; its calls run one at a time.
type Repo struct {
	opts   RepoOptions
	parts  []string // segments of opts.Path
	ref    plumbing.ReferenceName
	url    string // redacted, for messages
	remote remote.Transport
	log    *slog.Logger

	mu   sync.Mutex // serialises Apply and Diff, which share snap
	snap *snapshot
}

// Open validates opts, sets up authentication and fetches the head of the
// branch (depth 1, that branch only) into memory. A remote without commits
// or without the branch is fine: the first Sync creates it.
func Open(ctx context.Context, opts RepoOptions) (*Repo, error) {
	opts, parts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	url := remote.Redact(opts.URL)
	log := opts.Logger.With("url", url, "branch", opts.Branch, "path", cmp.Or(opts.Path, "."))
	tr, err := remote.New(opts.transportOptions(log))
	if err != nil {
		return nil, err
	}
	r := &Repo{
		opts:   opts,
		parts:  parts,
		ref:    plumbing.NewBranchReferenceName(opts.Branch),
		url:    url,
		remote: tr,
		log:    log,
		snap:   emptySnapshot(len(parts)),
	}
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	r.log.Info("opened git repository", "commit", hashString(r.snap.commit), "files", r.snap.owned.files)
	return r, nil
}

// Diff returns how the owned path at the branch head differs from files,
// fetching the head first. It writes nothing.
func (r *Repo) Diff(ctx context.Context, files Files) ([]Change, error) {
	if err := files.Validate(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	return r.snap.owned.changesTo(files), nil
}

// refresh makes the snapshot describe the branch head, fetching only what
// changed since the snapshot's commit.
func (r *Repo) refresh(ctx context.Context) error {
	snap, err := r.fetch(ctx, r.snap)
	if errors.Is(err, plumbing.ErrObjectNotFound) && !r.snap.commit.IsZero() {
		// The remote left out an object it took us to hold, as it is
		// reachable from our commit: a file moved into the owned path, or
		// rewritten history. Fetch the head whole.
		r.log.Info("fetching the whole branch head", "reason", err)
		snap, err = r.fetch(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("fetch %s from %s: %w", r.opts.Branch, r.url, err)
	}
	r.snap = snap
	return nil
}

// fetch returns the snapshot of the branch head, downloading what differs
// from prev (nil: everything).
func (r *Repo) fetch(ctx context.Context, prev *snapshot) (*snapshot, error) {
	var have plumbing.Hash
	if prev != nil {
		have = prev.commit
	}
	head, sto, err := r.remote.FetchHead(ctx, r.ref, have)
	switch {
	case err != nil:
		return nil, err
	case head.IsZero():
		return emptySnapshot(len(r.parts)), nil
	case sto == nil: // head is have
		return prev, nil
	}
	return readSnapshot(sto, head, r.parts, prev)
}

// checkOwnership refuses a non-empty owned path without the ownership file.
func (r *Repo) checkOwnership(s *snapshot) error {
	own := r.opts.Ownership
	if own.File == "" || s.owned.files == 0 {
		return nil
	}
	if e := s.owned.lookup(own.File); e != nil && e.mode == filemode.Regular && bytes.HasPrefix(e.data, own.Prefix) {
		return nil
	}
	return fmt.Errorf("refusing to write %s on branch %s of %s: it is not empty and has no %s written by ssm; empty it or choose another path",
		cmp.Or(r.opts.Path, "."), r.opts.Branch, r.url, own.File)
}

// backoff returns how long to wait before retry attempt: doubling from
// 100ms up to 5s, with jitter so that replicas pushing together spread out.
func backoff(attempt int) time.Duration {
	d := min(100*time.Millisecond<<min(attempt-1, 16), 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func hashString(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}
