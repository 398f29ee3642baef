package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// This file reads pcapng (the IETF draft "PCAP Next Generation (pcapng) Capture File
// Format") with a block parser of its own rather than gopacket's pcapgo.NgReader, which copies
// every packet into a buffer of its own: here a packet block that lies whole in the read
// buffer is handed out where it lies, as pcap records are (see reader.Next), and stays valid
// until the next call of Next. A block longer than the read buffer (a record near MaxRecord)
// is read into a buffer the reader keeps.
//
// What is read: the Section Header Block (byte order, version 1.0; several sections, each
// with its own interfaces), the Interface Description Block (link type, snap length, and the
// if_tsresol and if_tsoffset options), the Enhanced Packet Block, the Simple Packet Block and
// the obsolete Packet Block. Every other block (statistics, name resolution, decryption
// secrets, custom) is skipped, as are packet options. Lengths are checked against the block
// before anything is read through them; a block that contradicts itself ends the Source with
// a *TruncatedError naming it.

// pcapng block types.
const (
	ngSHB = 0x0a0d0d0a
	ngIDB = 1
	ngPB  = 2 // obsolete Packet Block
	ngSPB = 3
	ngEPB = 6
)

const (
	ngByteOrder = 0x1a2b3c4d
	// ngMaxMeta bounds a block that is not a packet but must be read whole (a section or an
	// interface description): their options are a few names and numbers.
	ngMaxMeta = 64 << 10
)

// Errors of a section header, reported by Open as ErrUnsupported and by Next as a damaged
// block.
var (
	errNgByteOrder = errors.New("pcapng: section header with a wrong byte-order magic")
	errNgVersion   = errors.New("pcapng: section version is not 1.0")
	errNgShort     = errors.New("pcapng: block shorter than its fixed fields")
)

// ngIface is what a packet needs of its interface.
type ngIface struct {
	linkType layers.LinkType
	snapLen  uint32
	// A timestamp is units of 1/perSecond s since offset; the fraction is scaled to
	// nanoseconds by *up / down (the arithmetic of pcapgo, so times are the same).
	perSecond, up, down uint64
	offset              uint64
}

// ngReader is the pcapng state of a reader: the current section's byte order and interfaces.
type ngReader struct {
	big    bool
	ifaces []ngIface
	big2   []byte // a packet block longer than the read buffer is read here
}

