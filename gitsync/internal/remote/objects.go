package remote

import (
	"bufio"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
)

// Objects collects the objects a commit adds, in the order they were made:
// what a push sends. The zero value is empty and ready to use.
type Objects struct {
	order []plumbing.Hash
	objs  map[plumbing.Hash]rawObject
}

type rawObject struct {
	typ  plumbing.ObjectType
	data []byte
}

// Add adds the object of type typ holding data, unless it is there
// already, and returns its hash. The set keeps data, which must not change.
func (s *Objects) Add(typ plumbing.ObjectType, data []byte) plumbing.Hash {
	h := plumbing.ComputeHash(typ, data)
	if _, ok := s.objs[h]; !ok {
		if s.objs == nil {
			s.objs = map[plumbing.Hash]rawObject{}
		}
		s.objs[h] = rawObject{typ, data}
		s.order = append(s.order, h)
	}
	return h
}

// Len returns how many objects the set holds.
func (s *Objects) Len() int { return len(s.order) }

// packer writes objects as a version 2 pack of whole (undeltified)
// objects. go-git's encoder would do, but it wants the objects in a
// storer and compresses everything at the default level. Trees are stored
// without compression: they are mostly SHA-1s, which barely compress, and
// a flat directory of 10,000 files is a 600 KB tree that each commit
// rewrites, which the receiving side would otherwise inflate twice. The
// compressors are kept, as each allocates about a megabyte.
type packer struct {
	fast, stored *zlib.Writer
	buf          *bufio.Writer
}

// buffer returns a buffered writer to w, so that a file is written in few
// system calls rather than one per compressor flush.
func (p *packer) buffer(w io.Writer) *bufio.Writer {
	if p.buf == nil {
		p.buf = bufio.NewWriterSize(w, 64<<10)
	}
	p.buf.Reset(w)
	return p.buf
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

// write writes objs as a pack to w. If idx is not nil, it is told where
// each object lies, for the pack's index.
func (p *packer) write(w io.Writer, objs *Objects, idx *idxfile.Writer) error {
	sum := sha1.New()
	out := &entryWriter{w: io.MultiWriter(w, sum), crc: crc32.NewIEEE()}
	hdr := make([]byte, 12, 32)
	copy(hdr, "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(objs.order)))
	if _, err := out.Write(hdr); err != nil {
		return err
	}
	if idx != nil {
		_ = idx.OnHeader(uint32(len(objs.order))) // cannot fail
	}
	for _, h := range objs.order {
		o := objs.objs[h]
		offset := out.n
		out.crc.Reset()
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
		if idx != nil {
			idx.Add(h, uint64(offset), out.crc.Sum32())
		}
	}
	trailer := sum.Sum(nil)
	if _, err := w.Write(trailer); err != nil {
		return err
	}
	if idx != nil {
		return idx.OnFooter(plumbing.Hash(trailer))
	}
	return nil
}

// entryWriter counts what it writes and sums it for an entry's CRC-32,
// which a pack index holds.
type entryWriter struct {
	w   io.Writer
	n   int64
	crc hash.Hash32
}

func (e *entryWriter) Write(b []byte) (int, error) {
	n, err := e.w.Write(b)
	e.n += int64(n)
	e.crc.Write(b[:n])
	return n, err
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
