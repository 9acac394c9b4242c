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

	"github.com/ssm-dev/ssm/fileset"
	"github.com/ssm-dev/ssm/gitsync/internal/remote"
	"github.com/ssm-dev/ssm/internal/redact"
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
	// Branch is the branch to keep; "main" when empty. When it does not
	// exist, the first commit starts it, as a root commit, in a repository
	// without any branch, or with CreateBranch (never with PushBranch);
	// in a repository with other branches, Sync fails instead: the name is
	// more likely a typo than a wish for an unrelated history.
	Branch string
	// CreateBranch lets the first commit start Branch in a repository that
	// has other branches.
	CreateBranch bool
	// PushBranch, when set, is the branch commits go to instead: Branch is
	// then the base, only read, and PushBranch is kept equal to the base's
	// head plus one commit holding what the plan decides, for review (a
	// pull or merge request from it). It is made from the base's head, made
	// again when the base moves or the plan decides otherwise, and deleted
	// when the base already holds what the plan decides. It is the one
	// branch whose head ssm replaces rather than builds on, with a lease
	// (the push succeeds only if the branch still points where ssm read it),
	// and only while that head is a commit ssm made: one parent, committed
	// by AuthorName and AuthorEmail; a branch someone else committed to is
	// left alone with an error.
	PushBranch string
	// PushOptions are sent with every push, as git push -o sends them:
	// any string on one line, such as GitLab's merge_request.create or
	// merge_request.target=main. The server must advertise
	// push options (git: receive.advertisePushOptions); a local repository
	// takes none, as it runs no hooks.
	PushOptions []string
	// Path is the folder owned in the repository, slash-separated; "" or "."
	// is the root. Nothing outside it is ever changed.
	Path string
	// AuthorName and AuthorEmail sign the commits; "ssm" and "ssm@localhost"
	// when empty.
	AuthorName, AuthorEmail string
	// SigningKeyPath, when set, signs every commit with the key in the
	// file: an armored OpenPGP private key, or an SSH private key (git's
	// gpg.format=ssh signatures), told apart by the content. Each signed
	// commit is verified, as pushed, before the push; one that does not
	// verify is not pushed. SigningPassphrasePath holds the passphrase of an
	// encrypted key.
	SigningKeyPath, SigningPassphrasePath string

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
	// CAFile is a PEM bundle of the certificate authorities an https server
	// is checked against, in place of the system's (as git's
	// http.sslCAInfo): an internal server with a private CA.
	CAFile string

	// Timeout bounds each network step (a fetch, a push), from connecting,
	// and for ssh the handshake, to the last byte; 30s when zero.
	Timeout time.Duration
	// MaxRetries is how many times a push that was rejected because the
	// branch moved is rebuilt on the new head and retried before Sync
	// returns an error; 5 when zero.
	MaxRetries int
	// Ownership, as for WriteDir: Sync refuses to take over a non-empty path
	// that lacks the ownership file.
	Ownership fileset.Ownership
	// Logger receives what was pushed and why a push was retried; nil
	// discards.
	Logger *slog.Logger

	// staleLockAfter is the age at which a local repository's ref lock is
	// taken for a dead writer's; the transport's default when zero. Tests
	// shorten it.
	staleLockAfter time.Duration
}

// Validate checks o without touching the network: the URL, branches and
// path, that the authentication options fit the URL, and that the key,
// known_hosts, password and signing key files can be read. Open does the
// same.
func (o RepoOptions) Validate() error {
	o, _, err := o.withDefaults()
	if err != nil {
		return err
	}
	if _, err = remote.New(o.transportOptions(slog.New(slog.DiscardHandler))); err != nil {
		return err
	}
	if o.SigningKeyPath != "" {
		_, err = loadSigner(o.SigningKeyPath, o.SigningPassphrasePath)
	}
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
		CAFile:                o.CAFile,
		Timeout:               o.Timeout,
		Logger:                log,
		Committer:             o.identity(),
		StaleLockAfter:        o.staleLockAfter,
		PushOptions:           o.PushOptions,
	}
}

// String describes where o commits, for logs: the URL redacted, the
// branch (the push branch and its base) and the owned path.
func (o RepoOptions) String() string {
	if o.PushBranch != "" {
		return fmt.Sprintf("%s (branch %s from %s, path %s)", redact.URL(o.URL), o.PushBranch, o.Branch, o.Path)
	}
	return fmt.Sprintf("%s (branch %s, path %s)", redact.URL(o.URL), o.Branch, o.Path)
}

// identity is the author and committer of ssm's commits, as git writes it.
func (o RepoOptions) identity() string { return o.AuthorName + " <" + o.AuthorEmail + ">" }

