package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// MaxRecord is the largest captured length a record may claim (libpcap's MAXIMUM_SNAPLEN,
// 256 KiB). A longer record ends the Source with a *TruncatedError wrapping ErrRecordTooLarge.
const MaxRecord = 262144

// bufSize is the read buffer under the format readers: a pcap record or pcapng packet block
// that lies whole in it is handed out where it lies (pcapgo reuses a *bufio.Reader handed to
// it when it is at least 4 KiB, so it is the only buffer for the records pcapgo reads).
const bufSize = 256 << 10

// Stdin is the name that opens standard input.
const Stdin = "-"

// Open opens a capture file by name ("-" for standard input). The format is decided by the
// first bytes, never by the name: pcap (either byte order, micro- or nanosecond timestamps),
// pcapng, or either of them gzip-compressed.
func Open(name string) (Source, error) {
	if name == Stdin {
		return OpenReader(name, os.Stdin)
	}
	return openWith(name, nil)
}

// Consumed is how many bytes of the file itself (compressed, for a gzip'd file) a Source
// made by Open has read so far, read-ahead included: with the file's size, how far a read has
// got. It is 0 for standard input and for other Sources.
func Consumed(src Source) int64 {
	switch s := src.(type) {
	case *reader:
		if s.raw != nil {
			return s.raw.n
		}
	case *Merge:
		return s.Consumed()
	}
	return 0
}

// OpenReader reads a capture from r, reporting name in packets and errors. Closing the Source
// does not close r.
func OpenReader(name string, r io.Reader) (Source, error) {
	s, err := open(name, r, nil)
	if err != nil {
		return nil, err // not a nil *reader in a non-nil Source
	}
	return s, nil
}

// reader is the Source for both formats. The layers below the format reader are
//
//	file ─▶ counting ─▶ bufio (256 KiB) ─▶ pcapgo (pcap) or ngReader (pcapng, pcapng.go)
//	file ─▶ bufio ─▶ gzip ─▶ counting ─▶ bufio (256 KiB) ─▶ pcapgo or ngReader
//
// so the counting reader sees uncompressed bytes, and the read position is cr.n - br.Buffered().
type reader struct {
	name   string
	closer io.Closer
	raw    *countingReader // the file's own bytes (Open only)
	gz     *gzip.Reader
	cr     *countingReader
	br     *bufio.Reader

	pcap      *pcapgo.Reader
	nanoMul   uint32 // pcap: nanoseconds per unit of a record's fraction of a second (1 or 1000)
	bigEndian bool   // pcap record headers
	swapped   uint8  // pcap before 2.4: record lengths swapped (swapAlways) or perhaps (swapMaybe)
	linkType  layers.LinkType

	ng  bool // pcapng, read by the block parser of pcapng.go
	ngs ngReader

	frame uint64
	err   error // sticky: once set, Next returns it
}

// countingReader counts the bytes read through it and remembers the last error other than EOF,
// so a failure deep inside pcapgo can be told apart (I/O error, damaged gzip, short file).
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func (r *reader) pos() int64 { return r.cr.n - int64(r.br.Buffered()) }

// Values of reader.swapped.
const (
	swapNever  = iota
	swapMaybe  // pcap 2.0 to 2.2: swapped when the captured length exceeds the original
	swapAlways // pcap 2.3
)

const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapNano    = 0xa1b23c4d
	magicPcapModifed = 0xa1b2cd34 // Alexey Kuznetzov's patched libpcap: longer record headers
	magicPcapng      = 0x0a0d0d0a
)

func open(name string, src io.Reader, closer io.Closer) (*reader, error) {
	return openBufs(name, src, closer, nil)
}

// bufs are read buffers (and a gzip reader) kept from one Source to the next, for a caller
// that opens many files one after the other and closes each before the next (Merge's first
// look at every file): they would otherwise be garbage per file. nil: new ones.
type bufs struct {
	br [2]*bufio.Reader
	gz *gzip.Reader
}

