package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The format fuzz targets below each keep the fuzzer inside one format (the magic number is
// fixed by the target), seed it with valid files of that format written by pcapgo, and read
// every input to its end through OpenReader, checking what the package documents: failures
// are a *FormatError or a *TruncatedError wrapping one of the sentinels, frames are numbered
// 1, 2, 3, ..., a record never exceeds MaxRecord, and a Source stays ended once it failed.

// drained is what reading an input to its end gave.
type drained struct {
	packets []Packet // Data copied
	openErr error    // non-nil: OpenReader failed
	err     error    // io.EOF or the error that ended the source
}

// maxFuzzPackets bounds one input's packets (a 16-byte record is the smallest pcap record).
const maxFuzzPackets = 100000

// drain opens in and reads it to its end, failing t on any undocumented behaviour. size is the
// length of the uncompressed stream when known (else -1): every offset must lie within it.
func drain(t *testing.T, in []byte, size int64) drained {
	t.Helper()
	const name = "fuzz.cap"
	s, err := OpenReader(name, bytes.NewReader(in))
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("open: %T %v is not a *FormatError", err, err)
		}
		if !oneOf(fe.Err, ErrEmpty, ErrNotCapture, ErrUnsupported, ErrCorruptGzip, ErrTruncated) || !errors.Is(err, fe.Err) {
			t.Fatalf("open: %v wraps %v, not a sentinel", err, fe.Err)
		}
		if fe.File != name {
			t.Fatalf("open: error names %q", fe.File)
		}
		return drained{openErr: err}
	}
	defer s.Close()
	var d drained
	var p Packet
	for n := uint64(1); ; n++ {
		err := s.Next(&p)
		if err != nil {
			d.err = err
			if err != io.EOF {
				var te *TruncatedError
				if !errors.As(err, &te) || !errors.Is(err, ErrTruncated) {
					t.Fatalf("packet %d: %T %v is not a *TruncatedError", n, err, err)
				}
				if te.Frame != n || te.Offset < 0 || (size >= 0 && te.Offset > size) || te.File != name || te.Reason == "" {
					t.Fatalf("packet %d: %+v (stream of %d bytes)", n, te, size)
				}
			}
			if again := s.Next(&p); again != err {
				t.Fatalf("after %v, Next returned %v", err, again)
			}
			return d
		}
		if n > maxFuzzPackets {
			t.Fatalf("more than %d packets", maxFuzzPackets)
		}
		if p.Frame != n || p.File != name || len(p.Data) > MaxRecord || p.Length < 0 {
			t.Fatalf("packet %d: frame %d, file %q, %d bytes, length %d", n, p.Frame, p.File, len(p.Data), p.Length)
		}
		q := p
		q.Data = append([]byte(nil), p.Data...)
		d.packets = append(d.packets, q)
	}
}

func oneOf(err error, set ...error) bool {
	for _, s := range set {
		if err == s {
			return true
		}
	}
	return false
}

var pcapMagics = [4][4]byte{
	{0xd4, 0xc3, 0xb2, 0xa1}, // little-endian, microseconds
	{0x4d, 0x3c, 0xb2, 0xa1}, // little-endian, nanoseconds
	{0xa1, 0xb2, 0xc3, 0xd4}, // big-endian, microseconds
	{0xa1, 0xb2, 0x3c, 0x4d}, // big-endian, nanoseconds
}

