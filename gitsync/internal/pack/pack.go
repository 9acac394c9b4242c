// Package pack holds the objects a commit adds and writes them as git
// stores and sends them: a version 2 pack of whole objects, with its
// index, or loose object files. The transports send packs over the wire
// and the local repository store writes both. It imports no package of
// this module.
package pack

import (
	"bufio"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"iter"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
)

// Objects collects the objects a commit adds, in the order they were made:
// what a push sends. The zero value is empty and ready to use.
type Objects struct {
	order []plumbing.Hash
	objs  map[plumbing.Hash]Object
}

// Object is a git object: its type and its contents, without a header.
type Object struct {
	Type plumbing.ObjectType
	Data []byte
}

// Add adds the object of type typ holding data, unless it is there
// already, and returns its hash. The set keeps data, which must not change.
func (s *Objects) Add(typ plumbing.ObjectType, data []byte) plumbing.Hash {
	h := plumbing.ComputeHash(typ, data)
	if _, ok := s.objs[h]; !ok {
		if s.objs == nil {
			s.objs = map[plumbing.Hash]Object{}
		}
		s.objs[h] = Object{typ, data}
		s.order = append(s.order, h)
	}
	return h
}

// Len returns how many objects the set holds.
func (s *Objects) Len() int { return len(s.order) }

// All returns the objects with their hashes, in the order they were added.
func (s *Objects) All() iter.Seq2[plumbing.Hash, Object] {
	return func(yield func(plumbing.Hash, Object) bool) {
		for _, h := range s.order {
			if !yield(h, s.objs[h]) {
				return
			}
		}
	}
}

// Encoder writes objects as a version 2 pack of whole (undeltified)
// objects, or as loose object files. go-git's encoder would do for packs,
// but it wants the objects in a storer and compresses everything at the
// default level. Trees are stored without compression: they are mostly
// SHA-1s, which barely compress, and a flat directory of 10,000 files is a
// 600 KB tree that each commit rewrites, which the receiving side would
// otherwise inflate twice. The compressors are kept, as each allocates
// about a megabyte. The zero value is ready to use; an Encoder must not be
// used by two goroutines at once.
type Encoder struct {
	fast, stored *zlib.Writer
	buf          *bufio.Writer
}

// Buffer returns a buffered writer to w, so that a file is written in few
// system calls rather than one per compressor flush. It is the Encoder's
// own, reused by the next call.
func (e *Encoder) Buffer(w io.Writer) *bufio.Writer {
	if e.buf == nil {
		e.buf = bufio.NewWriterSize(w, 64<<10)
	}
	e.buf.Reset(w)
	return e.buf
}

func (e *Encoder) init() {
	if e.fast == nil {
		e.fast, _ = zlib.NewWriterLevel(nil, zlib.BestSpeed)       // valid level: no error
		e.stored, _ = zlib.NewWriterLevel(nil, zlib.NoCompression) // valid level: no error
	}
}

// compressor returns the zlib writer for objects of type typ.
func (e *Encoder) compressor(typ plumbing.ObjectType) *zlib.Writer {
	e.init()
	if typ == plumbing.TreeObject {
		return e.stored
	}
	return e.fast
}

// WriteLoose writes o as a loose object file holds it: its header and its
// data, compressed as in a pack.
func (e *Encoder) WriteLoose(w io.Writer, o Object) error {
	zw := e.compressor(o.Type)
	zw.Reset(w)
	if _, err := fmt.Fprintf(zw, "%s %d\x00", o.Type, len(o.Data)); err != nil {
		return err
	}
	if _, err := zw.Write(o.Data); err != nil {
		return err
	}
	return zw.Close()
}

// WritePack writes objs as a pack to w. If idx is not nil, it is told
// where each object lies, for the pack's index.
func (e *Encoder) WritePack(w io.Writer, objs *Objects, idx *idxfile.Writer) error {
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
	for h, o := range objs.All() {
		offset := out.n
		out.crc.Reset()
		if _, err := out.Write(objectHeader(hdr[:0], o.Type, len(o.Data))); err != nil {
			return err
		}
		zw := e.compressor(o.Type)
		zw.Reset(out)
		if _, err := zw.Write(o.Data); err != nil {
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

// objectHeader appends the type and size of a pack entry: 3 bits of type
// and 4 bits of size, then 7 bits of size per byte.
func objectHeader(b []byte, typ plumbing.ObjectType, size int) []byte {
	c := byte(typ)<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		b = append(b, c|0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	return append(b, c)
}
