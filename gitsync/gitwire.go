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
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// remote speaks the git protocol with one repository. It works at the
// level of go-git's transport sessions rather than go-git's Remote, so that
// a fetch sends only what changed since the last one and a push sends only
// the objects of the new commit: go-git's Remote.Push walks every object
// reachable from the remote head to find what to leave out.
type remote struct {
	url     string // redacted, for messages
	ep      *transport.Endpoint
	tr      transport.Transport
	auth    func() (transport.AuthMethod, error) // called before every session
	timeout time.Duration                        // of each session
	packer  packer                               // used under Repo.mu
}

// rejectedError is a push the remote refused because the branch did not
// point where the push expected: someone else pushed first.
type rejectedError struct{ reason string }

func (e *rejectedError) Error() string { return "push rejected: " + e.reason }

// fetchHead returns the commit ref points at (zero when it does not exist)
// and, unless it is have, a storage holding that commit and its tree. With
// have set, the remote is told that have and its tree are already known,
// so that it sends only the objects that differ.
func (r *remote) fetchHead(ctx context.Context, ref plumbing.ReferenceName, have plumbing.Hash) (plumbing.Hash, *memory.Storage, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sess, err := r.uploadPackSession(ctx)
	if err != nil {
		return plumbing.ZeroHash, nil, err
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
	// go-git's in-process server has no shallow support; it sends the full
	// history instead.
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

func (r *remote) uploadPackSession(ctx context.Context) (transport.UploadPackSession, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	auth, err := r.auth()
	if err != nil {
		return nil, err
	}
	return r.tr.NewUploadPackSession(r.ep, auth)
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
// never overwrites a commit it did not build on; that case returns a
// *rejectedError.
func (r *remote) push(ctx context.Context, ref plumbing.ReferenceName, old, commit plumbing.Hash, objs *objectSet) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var pack bytes.Buffer
	if err := r.packer.write(&pack, objs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	auth, err := r.auth()
	if err != nil {
		return err
	}
	sess, err := r.tr.NewReceivePackSession(r.ep, auth)
	if err != nil {
		return err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return contextError(ctx, err)
	}
	if current := ar.References[ref.String()]; current != old {
		return &rejectedError{fmt.Sprintf("%s moved to %s", ref.Short(), current)}
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	req.Commands = []*packp.Command{{Name: ref, Old: old, New: commit}}
	req.Packfile = io.NopCloser(&pack)
	report, err := sess.ReceivePack(ctx, req)
	if report != nil {
		if report.UnpackStatus != "ok" {
			return fmt.Errorf("remote could not unpack: %s", report.UnpackStatus)
		}
		for _, s := range report.CommandStatuses {
			if s.Status != "ok" {
				return &rejectedError{fmt.Sprintf("%s: %s", s.ReferenceName.Short(), s.Status)}
			}
		}
	}
	return contextError(ctx, err)
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

func (p *packer) write(w io.Writer, objs *objectSet) error {
	if p.fast == nil {
		p.fast, _ = zlib.NewWriterLevel(nil, zlib.BestSpeed)       // valid level: no error
		p.stored, _ = zlib.NewWriterLevel(nil, zlib.NoCompression) // valid level: no error
	}
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
		zw := p.fast
		if o.typ == plumbing.TreeObject {
			zw = p.stored
		}
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