// FuzzPcap reads pcap files: the first four bytes are replaced by the pcap magic number that
// magic selects. Beyond the common checks, every packet has the link type of the file header
// and fits in its wire length, and the stream is accounted for to the byte: a clean end comes
// after the last record, and a *TruncatedError points exactly at the record header that failed.
func FuzzPcap(f *testing.F) {
	fr := sample(4, layers.LinkTypeEthernet)
	f.Add(pcapgoFile(f, false, 65535, layers.LinkTypeEthernet, fr), uint8(0))
	f.Add(pcapgoFile(f, true, 262144, layers.LinkTypeRaw, fr), uint8(1))
	f.Add(handPcap(true, false, 0, layers.LinkTypeLinuxSLL, fr), uint8(2))
	f.Add(handPcap(true, true, 96, layers.LinkTypeEthernet, fr[:1]), uint8(3))
	f.Add(pcapgoFile(f, false, 65535, layers.LinkTypeEthernet, nil), uint8(0))
	old := handPcap(false, false, 65535, layers.LinkTypeEthernet, fr)
	old[6] = 1 // version 2.1: record lengths perhaps swapped
	f.Add(old, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, magic uint8) {
		if len(in) >= 4 {
			copy(in, pcapMagics[magic%4][:])
		}
		d := drain(t, in, int64(len(in)))
		if d.openErr != nil {
			if len(in) >= 24 {
				var fe *FormatError
				errors.As(d.openErr, &fe)
				if fe.Err != ErrUnsupported { // only a version pcapgo refuses
					t.Fatalf("a %d-byte pcap refused: %v", len(in), d.openErr)
				}
			}
			return
		}
		var order binary.ByteOrder = binary.LittleEndian
		if magic%4 >= 2 {
			order = binary.BigEndian
		}
		lt := layers.LinkType(order.Uint32(in[20:24]))
		off := int64(24)
		for i, p := range d.packets {
			if p.LinkType != lt || len(p.Data) > p.Length || !bytes.Contains(in, p.Data) {
				t.Fatalf("packet %d: link type %v (file %v), %d of %d bytes", i+1, p.LinkType, lt, len(p.Data), p.Length)
			}
			off += 16 + int64(len(p.Data))
		}
		if d.err == io.EOF {
			if off != int64(len(in)) {
				t.Fatalf("clean end after %d of %d bytes", off, len(in))
			}
			return
		}
		var te *TruncatedError
		errors.As(d.err, &te)
		if te.Offset != off {
			t.Fatalf("truncation reported at byte %d, the record starts at %d: %v", te.Offset, off, d.err)
		}
		if !oneOf(te.Err, nil, io.ErrUnexpectedEOF, ErrRecordTooLarge) {
			t.Fatalf("truncation cause %v is not documented", te.Err)
		}
	})
}