func (n *ngReader) u16(b []byte) uint16 {
	if n.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (n *ngReader) u32(b []byte) uint32 {
	if n.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (n *ngReader) u64(b []byte) uint64 {
	if n.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// peek returns the next n bytes of br without consuming them; io.ErrUnexpectedEOF when the
// input ends before them.
func (r *reader) peek(n int) ([]byte, error) {
	b, err := r.br.Peek(n)
	if len(b) == n {
		return b, nil
	}
	if err == nil || err == io.EOF || err == bufio.ErrBufferFull {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// discard consumes n bytes; io.ErrUnexpectedEOF when the input ends before them.
func (r *reader) discard(n int) error {
	if _, err := r.br.Discard(n); err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// ngSection reads a Section Header Block at the read position: it sets the byte order and
// starts a section without interfaces.
func (r *reader) ngSection() error {
	h, err := r.peek(12)
	if err != nil {
		return err
	}
	var big bool
	switch {
	case binary.LittleEndian.Uint32(h[8:]) == ngByteOrder:
	case binary.BigEndian.Uint32(h[8:]) == ngByteOrder:
		big = true
	default:
		return errNgByteOrder
	}
	ng := &r.ngs
	ng.big = big
	total := int64(ng.u32(h[4:]))
	if total < 28 {
		return errNgShort
	}
	if total > ngMaxMeta {
		return errors.New("pcapng: section header of " + strconv.FormatInt(total, 10) + " bytes")
	}
	b, err := r.peek(int(total))
	if err != nil {
		return err
	}
	if ng.u16(b[12:]) != 1 || ng.u16(b[14:]) != 0 {
		return errNgVersion
	}
	ng.ifaces = ng.ifaces[:0]
	return r.discard(int(total))
}

// ngInterface reads an Interface Description Block of total bytes at the read position.
func (r *reader) ngInterface(total int) error {
	ng := &r.ngs
	if total < 20 {
		return errNgShort
	}
	if total > ngMaxMeta {
		return errors.New("pcapng: interface description of " + strconv.Itoa(total) + " bytes")
	}
	b, err := r.peek(total)
	if err != nil {
		return err
	}
	in := ngIface{linkType: layers.LinkType(ng.u16(b[8:])), snapLen: ng.u32(b[12:])}
	resol := uint8(6) // microseconds, when the option is absent
	// Options: code, length, value padded to 4 bytes; they end with code 0 or the block.
	for o := b[16 : total-4]; len(o) >= 4; {
		code, l := ng.u16(o), int(ng.u16(o[2:]))
		if code == 0 || 4+l > len(o) {
			break
		}
		v := o[4 : 4+l]
		switch {
		case code == 9 && l >= 1: // if_tsresol
			resol = v[0]
		case code == 14 && l >= 8: // if_tsoffset
			in.offset = ng.u64(v)
		}
		o = o[min(len(o), 4+(l+3)&^3):]
	}
	if resol == 0 {
		resol = 6
	}
	exp := resol & 0x7f
	if exp > 63 {
		return errors.New("pcapng: timestamp resolution exponent " + strconv.Itoa(int(exp)) + " is too high")
	}
	if resol&0x80 != 0 {
		in.perSecond = 1 << exp
	} else {
		in.perSecond = 1
		for range exp {
			in.perSecond *= 10
		}
	}
	in.up, in.down = 1, 1
	if in.perSecond < 1e9 {
		in.up = 1e9 / in.perSecond
	} else {
		in.down = in.perSecond / 1e9
	}
	ng.ifaces = append(ng.ifaces, in)
	return r.discard(total)
}

// ngTime converts a timestamp of interface in, as pcapgo does.
func ngTime(in *ngIface, ts uint64) time.Time {
	return time.Unix(int64(ts/in.perSecond+in.offset), int64(ts%in.perSecond*in.up/in.down)).UTC()
}

// ngDamaged is the error of a block that contradicts itself or its section.
type ngDamaged string

func (e ngDamaged) Error() string { return string(e) }

// nextNg reads blocks up to the next packet and fills p from it. start is the read position
// where the call began (the offset a *TruncatedError reports).
func (r *reader) nextNg(p *Packet, start int64) error {
	ng := &r.ngs
	for {
		h, err := r.br.Peek(8)
		if len(h) < 8 {
			if len(h) == 0 && (err == io.EOF) && r.cr.err == nil {
				r.err = io.EOF
				return r.err
			}
			return r.failNg(start, io.ErrUnexpectedEOF)
		}
		typ := ng.u32(h)
		if typ == ngSHB {
			if err := r.ngSection(); err != nil {
				return r.failNg(start, err)
			}
			continue
		}
		total := int(ng.u32(h[4:]))
		if total < 12 {
			return r.failNg(start, ngDamaged("block of type "+strconv.FormatUint(uint64(typ), 10)+" claims "+
				strconv.Itoa(total)+" bytes"))
		}
		switch typ {
		case ngIDB:
			if err := r.ngInterface(total); err != nil {
				return r.failNg(start, err)
			}
			continue
		case ngEPB, ngPB, ngSPB:
			return r.ngPacket(p, start, typ, total)
		}
		if err := r.discard(total); err != nil {
			return r.failNg(start, err)
		}
	}
}

// ngPacket reads a packet block of total bytes at the read position.
func (r *reader) ngPacket(p *Packet, start int64, typ uint32, total int) error {
	ng := &r.ngs
	fixed := 28 // block header, interface, timestamp, lengths
	if typ == ngSPB {
		fixed = 12
	}
	if total < fixed+4 {
		return r.failNg(start, errNgShort)
	}
	h, err := r.peek(fixed)
	if err != nil {
		return r.failNg(start, err)
	}
	var (
		in      *ngIface
		caplen  uint64
		wirelen uint32
		ts      time.Time
		room    = uint64(total - fixed - 4) // bytes the block has for data and options
	)
	if typ == ngSPB {
		if len(ng.ifaces) == 0 {
			return r.failNg(start, ngDamaged("simple packet block before any interface"))
		}
		in = &ng.ifaces[0]
		wirelen = ng.u32(h[8:])
		caplen = uint64(wirelen)
		if in.snapLen != 0 {
			caplen = min(caplen, uint64(in.snapLen))
		}
		caplen = min(caplen, room)
	} else {
		id := uint64(ng.u32(h[8:]))
		if typ == ngPB {
			id = uint64(ng.u16(h[8:]))
		}
		if id >= uint64(len(ng.ifaces)) {
			return r.failNg(start, ngDamaged("packet names interface "+strconv.FormatUint(id, 10)+
				" of a section that has "+strconv.Itoa(len(ng.ifaces))))
		}
		in = &ng.ifaces[id]
		ts = ngTime(in, uint64(ng.u32(h[12:]))<<32|uint64(ng.u32(h[16:])))
		caplen, wirelen = uint64(ng.u32(h[20:])), ng.u32(h[24:])
	}
	if caplen > MaxRecord {
		r.err = r.tooLarge(start, caplen)
		return r.err
	}
	if caplen > room {
		return r.failNg(start, ngDamaged("packet block of "+strconv.Itoa(total)+" bytes claims "+
			strconv.FormatUint(caplen, 10)+" captured bytes"))
	}
	var data []byte
	if total <= bufSize {
		b, err := r.peek(total)
		if err != nil {
			return r.failNg(start, err)
		}
		// The block is in the read buffer: its bytes stay there until the next read, that is
		// the next call of Next.
		data = b[fixed : fixed+int(caplen)]
	} else {
		// Longer than the read buffer: read the data into the reader's own buffer.
		n := fixed + int(caplen)
		if cap(ng.big2) < n {
			ng.big2 = make([]byte, n)
		}
		data = ng.big2[:n]
		if _, err := io.ReadFull(r.br, data); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return r.failNg(start, err)
		}
		data = data[fixed:]
		total -= n
	}
	if err := r.discard(total); err != nil {
		return r.failNg(start, err)
	}
	r.frame++
	p.Data = data
	p.Timestamp = ts
	p.Length = int(wirelen)
	p.LinkType = in.linkType
	p.Frame = r.frame
	p.File = r.name
	p.VLAN, p.HasVLAN = 0, false
	return nil
}

// failNg ends the Source after a failed read of a pcapng block.
func (r *reader) failNg(start int64, err error) error {
	reason := "block cut short"
	if err != io.ErrUnexpectedEOF {
		reason = "damaged block: " + err.Error()
		if _, ok := err.(ngDamaged); ok || errors.Is(err, errNgShort) || errors.Is(err, errNgVersion) || errors.Is(err, errNgByteOrder) {
			err = nil // the reason says it all
		}
	}
	r.err = r.fail(start, reason, err)
	return r.err
}
