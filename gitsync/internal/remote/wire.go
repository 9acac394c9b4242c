package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/ssm-dev/ssm/gitsync/internal/pack"
)

// wire is a Transport that speaks git's protocol with one repository over
// sessions that its dialer opens: http(s) or ssh. It works at the level of
// go-git's transport sessions rather than go-git's Remote, so that a fetch
// sends only what changed since the last one and a push sends only the
// objects of the new commit: go-git's Remote.Push walks every object
// reachable from the remote head to find what to leave out.
type wire struct {
	dial    dialer
	timeout time.Duration // of each session
	packer  pack.Encoder
	log     *slog.Logger
	options []string // push options sent with every push
}

// dialer opens git sessions with one repository. ctx bounds the opening;
// over ssh it bounds the whole session.
type dialer interface {
	uploadPack(ctx context.Context) (transport.UploadPackSession, error)
	receivePack(ctx context.Context) (transport.ReceivePackSession, error)
}

func (w *wire) FetchHead(ctx context.Context, ref plumbing.ReferenceName, have plumbing.Hash) (plumbing.Hash, storer.EncodedObjectStorer, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	sess, err := w.uploadPack(ctx)
	if err != nil {
		return plumbing.ZeroHash, nil, contextError(ctx, err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return plumbing.ZeroHash, nil, nil
	}
	if err != nil {
		return plumbing.ZeroHash, nil, contextError(ctx, err)
	}
	head := ar.References[ref.String()]
	if head.IsZero() || head == have {
		return head, nil, nil
	}
	req := uploadRequest(ar.Capabilities, head, have)
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return plumbing.ZeroHash, nil, contextError(ctx, err)
	}
	defer resp.Close()
	sto := memory.NewStorage()
	if err := packfile.UpdateObjectStorage(sto, demux(req.Capabilities, resp)); err != nil {
		return plumbing.ZeroHash, nil, contextError(ctx, fmt.Errorf("read pack: %w", err))
	}
	return head, sto, nil
}

// uploadRequest asks for head alone, at depth 1 where the server can, and
// tells the server that have and its tree are known already.
func uploadRequest(caps *capability.List, head, have plumbing.Hash) *packp.UploadPackRequest {
	req := packp.NewUploadPackRequestFromCapabilities(caps)
	req.Wants = []plumbing.Hash{head}
	// Servers without shallow support send the full history instead.
	shallow := caps.Supports(capability.Shallow)
	if shallow {
		_ = req.Capabilities.Set(capability.Shallow)
		req.Depth = packp.DepthCommits(1)
	}
	if caps.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if !have.IsZero() {
		req.Haves = []plumbing.Hash{have}
		if shallow {
			req.Shallows = []plumbing.Hash{have} // we hold none of its parents
		}
	}
	return req
}

// head returns the commit ref points at now, zero when it does not exist.
func (w *wire) head(ctx context.Context, ref plumbing.ReferenceName) (plumbing.Hash, error) {
	refs, err := w.refs(ctx)
	return refs[ref.String()], err
}

// Empty reports whether the remote advertises no reference at all.
func (w *wire) Empty(ctx context.Context) (bool, error) {
	refs, err := w.refs(ctx)
	return len(refs) == 0, err
}

// refs returns the references the remote advertises now: none for an
// empty repository.
func (w *wire) refs(ctx context.Context) (map[string]plumbing.Hash, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	sess, err := w.uploadPack(ctx)
	if err != nil {
		return nil, contextError(ctx, err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, contextError(ctx, err)
	}
	return ar.References, nil
}

// uploadPack and receivePack start a session, unless ctx is done.
func (w *wire) uploadPack(ctx context.Context) (transport.UploadPackSession, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return w.dial.uploadPack(ctx)
}

func (w *wire) receivePack(ctx context.Context) (transport.ReceivePackSession, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return w.dial.receivePack(ctx)
}

func demux(caps *capability.List, r io.Reader) io.Reader {
	switch {
	case caps.Supports(capability.Sideband64k):
		return sideband.NewDemuxer(sideband.Sideband64k, r)
	case caps.Supports(capability.Sideband):
		return sideband.NewDemuxer(sideband.Sideband, r)
	}
	return r
}

// Push sends the update, which the remote applies only if ref still points
// at old. A refusal is a lost race if ref no longer points at old.
func (w *wire) Push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *pack.Objects) error {
	err := w.push(ctx, ref, old, commit, objs)
	if refused, ok := errors.AsType[*RefusedError](err); ok {
		return w.whyRefused(ctx, ref, old, refused)
	}
	return err
}

// whyRefused returns a *RejectedError if ref no longer points at old, the
// commit the refused push built on: the remote lost a race, whatever words
// it used (git says "failed to lock", "fetch first" or
// "non-fast-forward"). Otherwise a hook or a protected branch refused the
// update, which retrying cannot change: it returns refused as it is.
func (w *wire) whyRefused(ctx context.Context, ref plumbing.ReferenceName, old plumbing.Hash, refused *RefusedError) error {
	head, err := w.head(ctx, ref)
	if err != nil {
		return fmt.Errorf("%w; read %s again: %w", refused, ref.Short(), err)
	}
	if head != old {
		return &RejectedError{fmt.Sprintf("%s: %s", movedReason(ref, head), refused.Status)}
	}
	return refused
}

