package gitsync

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// remote speaks the git protocol with one repository. It works at the
// level of go-git's transport sessions rather than go-git's Remote, so that
// a fetch sends only what changed since the last one and a push sends only
// the objects of the new commit: go-git's Remote.Push walks every object
// reachable from the remote head to find what to leave out. Over ssh the
// sessions are its own (sshDialer); a local repository is read and written
// directly (localStore).
type remote struct {
	url     string // redacted, for messages
	ep      *transport.Endpoint
	tr      transport.Transport                  // http(s)
	ssh     *sshDialer                           // ssh, in place of tr
	local   *localStore                          // a local path, in place of tr
	auth    func() (transport.AuthMethod, error) // called before every session
	timeout time.Duration                        // of each session
	packer  packer                               // used under Repo.mu
	log     *slog.Logger
}

// rejectedError is a push the remote refused because the branch did not
// point where the push expected: someone else pushed first.
type rejectedError struct{ reason string }

func (e *rejectedError) Error() string { return "push rejected: " + e.reason }

// movedReason says where ref went, for a rejectedError.
func movedReason(ref plumbing.ReferenceName, current plumbing.Hash) string {
	if current.IsZero() {
		return ref.Short() + " was deleted"
	}
	return fmt.Sprintf("%s moved to %s", ref.Short(), current)
}

// refusedError is a push whose update the remote refused in its own words:
// a hook declined it or the branch is protected, or someone pushed first,
// which git reports in several ways. Repo.Sync tells them apart by reading
// the branch again.
type refusedError struct {
	ref     plumbing.ReferenceName
	status  string // the reason the remote gave
	message string // what the remote said besides, on one line
}

func (e *refusedError) Error() string {
	s := fmt.Sprintf("remote refused to update %s: %s", e.ref.Short(), e.status)
	if e.message != "" {
		s += " (remote: " + e.message + ")"
	}
	return s
}