// withDefaults validates o and fills in its defaults. It returns the owned
// path's segments too.
func (o RepoOptions) withDefaults() (RepoOptions, []string, error) {
	if o.URL == "" {
		return o, nil, errors.New("git url is required")
	}
	if o.Branch == "" {
		o.Branch = "main"
	}
	if err := validBranch("git branch", o.Branch); err != nil {
		return o, nil, err
	}
	if o.PushBranch != "" {
		if err := validBranch("git push branch", o.PushBranch); err != nil {
			return o, nil, err
		}
		if o.PushBranch == o.Branch {
			return o, nil, fmt.Errorf("invalid git push branch %q: it is the branch it is made from; leave it unset to commit to %s directly", o.PushBranch, o.Branch)
		}
	}
	if err := validPushOptions(o.PushOptions); err != nil {
		return o, nil, err
	}
	if o.SigningPassphrasePath != "" && o.SigningKeyPath == "" {
		return o, nil, errors.New("a signing passphrase file needs a signing key file")
	}
	var parts []string
	if o.Path = strings.TrimSuffix(o.Path, "/"); o.Path == "." {
		o.Path = ""
	}
	if o.Path != "" {
		if why := fileset.PathProblem(o.Path); why != "" {
			return o, nil, fmt.Errorf("invalid git path %q: %s", o.Path, why)
		}
		parts = strings.Split(o.Path, "/")
	}
	if err := o.Ownership.Validate(); err != nil {
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

// validBranch checks a branch name as git does.
func validBranch(what, name string) error {
	// git's strbuf_check_branch_ref refuses these, which go-git accepts.
	if name == "HEAD" || strings.HasPrefix(name, "-") {
		return fmt.Errorf("invalid %s %q: git takes no branch named HEAD or starting with '-'", what, name)
	}
	if err := plumbing.NewBranchReferenceName(name).Validate(); err != nil {
		return fmt.Errorf("invalid %s %q: %w", what, name, err)
	}
	return nil
}

// validPushOptions checks each option as git push -o does: any string on
// one line (the protocol sends one option a line), and not empty, which
// would send nothing a server could read.
func validPushOptions(opts []string) error {
	for _, o := range opts {
		switch {
		case o == "":
			return errors.New("invalid git push option \"\": empty")
		case strings.ContainsAny(o, "\n\r\x00"):
			return fmt.Errorf("invalid git push option %q: must not hold a line break or NUL", o)
		}
	}
	return nil
}

// Repo keeps the owned path of one branch equal to a file set. It holds no
// clone: only the branch head's trees down to the owned path and the files
// below it, so that a sync costs what changed, not what the repository
// holds. A Repo is safe for concurrent use; its calls run one at a time.
type Repo struct {
	opts    RepoOptions
	parts   []string // segments of opts.Path
	ref     plumbing.ReferenceName
	pushRef plumbing.ReferenceName // opts.PushBranch; "" to push to ref
	url     string                 // redacted, for messages
	remote  remote.Transport
	signer  signer // nil: commits are not signed
	log     *slog.Logger

	mu   sync.Mutex // serialises Apply and Diff, which share snap and prop
	snap *snapshot
	prop *snapshot // the push branch's head when last seen; nil: not read yet
}

// Open validates opts, sets up authentication and fetches the head of the
// branch (depth 1, that branch only) into memory. A remote without commits
// or without the branch is fine: the first Sync creates it.
func Open(ctx context.Context, opts RepoOptions) (*Repo, error) {
	opts, parts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	url := redact.URL(opts.URL)
	log := opts.Logger.With("url", url, "branch", opts.Branch, "path", cmp.Or(opts.Path, "."))
	if opts.PushBranch != "" {
		log = log.With("pushBranch", opts.PushBranch)
	}
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
	if opts.SigningKeyPath != "" {
		if r.signer, err = loadSigner(opts.SigningKeyPath, opts.SigningPassphrasePath); err != nil {
			return nil, err
		}
	}
	if opts.PushBranch != "" {
		r.pushRef = plumbing.NewBranchReferenceName(opts.PushBranch)
	}
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	attrs := []any{"commit", hashString(r.snap.commit), "files", r.snap.owned.files}
	if r.signer != nil {
		attrs = append(attrs, "signingKey", r.signer.String())
	}
	r.log.Info("opened git repository", attrs...)
	return r, nil
}

// Diff returns how the owned path at the branch head differs from files,
// fetching the head first. It writes nothing.
func (r *Repo) Diff(ctx context.Context, files fileset.Files) ([]fileset.Change, error) {
	if err := files.Validate(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	return r.snap.changesTo(files), nil
}

// refresh makes the snapshot describe the branch head, fetching only what
// changed since the snapshot's commit.
func (r *Repo) refresh(ctx context.Context) error {
	snap, err := r.read(ctx, r.ref, r.snap)
	if err != nil {
		return err
	}
	r.snap = snap
	return nil
}

// read returns the snapshot of the head of ref, fetching only what differs
// from prev, a snapshot the remote holds the objects of.
func (r *Repo) read(ctx context.Context, ref plumbing.ReferenceName, prev *snapshot) (*snapshot, error) {
	snap, err := r.fetch(ctx, ref, prev)
	if errors.Is(err, plumbing.ErrObjectNotFound) && !prev.commit.IsZero() {
		// The remote left out an object it took us to hold, as it is
		// reachable from our commit: a file moved into the owned path, or
		// rewritten history. Fetch the head whole.
		r.log.Info("fetching the whole branch head", "branch", ref.Short(), "reason", err)
		snap, err = r.fetch(ctx, ref, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", ref.Short(), r.url, err)
	}
	return snap, nil
}

// fetch returns the snapshot of the head of ref, downloading what differs
// from prev (nil: everything).
func (r *Repo) fetch(ctx context.Context, ref plumbing.ReferenceName, prev *snapshot) (*snapshot, error) {
	var have plumbing.Hash
	if prev != nil {
		have = prev.commit
	}
	head, sto, err := r.remote.FetchHead(ctx, ref, have)
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