// push sends objs and the update of ref in one receive-pack session. It
// returns a *RejectedError if ref did not point at old when the session
// began, and a *RefusedError with what the remote said if the remote
// refused the update.
func (w *wire) push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *pack.Objects) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	var packed *bytes.Buffer
	if !commit.IsZero() { // a deletion sends no pack
		packed = &bytes.Buffer{}
		if err := w.packer.WritePack(packed, objs, nil); err != nil {
			return err
		}
	}
	sess, err := w.receivePack(ctx)
	if err != nil {
		return contextError(ctx, err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return contextError(ctx, err)
	}
	if current := ar.References[ref.String()]; current != old {
		return &RejectedError{movedReason(ref, current)}
	}
	req, err := w.updateRequest(ar.Capabilities, ref, old, commit, packed)
	if err != nil {
		return err
	}
	var said remoteMessages
	req.Progress = &said
	report, err := sess.ReceivePack(ctx, req)
	if msg := said.String(); msg != "" {
		w.log.Debug("remote said", "ref", ref.Short(), "message", msg)
	}
	if report != nil {
		if report.UnpackStatus != "ok" {
			return fmt.Errorf("remote could not unpack: %s%s", report.UnpackStatus, said.suffix())
		}
		for _, s := range report.CommandStatuses {
			if s.Status != "ok" {
				return &RefusedError{Ref: ref, Status: s.Status, Message: said.String()}
			}
		}
	}
	if err != nil {
		return contextError(ctx, fmt.Errorf("%w%s", err, said.suffix()))
	}
	return nil
}

// updateRequest moves ref from old to commit, sending packed, or deletes it
// when commit is zero, with the push options. It refuses what the remote
// did not advertise it would take: git would send it, and git's
// receive-pack would then fail the whole push with a protocol error.
func (w *wire) updateRequest(caps *capability.List, ref plumbing.ReferenceName, old, commit plumbing.Hash, packed *bytes.Buffer) (*packp.ReferenceUpdateRequest, error) {
	req := packp.NewReferenceUpdateRequestFromCapabilities(caps)
	req.Commands = []*packp.Command{{Name: ref, Old: old, New: commit}}
	if commit.IsZero() {
		if !caps.Supports(capability.DeleteRefs) {
			return nil, fmt.Errorf("delete %s: the remote does not accept deleting references", ref.Short())
		}
		_ = req.Capabilities.Set(capability.DeleteRefs)
	} else {
		req.Packfile = io.NopCloser(packed)
	}
	if len(w.options) > 0 {
		if !caps.Supports(capability.PushOptions) {
			return nil, errors.New("the remote does not accept push options (git servers advertise them with receive.advertisePushOptions=true)")
		}
		_ = req.Capabilities.Add(pushOptionsCap)
		withOpts, err := withPushOptions(w.options, req.Packfile)
		if err != nil {
			return nil, err
		}
		req.Packfile = withOpts
	}
	// Hooks speak on the progress channel; without a side band their words
	// are lost, or mixed into standard error.
	switch {
	case caps.Supports(capability.Sideband64k):
		_ = req.Capabilities.Set(capability.Sideband64k)
	case caps.Supports(capability.Sideband):
		_ = req.Capabilities.Set(capability.Sideband)
	}
	if caps.Supports(capability.Quiet) { // no progress meters
		_ = req.Capabilities.Set(capability.Quiet)
	}
	return req, nil
}

// pushOptionsCap asks the server for push options while go-git's encoder
// writes none itself: go-git writes every option as KEY=VALUE, so that
// GitLab's bare merge_request.create would arrive as
// "merge_request.create=". Servers split the capabilities at spaces, and
// read this one as push-options; go-git does not (its Supports check is an
// exact match), and leaves the option section to withPushOptions.
const pushOptionsCap = capability.PushOptions + " "

// withPushOptions puts the push options, as git writes them (one pkt-line
// each, verbatim, then a flush), ahead of the pack: where the protocol
// wants them, right after the commands. The caller has checked that none
// is empty (a flush) or holds a line break.
func withPushOptions(opts []string, pack io.ReadCloser) (io.ReadCloser, error) {
	var b bytes.Buffer
	e := pktline.NewEncoder(&b)
	for _, o := range opts {
		if err := e.EncodeString(o); err != nil { // over a pkt-line's 65,516 bytes
			return nil, fmt.Errorf("push option %.20q…: %w", o, err)
		}
	}
	_ = e.Flush()    // a bytes.Buffer takes every write
	if pack == nil { // a deletion: no pack follows
		return io.NopCloser(&b), nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(&b, pack), pack}, nil
}

// remoteMessages keeps the first few KiB of what a remote says besides the
// protocol: the progress channel of a push, where hooks speak and refusals
// are explained, or the standard error of an ssh command. It is safe for
// concurrent use, as an ssh session copies standard error on its own
// goroutine.
type remoteMessages struct {
	mu  sync.Mutex
	buf []byte
}

const maxRemoteMessages = 4 << 10

func (m *remoteMessages) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if room := maxRemoteMessages - len(m.buf); room > 0 {
		m.buf = append(m.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

// String returns the messages on one line, "; " between lines.
func (m *remoteMessages) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var lines []string
	for _, l := range strings.FieldsFunc(string(m.buf), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// suffix returns the messages to append to an error: " (remote: …)", or
// "" when the remote said nothing.
func (m *remoteMessages) suffix() string {
	if s := m.String(); s != "" {
		return " (remote: " + s + ")"
	}
	return ""
}