// ngFile writes a pcapng file with pcapgo: one section, one interface per link type, the
// frames given (their ifc field picks the interface), with comments and statistics.
func ngFile(t testing.TB, lts []layers.LinkType, fr []frame, resolution uint8) []byte {
	var b bytes.Buffer
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = lts[0]
	intf.Name, intf.Comment, intf.TimestampResolution = "eth0", "fuzz seed", pcapgo.NgResolution(resolution)
	intf.Statistics = pcapgo.NgInterfaceStatistics{LastUpdate: t0, PacketsReceived: uint64(len(fr)), PacketsDropped: 0}
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "pcapaudit tests"
	w, err := pcapgo.NewNgWriterInterface(&b, intf, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range lts[1:] {
		intf.LinkType, intf.Name = lt, "any"
		if _, err := w.AddInterface(intf); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fr {
		if err := w.WritePacketWithOptions(ci(f), f.data, pcapgo.NgPacketOptions{Comments: []string{"frame"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzPcapng reads pcapng files: the first four bytes are replaced by the Section Header
// Block type. Beyond the common checks, the reader never invents bytes: every packet's data
// is found in the file; and the packets it reads agree with those gopacket's pcapgo reads
// from the same input (the block parser of pcapng.go replaced it), up to where either stops.
func FuzzPcapng(f *testing.F) {
	f.Add(ngSection(f, []layers.LinkType{layers.LinkTypeEthernet}, sample(3, layers.LinkTypeEthernet)))
	f.Add(ngSection(f, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, twoIfaces()))
	f.Add(ngFile(f, []layers.LinkType{layers.LinkTypeRaw, layers.LinkTypeEthernet}, twoIfaces(), 9))
	f.Add(ngFile(f, []layers.LinkType{layers.LinkTypeEthernet}, sample(2, layers.LinkTypeEthernet), 0x86))
	// Two sections, each with its own interfaces.
	f.Add(append(ngSection(f, []layers.LinkType{layers.LinkTypeEthernet}, sample(1, layers.LinkTypeEthernet)),
		ngSection(f, []layers.LinkType{layers.LinkTypeRaw}, sample(2, layers.LinkTypeRaw))...))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) >= 4 {
			copy(in, []byte{0x0a, 0x0d, 0x0d, 0x0a})
		}
		d := drain(t, in, int64(len(in)))
		if d.openErr != nil {
			return
		}
		for i, p := range d.packets {
			if !bytes.Contains(in, p.Data) {
				t.Fatalf("packet %d: %d bytes that are not in the file", i+1, len(p.Data))
			}
		}
		samePackets(t, d.packets, pcapgoPackets(in))
	})
}

// pcapgoPackets reads a pcapng file with gopacket's pcapgo up to its end or its first error.
func pcapgoPackets(in []byte) []Packet {
	r, err := pcapgo.NewNgReader(bytes.NewReader(in), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		return nil
	}
	var out []Packet
	for len(out) < maxFuzzPackets {
		data, ci, err := r.ReadPacketData()
		if err != nil || ci.CaptureLength > MaxRecord {
			break
		}
		lt, _ := ci.AncillaryData[0].(layers.LinkType)
		out = append(out, Packet{Data: data, Timestamp: ci.Timestamp, Length: ci.Length, LinkType: lt})
	}
	return out
}

// samePackets fails t when the packets both readers read (the shorter list) differ.
func samePackets(t *testing.T, got, want []Packet) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		g, w := &got[i], &want[i]
		if !bytes.Equal(g.Data, w.Data) || !g.Timestamp.Equal(w.Timestamp) || g.Length != w.Length || g.LinkType != w.LinkType {
			t.Fatalf("packet %d: %d bytes at %v, length %d, %v; pcapgo: %d bytes at %v, length %d, %v", i+1,
				len(g.Data), g.Timestamp, g.Length, g.LinkType, len(w.Data), w.Timestamp, w.Length, w.LinkType)
		}
	}
}

// FuzzGzip reads gzip-compressed captures. With wrap, the input is compressed by the test and
// must read exactly as the uncompressed input does: the same packets and the same end (the
// same sentinel, frame and offset, offsets counting uncompressed bytes). Without wrap, the
// input is a damaged gzip stream (its first two bytes are the gzip magic) and only the common
// checks apply.
func FuzzGzip(f *testing.F) {
	pcap := pcapgoFile(f, true, 65535, layers.LinkTypeEthernet, sample(3, layers.LinkTypeEthernet))
	ng := ngSection(f, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, twoIfaces())
	for _, plain := range [][]byte{pcap, ng} {
		f.Add(plain, true)
		f.Add(gz(f, plain), false)
		f.Add(plain[:len(plain)-5], true)
		z := gz(f, plain)
		f.Add(z[:len(z)-9], false) // the trailer cut: checksum and size missing
	}
	f.Add(cat2(gz(f, pcap[:40]), gz(f, pcap[40:])), false) // two gzip members
	f.Fuzz(func(t *testing.T, in []byte, wrap bool) {
		if !wrap {
			if len(in) >= 2 {
				in[0], in[1] = 0x1f, 0x8b
			}
			drain(t, in, -1)
			return
		}
		z := gz(t, in)
		got := drain(t, z, int64(len(in)))
		if len(in) >= 2 && in[0] == 0x1f && in[1] == 0x8b {
			return // compressed twice: the reader decompresses once, by design
		}
		want := drain(t, in, int64(len(in)))
		if len(got.packets) != len(want.packets) {
			t.Fatalf("compressed: %d packets, plain: %d", len(got.packets), len(want.packets))
		}
		for i := range want.packets {
			g, w := &got.packets[i], &want.packets[i]
			if !bytes.Equal(g.Data, w.Data) || !g.Timestamp.Equal(w.Timestamp) || g.Length != w.Length ||
				g.LinkType != w.LinkType || g.Frame != w.Frame {
				t.Fatalf("packet %d: compressed %+v, plain %+v", i+1, *g, *w)
			}
		}
		switch {
		case (got.openErr == nil) != (want.openErr == nil):
			t.Fatalf("open: compressed %v, plain %v", got.openErr, want.openErr)
		case got.openErr != nil:
			var g, w *FormatError
			errors.As(got.openErr, &g)
			errors.As(want.openErr, &w)
			if g.Err != w.Err {
				t.Fatalf("open: compressed %v, plain %v", got.openErr, want.openErr)
			}
		case (got.err == io.EOF) != (want.err == io.EOF):
			t.Fatalf("end: compressed %v, plain %v", got.err, want.err)
		case got.err != io.EOF:
			var g, w *TruncatedError
			errors.As(got.err, &g)
			errors.As(want.err, &w)
			// pcapng damage is reported by pcapgo with a new error value each time: compare text.
			sameCause := g.Err == w.Err || (g.Err != nil && w.Err != nil && g.Err.Error() == w.Err.Error())
			if g.Frame != w.Frame || g.Offset != w.Offset || !sameCause {
				t.Fatalf("end: compressed %v (cause %v), plain %v (cause %v)", got.err, g.Err, want.err, w.Err)
			}
		}
	})
}

// OpenReader's Source on failure. Open returns a nil Source with its error; OpenReader returns
// the nil *reader of the failed open converted to Source, an interface that is not nil, so a
// caller testing the Source rather than the error would call Next on a nil reader and panic.
// The fuzz inputs testdata/fuzz/Fuzz{Pcap,Pcapng,Gzip}/* ("0") found it.
func TestOpenReaderFailureGivesNilSource(t *testing.T) {
	s, err := OpenReader("x", bytes.NewReader([]byte("0")))
	if err == nil {
		t.Fatal("a one-byte file opened")
	}
	if s != nil {
		t.Errorf("OpenReader returned a non-nil Source (%T) with its error", s)
	}
}

func cat2(a, b []byte) []byte { return append(append([]byte(nil), a...), b...) }

// The seeds are what they claim to be: valid files read to a clean end.
func TestFormatSeedsAreValid(t *testing.T) {
	fr := sample(4, layers.LinkTypeEthernet)
	for name, in := range map[string][]byte{
		"pcap":        pcapgoFile(t, false, 65535, layers.LinkTypeEthernet, fr),
		"pcap-be":     handPcap(true, false, 0, layers.LinkTypeLinuxSLL, fr),
		"pcapng":      ngFile(t, []layers.LinkType{layers.LinkTypeRaw, layers.LinkTypeEthernet}, twoIfaces(), 9),
		"pcapng-2pow": ngFile(t, []layers.LinkType{layers.LinkTypeEthernet}, sample(2, layers.LinkTypeEthernet), 0x86),
		"gzip":        gz(t, pcapgoFile(t, true, 65535, layers.LinkTypeEthernet, sample(3, layers.LinkTypeEthernet))),
		"gzip-2":      cat2(gz(t, fr[0].data[:0]), gz(t, pcapgoFile(t, false, 65535, layers.LinkTypeEthernet, fr))),
	} {
		t.Run(name, func(t *testing.T) {
			d := drain(t, in, -1)
			if d.openErr != nil || d.err != io.EOF || len(d.packets) == 0 {
				t.Fatalf("%d packets, open %v, end %v", len(d.packets), d.openErr, d.err)
			}
		})
	}
}