func (b *bufs) reader(i int, r io.Reader) *bufio.Reader {
	if b == nil {
		return bufio.NewReaderSize(r, bufSize)
	}
	if b.br[i] == nil {
		b.br[i] = bufio.NewReaderSize(r, bufSize)
	} else {
		b.br[i].Reset(r)
	}
	return b.br[i]
}

func (b *bufs) gzip(r io.Reader) (*gzip.Reader, error) {
	if b == nil {
		return gzip.NewReader(r)
	}
	if b.gz == nil {
		gz, err := gzip.NewReader(r)
		if err == nil {
			b.gz = gz
		}
		return gz, err
	}
	return b.gz, b.gz.Reset(r)
}

// openWith opens a capture file, reading through b's buffers (nil: new ones): the Source
// must be closed before b is used again.
func openWith(name string, b *bufs) (Source, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	raw := &countingReader{r: f}
	s, err := openBufs(name, raw, f, b)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.raw = raw
	return s, nil
}

func openBufs(name string, src io.Reader, closer io.Closer, b *bufs) (*reader, error) {
	r := &reader{name: name, closer: closer}
	r.cr = &countingReader{r: src}
	r.br = b.reader(0, r.cr)

	head, err := r.br.Peek(4)
	if len(head) == 0 {
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, &FormatError{File: name, Err: ErrEmpty}
	}
	gzipped := false
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		gzipped = true
		gz, err := b.gzip(r.br)
		if err != nil {
			return nil, &FormatError{File: name, Err: ErrCorruptGzip, Detail: err.Error()}
		}
		r.gz = gz
		r.cr = &countingReader{r: gz}
		r.br = b.reader(1, r.cr)
		head, err = r.br.Peek(4)
		if len(head) == 0 {
			if r.cr.err != nil {
				return nil, &FormatError{File: name, Err: ErrCorruptGzip, Detail: r.cr.err.Error()}
			}
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return nil, &FormatError{File: name, Err: ErrEmpty, Detail: "nothing after gzip decompression"}
		}
	}
	if len(head) < 4 {
		if r.cr.err != nil && gzipped {
			return nil, &FormatError{File: name, Err: ErrCorruptGzip, Detail: r.cr.err.Error()}
		}
		return nil, &FormatError{File: name, Err: ErrNotCapture, Detail: firstBytes(head, gzipped)}
	}

	le := binary.LittleEndian.Uint32(head)
	be := binary.BigEndian.Uint32(head)
	switch {
	case le == magicPcapMicro || le == magicPcapNano:
		r.bigEndian = false
	case be == magicPcapMicro || be == magicPcapNano:
		r.bigEndian = true
	case le == magicPcapng: // the same bytes in both orders
		if err := r.ngSection(); err != nil {
			if err == io.ErrUnexpectedEOF {
				// Report the bytes there are as read, as a file header cut short.
				n, _ := r.br.Peek(bufSize)
				r.br.Discard(len(n))
			}
			return nil, r.headerError("pcapng", err)
		}
		r.ng = true
		return r, nil
	case le == magicPcapModifed || be == magicPcapModifed:
		return nil, &FormatError{File: name, Err: ErrUnsupported, Detail: "modified pcap (Kuznetzov) format"}
	default:
		return nil, &FormatError{File: name, Err: ErrNotCapture, Detail: firstBytes(head, gzipped)}
	}
	r.oldVersion()
	pr, err := pcapgo.NewReader(r.br)
	if err != nil {
		return nil, r.headerError("pcap", err)
	}
	r.pcap = pr
	r.linkType = pr.LinkType()
	r.nanoMul = 1000
	if pr.Resolution().ToDuration() == time.Nanosecond {
		r.nanoMul = 1
	}
	return r, nil
}

