package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// frame is what a test writes and expects back.
type frame struct {
	data []byte
	ts   time.Time
	wire int // 0 = len(data)
	lt   layers.LinkType
	ifc  int // pcapng interface index
}

func (f frame) wireLen() int {
	if f.wire != 0 {
		return f.wire
	}
	return len(f.data)
}

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 123456000, time.UTC)

// sample gives n frames of distinct content; the third one goes back in time (delivered as is),
// the second is cut by the snap length (wire length larger than the data).
func sample(n int, lt layers.LinkType) []frame {
	out := make([]frame, n)
	for i := range out {
		d := make([]byte, 20+i*7)
		for j := range d {
			d[j] = byte(i*31 + j)
		}
		out[i] = frame{data: d, ts: t0.Add(time.Duration(i) * time.Second), lt: lt}
	}
	if n > 1 {
		out[1].wire = len(out[1].data) + 100
	}
	if n > 2 {
		out[2].ts = t0.Add(-time.Hour)
	}
	return out
}

func ci(f frame) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: f.ts, CaptureLength: len(f.data), Length: f.wireLen(), InterfaceIndex: f.ifc}
}

// pcapgoFile writes a little-endian pcap with pcapgo (microsecond or nanosecond magic).
func pcapgoFile(t testing.TB, nanos bool, snaplen uint32, lt layers.LinkType, fr []frame) []byte {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if nanos {
		w = pcapgo.NewWriterNanos(&b)
	}
	if err := w.WriteFileHeader(snaplen, lt); err != nil {
		t.Fatal(err)
	}
	for _, f := range fr {
		if err := w.WritePacket(ci(f), f.data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// handPcap builds a pcap byte by byte, in either byte order and resolution.
func handPcap(big, nanos bool, snaplen uint32, lt layers.LinkType, fr []frame) []byte {
	var o binary.ByteOrder = binary.LittleEndian
	if big {
		o = binary.BigEndian
	}
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	b := make([]byte, 24)
	o.PutUint32(b[0:], magic)
	o.PutUint16(b[4:], 2)
	o.PutUint16(b[6:], 4)
	o.PutUint32(b[16:], snaplen)
	o.PutUint32(b[20:], uint32(lt))
	for _, f := range fr {
		h := make([]byte, 16)
		o.PutUint32(h[0:], uint32(f.ts.Unix()))
		frac := f.ts.Nanosecond() / 1000
		if nanos {
			frac = f.ts.Nanosecond()
		}
		o.PutUint32(h[4:], uint32(frac))
		o.PutUint32(h[8:], uint32(len(f.data)))
		o.PutUint32(h[12:], uint32(f.wireLen()))
		b = append(b, h...)
		b = append(b, f.data...)
	}
	return b
}

// ngSection writes one pcapng section with one interface per link type in lts.
func ngSection(t testing.TB, lts []layers.LinkType, fr []frame) []byte {
	var b bytes.Buffer
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = lts[0]
	w, err := pcapgo.NewNgWriterInterface(&b, intf, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range lts[1:] {
		intf.LinkType = lt
		if _, err := w.AddInterface(intf); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fr {
		if err := w.WritePacket(ci(f), f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// readAll reads a source to its end and returns copies of the packets and the final error.
func readAll(t testing.TB, s Source) ([]Packet, error) {
	t.Helper()
	var out []Packet
	for {
		var p Packet
		err := s.Next(&p)
		if err != nil {
			return out, err
		}
		p.Data = append([]byte(nil), p.Data...)
		out = append(out, p)
		if len(out) > 1e6 {
			t.Fatal("runaway source")
		}
	}
}

func check(t *testing.T, got []Packet, want []frame, name string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i, p := range got {
		w := want[i]
		if !bytes.Equal(p.Data, w.data) {
			t.Errorf("packet %d: data %x, want %x", i, p.Data, w.data)
		}
		if !p.Timestamp.Equal(w.ts) {
			t.Errorf("packet %d: time %v, want %v", i, p.Timestamp, w.ts)
		}
		if p.Length != w.wireLen() {
			t.Errorf("packet %d: length %d, want %d", i, p.Length, w.wireLen())
		}
		if p.LinkType != w.lt {
			t.Errorf("packet %d: link type %v, want %v", i, p.LinkType, w.lt)
		}
		if p.Frame != uint64(i+1) {
			t.Errorf("packet %d: frame %d, want %d", i, p.Frame, i+1)
		}
		if p.File != name {
			t.Errorf("packet %d: file %q, want %q", i, p.File, name)
		}
	}
}

func microTrunc(fr []frame) []frame {
	out := append([]frame(nil), fr...)
	for i := range out {
		out[i].ts = out[i].ts.Truncate(time.Microsecond)
	}
	return out
}

// twoIfaces: packets alternate between an Ethernet and a Linux cooked interface.
func twoIfaces() []frame {
	fr := sample(5, layers.LinkTypeEthernet)
	for i := range fr {
		if i%2 == 1 {
			fr[i].ifc, fr[i].lt = 1, layers.LinkTypeLinuxSLL
		}
	}
	return fr
}

func TestFormats(t *testing.T) {
	fr := sample(5, layers.LinkTypeEthernet)
	nanoTS := sample(3, layers.LinkTypeRaw)
	for i := range nanoTS {
		nanoTS[i].ts = nanoTS[i].ts.Add(789 * time.Nanosecond)
	}
	two := twoIfaces()
	sec2 := sample(3, layers.LinkTypeRaw)
	for i := range sec2 {
		sec2[i].ts = sec2[i].ts.Add(time.Minute)
		if i == 1 {
			sec2[i].ifc, sec2[i].lt = 1, layers.LinkTypeLinuxSLL2
		}
	}
	twoSections := append(ngSection(t, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, two),
		ngSection(t, []layers.LinkType{layers.LinkTypeRaw, layers.LinkTypeLinuxSLL2}, sec2)...)

	tests := []struct {
		name string
		in   []byte
		want []frame
	}{
		{"pcap micro LE (pcapgo)", pcapgoFile(t, false, 65535, layers.LinkTypeEthernet, fr), microTrunc(fr)},
		{"pcap nano LE (pcapgo)", pcapgoFile(t, true, 65535, layers.LinkTypeRaw, nanoTS), nanoTS},
		{"pcap micro BE", handPcap(true, false, 65535, layers.LinkTypeEthernet, fr), microTrunc(fr)},
		{"pcap nano BE", handPcap(true, true, 65535, layers.LinkTypeRaw, nanoTS), nanoTS},
		{"pcap nano LE by hand", handPcap(false, true, 65535, layers.LinkTypeRaw, nanoTS), nanoTS},
		{"pcap snaplen 0", handPcap(false, false, 0, layers.LinkTypeEthernet, fr), microTrunc(fr)},
		{"pcap no packets", handPcap(false, false, 65535, layers.LinkTypeEthernet, nil), nil},
		{"pcapng one interface", ngSection(t, []layers.LinkType{layers.LinkTypeEthernet}, fr), fr},
		{"pcapng two interfaces", ngSection(t, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, two), two},
		{"pcapng two sections", twoSections, append(append([]frame(nil), two...), sec2...)},
		{"pcapng no packets", ngSection(t, []layers.LinkType{layers.LinkTypeEthernet}, nil), nil},
		{"gzip pcap", gz(t, handPcap(true, true, 65535, layers.LinkTypeRaw, nanoTS)), nanoTS},
		{"gzip pcapng", gz(t, twoSections), append(append([]frame(nil), two...), sec2...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []string{"whole", "one byte at a time"} {
				var r io.Reader = bytes.NewReader(tc.in)
				if mode != "whole" {
					r = iotest.OneByteReader(r) // a pipe delivering little at a time, like stdin
				}
				s, err := OpenReader("x.cap", r)
				if err != nil {
					t.Fatalf("%s: open: %v", mode, err)
				}
				got, err := readAll(t, s)
				if err != io.EOF {
					t.Fatalf("%s: end: %v, want io.EOF", mode, err)
				}
				check(t, got, tc.want, "x.cap")
				if err := s.Next(&Packet{}); err != io.EOF {
					t.Errorf("%s: Next after end = %v, want io.EOF again", mode, err)
				}
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			}
		})
	}
}

// TestOpenByMagicAndSequence opens files whose names lie about their format, one after the
// other, and standard input: frames restart at 1 and carry the name they were opened by.
func TestOpenByMagicAndSequence(t *testing.T) {
	dir := t.TempDir()
	fr := sample(3, layers.LinkTypeEthernet)
	a := filepath.Join(dir, "a.pcapng")
	b := filepath.Join(dir, "b.txt")
	if err := os.WriteFile(a, handPcap(false, true, 65535, layers.LinkTypeEthernet, fr), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, gz(t, ngSection(t, []layers.LinkType{layers.LinkTypeEthernet}, fr)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{a, b, a} {
		s, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, s)
		if err != io.EOF {
			t.Fatal(err)
		}
		check(t, got, fr, name)
		s.Close()
	}

	f, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	s, err := Open("-")
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, s)
	if err != io.EOF {
		t.Fatal(err)
	}
	check(t, got, fr, "-")
	s.Close()
	if _, err := f.Stat(); err != nil {
		t.Errorf("closing the source closed standard input: %v", err)
	}

	if _, err := Open(filepath.Join(dir, "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

func TestNotACapture(t *testing.T) {
	good := handPcap(false, false, 65535, layers.LinkTypeEthernet, sample(2, layers.LinkTypeEthernet))
	badGzipHeader := gz(t, good)
	badGzipHeader[3] = 0xff // reserved flag bits set
	tests := []struct {
		name string
		in   []byte
		want error
		text string
	}{
		{"empty", nil, ErrEmpty, "f: empty file"},
		{"text", []byte("Hello, world\n"), ErrNotCapture, "f: not a capture file (first bytes 48 65 6c 6c)"},
		{"random", []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}, ErrNotCapture, "f: not a capture file (first bytes 00 11 22 33)"},
		{"three bytes", []byte{0xd4, 0xc3, 0xb2}, ErrNotCapture, "f: not a capture file (first bytes d4 c3 b2)"},
		{"gzip of text", gz(t, []byte("GET / HTTP/1.1\r\n")), ErrNotCapture, "f: not a capture file (gzip-compressed; first bytes 47 45 54 20)"},
		{"gzip of nothing", gz(t, nil), ErrEmpty, "f: empty file (nothing after gzip decompression)"},
		{"gzip header damaged", badGzipHeader, ErrCorruptGzip, ""},
		{"gzip magic only", []byte{0x1f, 0x8b}, ErrCorruptGzip, ""},
		{"pcap header cut", good[:10], ErrTruncated, ""},
		{"pcap version 3.0", func() []byte { b := append([]byte(nil), good...); b[4] = 3; return b }(), ErrUnsupported, ""},
		{"modified pcap", []byte{0x34, 0xcd, 0xb2, 0xa1, 2, 0, 4, 0}, ErrUnsupported, ""},
		{"pcapng bad byte-order magic", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0}, ErrUnsupported, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenReader("f", bytes.NewReader(tc.in))
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "f" {
				t.Errorf("error %#v is not a *FormatError naming the file", err)
			}
			if tc.text != "" && err.Error() != tc.text {
				t.Errorf("message %q, want %q", err.Error(), tc.text)
			}
		})
	}
}

func TestCorruptGzipBody(t *testing.T) {
	fr := sample(40, layers.LinkTypeEthernet)
	plain := handPcap(false, false, 65535, layers.LinkTypeEthernet, fr)
	z := gz(t, plain)
	// A wrong CRC in the trailer: every packet is read, then the damage is reported.
	bad := append([]byte(nil), z...)
	bad[len(bad)-8] ^= 0xff
	s, err := OpenReader("z.gz", bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, s)
	if !errors.Is(err, ErrCorruptGzip) || !errors.Is(err, ErrTruncated) {
		t.Fatalf("error %v, want corrupt gzip", err)
	}
	if len(got) != len(fr) {
		t.Errorf("got %d packets before the bad checksum, want %d", len(got), len(fr))
	}
	// Damage in the middle of the deflate stream: no panic, a gzip error or truncation.
	for i := 20; i < len(z)-8; i += 7 {
		bad := append([]byte(nil), z...)
		bad[i] ^= 0x5a
		s, err := OpenReader("z.gz", bytes.NewReader(bad))
		if err != nil {
			continue
		}
		got, err := readAll(t, s)
		if err == io.EOF {
			continue // a flip that deflate cannot see and the CRC... cannot happen, but don't insist
		}
		if !errors.Is(err, ErrCorruptGzip) && !errors.Is(err, ErrTruncated) {
			t.Errorf("flip at %d: %v", i, err)
		}
		if len(got) > len(fr) {
			t.Errorf("flip at %d: %d packets", i, len(got))
		}
	}
}

// TestTruncatedEveryOffset cuts small captures at every byte: no panic, every packet complete
// before the cut is delivered, and the error names the start of the damaged record.
func TestTruncatedEveryOffset(t *testing.T) {
	fr := sample(4, layers.LinkTypeEthernet)
	t.Run("pcap", func(t *testing.T) {
		in := handPcap(false, false, 65535, layers.LinkTypeEthernet, fr)
		// record starts
		starts := []int{24}
		for _, f := range fr {
			starts = append(starts, starts[len(starts)-1]+16+len(f.data))
		}
		for cut := 0; cut <= len(in); cut++ {
			s, err := OpenReader("t.pcap", bytes.NewReader(in[:cut]))
			if cut < 24 {
				if err == nil || (!errors.Is(err, ErrTruncated) && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrNotCapture)) {
					t.Fatalf("cut %d: open error %v", cut, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			got, err := readAll(t, s)
			complete := 0
			for complete < len(fr) && starts[complete+1] <= cut {
				complete++
			}
			if len(got) != complete {
				t.Fatalf("cut %d: %d packets, want %d", cut, len(got), complete)
			}
			check(t, got, microTrunc(fr[:complete]), "t.pcap")
			if cut == starts[complete] {
				if err != io.EOF {
					t.Fatalf("cut %d at a record boundary: %v", cut, err)
				}
				continue
			}
			var te *TruncatedError
			if !errors.As(err, &te) || !errors.Is(err, ErrTruncated) {
				t.Fatalf("cut %d: %v, want *TruncatedError", cut, err)
			}
			if te.Offset != int64(starts[complete]) || te.Frame != uint64(complete+1) || te.File != "t.pcap" {
				t.Fatalf("cut %d: %+v, want offset %d frame %d", cut, te, starts[complete], complete+1)
			}
		}
	})
	t.Run("pcapng", func(t *testing.T) {
		in := ngSection(t, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, twoIfaces())
		// Walk the blocks: the end of the section header, and the end of each packet block.
		var shbEnd int
		var pktEnds []int
		blockEnds := map[int]bool{}
		for off := 0; off < len(in); {
			typ := binary.LittleEndian.Uint32(in[off:])
			n := int(binary.LittleEndian.Uint32(in[off+4:]))
			switch typ {
			case 0x0a0d0d0a:
				shbEnd = off + n
			case 6:
				pktEnds = append(pktEnds, off+n)
			}
			off += n
			blockEnds[off] = true
		}
		for cut := 0; cut <= len(in); cut++ {
			s, err := OpenReader("t.pcapng", bytes.NewReader(in[:cut]))
			if cut < shbEnd {
				if err == nil {
					t.Fatalf("cut %d: opened", cut)
				}
				continue
			}
			if err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			got, err := readAll(t, s)
			complete := 0
			for complete < len(pktEnds) && pktEnds[complete] <= cut {
				complete++
			}
			check(t, got, twoIfaces()[:complete], "t.pcapng")
			if err == io.EOF {
				if !blockEnds[cut] {
					t.Fatalf("cut %d inside a block: clean end", cut)
				}
				continue
			}
			var te *TruncatedError
			if !errors.As(err, &te) {
				t.Fatalf("cut %d: %v", cut, err)
			}
			want := shbEnd
			if complete > 0 {
				want = pktEnds[complete-1]
			}
			if te.Offset != int64(want) || te.Frame != uint64(complete+1) {
				t.Fatalf("cut %d: %+v, want offset %d frame %d", cut, te, want, complete+1)
			}
		}
	})
	t.Run("gzip", func(t *testing.T) {
		z := gz(t, handPcap(false, false, 65535, layers.LinkTypeEthernet, fr))
		for cut := 0; cut <= len(z); cut++ {
			s, err := OpenReader("t.gz", bytes.NewReader(z[:cut]))
			if err != nil {
				continue
			}
			got, err := readAll(t, s)
			if cut < len(z) && err == io.EOF {
				t.Fatalf("cut %d: a cut gzip stream ended cleanly", cut)
			}
			if cut < len(z) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("cut %d: %v", cut, err)
			}
			check(t, got, microTrunc(fr[:len(got)]), "t.gz")
		}
	})
}

func TestAbsurdRecords(t *testing.T) {
	fr := sample(2, layers.LinkTypeEthernet)
	in := handPcap(false, false, 65535, layers.LinkTypeEthernet, fr)
	second := 24 + 16 + len(fr[0].data)
	tests := []struct {
		name  string
		patch func(b []byte)
		want  error
	}{
		{"caplen 2 GiB", func(b []byte) { binary.LittleEndian.PutUint32(b[second+8:], 0x80000000) }, ErrRecordTooLarge},
		{"caplen just over 256 KiB", func(b []byte) {
			binary.LittleEndian.PutUint32(b[second+8:], MaxRecord+1)
			binary.LittleEndian.PutUint32(b[second+12:], MaxRecord+1)
		}, ErrRecordTooLarge},
		{"caplen above wire length", func(b []byte) { binary.LittleEndian.PutUint32(b[second+12:], 3) }, ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), in...)
			tc.patch(b)
			s, err := OpenReader("a.pcap", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, s)
			if len(got) != 1 {
				t.Errorf("%d packets before the bad record, want 1", len(got))
			}
			var te *TruncatedError
			if !errors.Is(err, tc.want) || !errors.As(err, &te) || te.Offset != int64(second) || te.Frame != 2 {
				t.Fatalf("error %v (%+v), want %v at %d", err, te, tc.want, second)
			}
			t.Log(err)
		})
	}
	// A record of exactly MaxRecord bytes is accepted.
	big := []frame{{data: make([]byte, MaxRecord), ts: t0, lt: layers.LinkTypeEthernet}}
	s, err := OpenReader("big.pcap", bytes.NewReader(handPcap(false, false, 0, layers.LinkTypeEthernet, big)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, s)
	if err != io.EOF || len(got) != 1 || len(got[0].Data) != MaxRecord {
		t.Fatalf("256 KiB record: %d packets, %v", len(got), err)
	}
	// The same in pcapng.
	ng := ngSection(t, []layers.LinkType{layers.LinkTypeEthernet}, []frame{{data: make([]byte, MaxRecord+4), ts: t0}})
	s, err = OpenReader("big.pcapng", bytes.NewReader(ng))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, s); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("pcapng record over the limit: %v", err)
	}
}

// TestNoAllocPerPacket: reading packets allocates nothing in the steady state.
func TestNoAllocPerPacket(t *testing.T) {
	fr := make([]frame, 3000)
	for i := range fr {
		fr[i] = frame{data: make([]byte, 60+i%1400), ts: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"pcap", handPcap(false, false, 65535, layers.LinkTypeEthernet, fr)},
		{"pcapng", ngSection(t, []layers.LinkType{layers.LinkTypeEthernet}, fr)},
		{"pcap.gz", gz(t, handPcap(false, false, 65535, layers.LinkTypeEthernet, fr))},
	} {
		s, err := OpenReader("a", bytes.NewReader(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		for i := 0; i < 100; i++ { // warm up: buffers reach their size
			if err := s.Next(&p); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(2000, func() {
			if err := s.Next(&p); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.2f allocations per packet, want 0", tc.name, allocs)
		}
	}
}

func benchRead(b *testing.B, in []byte, n int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(in) / n))
	var p Packet
	r := bytes.NewReader(in)
	s, err := OpenReader("b", r)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Next(&p); err != nil {
			if err != io.EOF {
				b.Fatal(err)
			}
			r.Reset(in)
			if s, err = OpenReader("b", r); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchFrames() []frame {
	fr := make([]frame, 10000)
	for i := range fr {
		n := 66 // a mix of ACKs and full segments
		if i%3 == 0 {
			n = 1514
		}
		fr[i] = frame{data: make([]byte, n), ts: t0.Add(time.Duration(i) * time.Microsecond)}
	}
	return fr
}

func BenchmarkNextPcap(b *testing.B) {
	fr := benchFrames()
	benchRead(b, handPcap(false, false, 65535, layers.LinkTypeEthernet, fr), len(fr))
}

func BenchmarkNextPcapng(b *testing.B) {
	fr := benchFrames()
	benchRead(b, ngSection(b, []layers.LinkType{layers.LinkTypeEthernet}, fr), len(fr))
}

func BenchmarkNextPcapGzip(b *testing.B) {
	fr := benchFrames()
	benchRead(b, gz(b, handPcap(false, false, 65535, layers.LinkTypeEthernet, fr)), len(fr))
}

// TestPcapRecordsAreNotCopied: a pcap record that lies whole in the read buffer is handed out
// where it lies, plain or gzip'd: the next record's bytes follow the previous one's 16-byte
// record header later in the same buffer (a copy into a packet buffer would give the same
// address twice). The bytes are those written, and a record past 64 KiB is still read.
func TestPcapRecordsAreNotCopied(t *testing.T) {
	lt := layers.LinkTypeEthernet
	fr := []frame{{data: bytes.Repeat([]byte{1}, 60), ts: t0, lt: lt}, {data: bytes.Repeat([]byte{2}, 1514), ts: t0.Add(time.Millisecond), lt: lt},
		{data: bytes.Repeat([]byte{3}, 70000), ts: t0.Add(2 * time.Millisecond), lt: lt}}
	plain := handPcap(false, true, 262144, lt, fr)
	readInPlace(t, "pcap", plain, fr, len(fr[0].data)+16)
}

// readInPlace reads file, plain and gzip'd, and checks that it gives the packets of fr, and
// that the second one's bytes lie gap bytes after the first one's in memory, as in the file:
// where they lie in the read buffer, not copied.
func readInPlace(t *testing.T, format string, plain []byte, fr []frame, gap int) {
	t.Helper()
	for _, c := range []struct {
		name string
		file []byte
	}{{format, plain}, {"gzip " + format, gz(t, plain)}} {
		s, err := OpenReader(c.name, bytes.NewReader(c.file))
		if err != nil {
			t.Fatal(err)
		}
		var prev uintptr
		for i, f := range fr {
			var p Packet
			if err := s.Next(&p); err != nil {
				t.Fatalf("%s: packet %d: %v", c.name, i+1, err)
			}
			if !bytes.Equal(p.Data, f.data) || !p.Timestamp.Equal(f.ts) || p.LinkType != f.lt || p.Frame != uint64(i+1) {
				t.Fatalf("%s: packet %d: %d bytes at %v on %v, want %d at %v on %v", c.name, i+1, len(p.Data), p.Timestamp,
					p.LinkType, len(f.data), f.ts, f.lt)
			}
			here := uintptr(unsafe.Pointer(unsafe.SliceData(p.Data)))
			if i == 1 && here != prev+uintptr(gap) {
				t.Errorf("%s: packet 2 is not where it lies in the read buffer: copied", c.name)
			}
			prev = here
		}
		var p Packet
		if err := s.Next(&p); err != io.EOF {
			t.Errorf("%s: after the last packet: %v, want io.EOF", c.name, err)
		}
		s.Close()
	}
}

// TestPcapngBlocksAreNotCopied: a pcapng packet block that lies whole in the read buffer is
// handed out where it lies, plain or gzip'd: the distance between two packets' bytes in memory
// is their distance in the file (a copy into a packet buffer would give the same address
// twice). The file has comments on its packets, an interface statistics block and two
// interfaces with their own resolutions; the bytes, times and link types are those written,
// and a block longer than the read buffer (a record of MaxRecord bytes) is still read.
func TestPcapngBlocksAreNotCopied(t *testing.T) {
	fr := twoIfaces()
	fr[1].data, fr[1].wire = bytes.Repeat([]byte{2}, 1514), 0
	fr[2].data = bytes.Repeat([]byte{3}, 70000)
	fr = append(fr, frame{data: bytes.Repeat([]byte{4}, MaxRecord), ts: fr[4].ts.Add(time.Second), lt: layers.LinkTypeEthernet})
	plain := ngFile(t, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, fr, 9)
	// Where each packet's data lies in the file: 28 bytes into its enhanced packet block.
	var at []int
	for off := 0; off+8 <= len(plain); {
		if binary.LittleEndian.Uint32(plain[off:]) == 6 {
			at = append(at, off+28)
		}
		off += int(binary.LittleEndian.Uint32(plain[off+4:]))
	}
	if len(at) != len(fr) {
		t.Fatalf("%d packet blocks in the file, want %d", len(at), len(fr))
	}
	readInPlace(t, "pcapng", plain, fr, at[1]-at[0])
}

// TestPcapngBlockKinds reads by hand-made blocks what pcapgo's writer does not make: a
// big-endian section whose interface has its own resolution (nanoseconds) and time offset,
// an Enhanced, an obsolete and a Simple Packet Block, and a block of an unknown type, skipped.
// The packets are those written, and those gopacket's pcapgo reads from the same bytes.
func TestPcapngBlockKinds(t *testing.T) {
	o := binary.BigEndian
	block := func(typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		b := o.AppendUint32(nil, typ)
		b = o.AppendUint32(b, uint32(12+len(body)))
		b = append(b, body...)
		return o.AppendUint32(b, uint32(12+len(body)))
	}
	u16 := func(b []byte, v uint16) []byte { return o.AppendUint16(b, v) }
	u32 := func(b []byte, v uint32) []byte { return o.AppendUint32(b, v) }
	shb := u32(nil, 0x1a2b3c4d)
	shb = u16(u16(shb, 1), 0)
	shb = append(shb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // section length unknown
	idb := u32(u16(u16(nil, uint16(layers.LinkTypeRaw)), 0), 96)
	idb = append(u16(u16(idb, 9), 1), 9, 0, 0, 0)         // if_tsresol: nanoseconds
	idb = o.AppendUint64(u16(u16(idb, 14), 8), 1_000_000) // if_tsoffset: seconds
	idb = u32(idb, 0)                                     // end of options
	d1, d2, d3 := bytes.Repeat([]byte{0x45}, 40), bytes.Repeat([]byte{0x46}, 33), bytes.Repeat([]byte{0x47}, 200)
	ts := uint64(5_000_000_123) // 5 s and 123 ns
	epb := u32(u32(u32(u32(u32(nil, 0), uint32(ts>>32)), uint32(ts)), 40), 60)
	pb := u32(u32(u32(u32(u16(u16(nil, 0), 0), uint32(ts>>32)), uint32(ts+1)), 33), 33)
	spb := u32(nil, 200) // longer than the snap length: 96 bytes are kept
	in := block(0x0a0d0d0a, shb)
	in = append(in, block(1, idb)...)
	in = append(in, block(6, append(epb, d1...))...)
	in = append(in, block(0x0bad, []byte("skip me"))...)
	in = append(in, block(2, append(pb, d2...))...)
	in = append(in, block(3, append(spb, d3[:96]...))...)

	s, err := OpenReader("be.pcapng", bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, s)
	if err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	at := time.Unix(1_000_005, 123).UTC()
	want := []frame{
		{data: d1, wire: 60, ts: at, lt: layers.LinkTypeRaw},
		{data: d2, ts: at.Add(1), lt: layers.LinkTypeRaw},
		{data: d3[:96], wire: 200, lt: layers.LinkTypeRaw}, // a simple packet has no time
	}
	check(t, got, want, "be.pcapng")
	if ref := pcapgoPackets(in); len(ref) != len(want) {
		t.Errorf("pcapgo read %d packets, want %d", len(ref), len(want))
	} else {
		samePackets(t, got, ref)
	}
}