// fetchHead returns the commit ref points at (zero when it does not exist)
// and, unless it is have, a storage holding that commit and its tree. With
// have set, the remote is told that have and its tree are already known,
// so that it sends only the objects that differ.
func (r *remote) fetchHead(ctx context.Context, ref plumbing.ReferenceName, have plumbing.Hash) (plumbing.Hash, storer.EncodedObjectStorer, error) {
	if r.local != nil {
		return r.local.fetchHead(ctx, ref, have)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sess, err := r.uploadPackSession(ctx)
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
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Wants = []plumbing.Hash{head}
	// Servers without shallow support send the full history instead.
	shallow := ar.Capabilities.Supports(capability.Shallow)
	if shallow {
		_ = req.Capabilities.Set(capability.Shallow)
		req.Depth = packp.DepthCommits(1)
	}
	if ar.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if !have.IsZero() {
		req.Haves = []plumbing.Hash{have}
		if shallow {
			req.Shallows = []plumbing.Hash{have} // we hold none of its parents
		}
	}
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

// head returns the commit ref points at now, zero when it does not exist.
func (r *remote) head(ctx context.Context, ref plumbing.ReferenceName) (plumbing.Hash, error) {
	if r.local != nil {
		h, _, err := r.local.head(ctx, ref)
		return h, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sess, err := r.uploadPackSession(ctx)
	if err != nil {
		return plumbing.ZeroHash, contextError(ctx, err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, contextError(ctx, err)
	}
	return ar.References[ref.String()], nil
}

// uploadPackSession and receivePackSession start a session; over ssh that
// connects, bounded by ctx.
func (r *remote) uploadPackSession(ctx context.Context) (transport.UploadPackSession, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.ssh != nil {
		return r.ssh.open(ctx, transport.UploadPackServiceName)
	}
	auth, err := r.auth()
	if err != nil {
		return nil, err
	}
	return r.tr.NewUploadPackSession(r.ep, auth)
}

func (r *remote) receivePackSession(ctx context.Context) (transport.ReceivePackSession, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.ssh != nil {
		return r.ssh.open(ctx, transport.ReceivePackServiceName)
	}
	auth, err := r.auth()
	if err != nil {
		return nil, err
	}
	return r.tr.NewReceivePackSession(r.ep, auth)
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

// push moves ref from old (zero: create it) to commit, sending objs. The
// remote applies the update only if ref still points at old, so a push
// never overwrites a commit it did not build on. A push that finds ref
// moved returns a *rejectedError; one whose update the remote refuses
// returns a *refusedError with what the remote said.
func (r *remote) push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *objectSet) error {
	if r.local != nil {
		return r.local.push(ctx, &r.packer, ref, old, commit, objs)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var pack bytes.Buffer
	if err := r.packer.write(&pack, objs); err != nil {
		return err
	}
	sess, err := r.receivePackSession(ctx)
	if err != nil {
		return contextError(ctx, err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return contextError(ctx, err)
	}
	if current := ar.References[ref.String()]; current != old {
		return &rejectedError{movedReason(ref, current)}
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	req.Commands = []*packp.Command{{Name: ref, Old: old, New: commit}}
	req.Packfile = io.NopCloser(&pack)
	// Hooks speak on the progress channel; without a side band their words
	// are lost, or mixed into standard error.
	switch {
	case ar.Capabilities.Supports(capability.Sideband64k):
		_ = req.Capabilities.Set(capability.Sideband64k)
	case ar.Capabilities.Supports(capability.Sideband):
		_ = req.Capabilities.Set(capability.Sideband)
	}
	if ar.Capabilities.Supports(capability.Quiet) { // no progress meters
		_ = req.Capabilities.Set(capability.Quiet)
	}
	var said remoteMessages
	req.Progress = &said
	report, err := sess.ReceivePack(ctx, req)
	if msg := said.String(); msg != "" {
		r.log.Debug("remote said", "ref", ref.Short(), "message", msg)
	}
	if report != nil {
		if report.UnpackStatus != "ok" {
			return fmt.Errorf("remote could not unpack: %s%s", report.UnpackStatus, said.suffix())
		}
		for _, s := range report.CommandStatuses {
			if s.Status != "ok" {
				return &refusedError{ref: ref, status: s.Status, message: said.String()}
			}
		}
	}
	if err != nil {
		return contextError(ctx, fmt.Errorf("%w%s", err, said.suffix()))
	}
	return nil
}

// contextError returns ctx's error in place of err once ctx is done, as
// transports report a cancelled session in their own words.
func contextError(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// packer writes objects as a version 2 pack of whole (undeltified)
// objects. go-git's encoder would do, but it wants the objects in a
// storer and compresses everything at the default level. Trees are stored
// without compression: they are mostly SHA-1s, which barely compress, and
// a flat directory of 10,000 files is a 600 KB tree that each commit
// rewrites, which the receiving side would otherwise inflate twice. The
// compressors are kept, as each allocates about a megabyte.
type packer struct {
	fast, stored *zlib.Writer
}

func (p *packer) init() {
	if p.fast == nil {
		p.fast, _ = zlib.NewWriterLevel(nil, zlib.BestSpeed)       // valid level: no error
		p.stored, _ = zlib.NewWriterLevel(nil, zlib.NoCompression) // valid level: no error
	}
}

// compressor returns the zlib writer for objects of type typ.
func (p *packer) compressor(typ plumbing.ObjectType) *zlib.Writer {
	p.init()
	if typ == plumbing.TreeObject {
		return p.stored
	}
	return p.fast
}

// writeLoose writes o as a loose object file holds it: its header and its
// data, compressed as in a pack.
func (p *packer) writeLoose(w io.Writer, o rawObject) error {
	zw := p.compressor(o.typ)
	zw.Reset(w)
	if _, err := fmt.Fprintf(zw, "%s %d\x00", o.typ, len(o.data)); err != nil {
		return err
	}
	if _, err := zw.Write(o.data); err != nil {
		return err
	}
	return zw.Close()
}

func (p *packer) write(w io.Writer, objs *objectSet) error {
	sum := sha1.New()
	out := io.MultiWriter(w, sum)
	hdr := make([]byte, 12, 32)
	copy(hdr, "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(objs.order)))
	if _, err := out.Write(hdr); err != nil {
		return err
	}
	for _, h := range objs.order {
		o := objs.objs[h]
		if _, err := out.Write(packObjectHeader(hdr[:0], o.typ, len(o.data))); err != nil {
			return err
		}
		zw := p.compressor(o.typ)
		zw.Reset(out)
		if _, err := zw.Write(o.data); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
	}
	_, err := w.Write(sum.Sum(nil))
	return err
}

// packObjectHeader appends the type and size of a pack entry: 3 bits of
// type and 4 bits of size, then 7 bits of size per byte.
func packObjectHeader(b []byte, typ plumbing.ObjectType, size int) []byte {
	c := byte(typ)<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		b = append(b, c|0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	return append(b, c)
}