// oldVersion lets pcapgo read pcap files of version 2.0 to 2.3, which it refuses (it accepts
// 2.4 only) while libpcap, tshark and nDPI read them: the record format is the same except
// that before 2.3 the captured and original lengths may be swapped, and in 2.3 they are (as
// libpcap's sf-pcap.c says). The version in the buffered file header is rewritten to 2.4
// before pcapgo reads it, and Next swaps the lengths back in each buffered record header.
func (r *reader) oldVersion() {
	h, _ := r.br.Peek(24)
	if len(h) < 24 {
		return // pcapgo reports the short header
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if r.bigEndian {
		bo = binary.BigEndian
	}
	if bo.Uint16(h[4:]) != 2 || bo.Uint16(h[6:]) >= 4 {
		return
	}
	r.swapped = swapMaybe
	if bo.Uint16(h[6:]) == 3 {
		r.swapped = swapAlways
	}
	// Peek returns the reader's own buffer: the bytes pcapgo reads next.
	bo.PutUint16(h[6:], 4)
}

// headerError turns a failure to read the file (and first section) header into a FormatError.
func (r *reader) headerError(format string, err error) error {
	switch {
	case r.gz != nil && r.cr.err != nil && r.cr.err != io.ErrUnexpectedEOF:
		return &FormatError{File: r.name, Err: ErrCorruptGzip, Detail: r.cr.err.Error()}
	case r.gz == nil && r.cr.err != nil:
		return fmt.Errorf("%s: %w", r.name, r.cr.err)
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return &FormatError{File: r.name, Err: ErrTruncated, Detail: format + " file header cut short at byte " + strconv.FormatInt(r.pos(), 10)}
	}
	// Unknown versions and malformed section headers.
	return &FormatError{File: r.name, Err: ErrUnsupported, Detail: format + ": " + err.Error()}
}

func firstBytes(b []byte, gzipped bool) string {
	const hex = "0123456789abcdef"
	buf := make([]byte, 0, 64)
	if gzipped {
		buf = append(buf, "gzip-compressed; "...)
	}
	buf = append(buf, "first bytes"...)
	for _, c := range b {
		buf = append(buf, ' ', hex[c>>4], hex[c&15])
	}
	return string(buf)
}

// Next fills p with the next packet. See Source.
func (r *reader) Next(p *Packet) error {
	if r.err != nil {
		return r.err
	}
	start := r.pos()
	var (
		data []byte
		ci   gopacket.CaptureInfo
		err  error
		lt   layers.LinkType
	)
	if r.pcap != nil {
		hdr, perr := r.br.Peek(16)
		if len(hdr) < 16 {
			if len(hdr) == 0 && (perr == io.EOF) && r.cr.err == nil {
				r.err = io.EOF
				return r.err
			}
			r.err = r.fail(start, "record header cut short: "+strconv.Itoa(len(hdr))+" of 16 bytes", perr)
			return r.err
		}
		var caplen, wirelen uint32
		if r.bigEndian {
			caplen, wirelen = binary.BigEndian.Uint32(hdr[8:]), binary.BigEndian.Uint32(hdr[12:])
		} else {
			caplen, wirelen = binary.LittleEndian.Uint32(hdr[8:]), binary.LittleEndian.Uint32(hdr[12:])
		}
		if r.swapped == swapAlways || r.swapped == swapMaybe && caplen > wirelen {
			// An old file: put the lengths where pcapgo reads them (hdr is the buffer).
			caplen, wirelen = wirelen, caplen
			var o binary.ByteOrder = binary.LittleEndian
			if r.bigEndian {
				o = binary.BigEndian
			}
			o.PutUint32(hdr[8:], caplen)
			o.PutUint32(hdr[12:], wirelen)
		}
		if caplen > MaxRecord {
			r.err = r.tooLarge(start, uint64(caplen))
			return r.err
		}
		if caplen > wirelen {
			r.err = &TruncatedError{File: r.name, Offset: start, Frame: r.frame + 1,
				Reason: "record header claims " + strconv.FormatUint(uint64(caplen), 10) +
					" captured bytes of a " + strconv.FormatUint(uint64(wirelen), 10) + "-byte packet"}
			return r.err
		}
		if rec, _ := r.br.Peek(16 + int(caplen)); caplen <= zeroCopyMax && len(rec) == 16+int(caplen) {
			// The whole record is in the buffer: hand out its bytes where they are. They stay
			// valid until the next read from br, that is the next call of Next.
			data, ci = rec[16:], r.recordInfo(rec[:16], caplen, wirelen)
			_, err = r.br.Discard(len(rec))
		} else {
			// A record longer than zeroCopyMax, or cut short: pcapgo reads it (into its own
			// buffer) and reports what is wrong with it.
			data, ci, err = r.pcap.ZeroCopyReadPacketData()
		}
		if err != nil {
			got := r.pos() - start - 16
			if got < 0 {
				got = 0
			}
			r.err = r.fail(start, "record data cut short: "+strconv.FormatInt(got, 10)+" of "+
				strconv.FormatUint(uint64(caplen), 10)+" bytes", err)
			return r.err
		}
		lt = r.linkType
	} else {
		return r.nextNg(p, start)
	}
	r.frame++
	p.Data = data
	p.Timestamp = ci.Timestamp
	p.Length = ci.Length
	p.LinkType = lt
	p.Frame = r.frame
	p.File = r.name
	p.VLAN, p.HasVLAN = 0, false // a file's tags stay in the frame
	return nil
}

// zeroCopyMax is the longest pcap record Next hands out from the read buffer itself; longer
// ones (jumbo frames past 64 KiB, rare) are copied by pcapgo. It is at most pcapgo's own
// eager-read bound, so pcapgo would accept every record the fast path takes.
const zeroCopyMax = 65536

// recordInfo reads a pcap record header as pcapgo does (seconds, then micro- or nanoseconds
// in the file's byte order, UTC), with the lengths already checked.
func (r *reader) recordInfo(h []byte, caplen, wirelen uint32) gopacket.CaptureInfo {
	var o binary.ByteOrder = binary.LittleEndian
	if r.bigEndian {
		o = binary.BigEndian
	}
	return gopacket.CaptureInfo{
		Timestamp:     time.Unix(int64(o.Uint32(h[0:4])), int64(o.Uint32(h[4:8])*r.nanoMul)).UTC(),
		CaptureLength: int(caplen),
		Length:        int(wirelen),
	}
}

func (r *reader) tooLarge(start int64, n uint64) error {
	return &TruncatedError{File: r.name, Offset: start, Frame: r.frame + 1, Err: ErrRecordTooLarge,
		Reason: "record claims " + strconv.FormatUint(n, 10) + " captured bytes (limit " +
			strconv.Itoa(MaxRecord) + ")"}
}

// fail builds the error that ends the source after a failed read of the record at start.
func (r *reader) fail(start int64, reason string, err error) error {
	if c := r.cr.err; c != nil {
		if r.gz == nil {
			return fmt.Errorf("%s: read error at byte %d: %w", r.name, r.pos(), c)
		}
		if c != io.ErrUnexpectedEOF {
			return &TruncatedError{File: r.name, Offset: start, Frame: r.frame + 1, Err: ErrCorruptGzip,
				Reason: "corrupt gzip stream: " + c.Error()}
		}
		reason = "gzip stream cut short; " + reason
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &TruncatedError{File: r.name, Offset: start, Frame: r.frame + 1, Reason: reason, Err: err}
}

// Close releases the file (not standard input, nor a reader given to OpenReader).
func (r *reader) Close() error {
	if r.err == nil {
		r.err = errClosed
	}
	var err error
	if r.gz != nil {
		err = r.gz.Close()
	}
	if r.closer != nil {
		if cerr := r.closer.Close(); cerr != nil {
			err = cerr
		}
		r.closer = nil
	}
	return err
}

var errClosed = errors.New("capture: source closed")
