package decode

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// frags4 cuts an IPv4 payload into fragments of size n (a multiple of 8).
func frags4(id int, payload []byte, n int) [][]byte {
	var out [][]byte
	for off := 0; off < len(payload); off += n {
		end := min(off+n, len(payload))
		out = append(out, ip4(ProtoUDP, payload[off:end], v4opt{id: id, off: off, more: end < len(payload)}))
	}
	return out
}

func filled(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestReassembleIPv4(t *testing.T) {
	body := filled(3000)
	dg := udp(5060, 5060, body)
	fr := frags4(42, dg, 1024)
	orders := map[string][]int{"in order": {0, 1, 2}, "reversed": {2, 1, 0}, "last first": {2, 0, 1}}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			d := New(Config{})
			var p Packet
			for i, k := range order {
				st := d.Decode(fr[k], layers.LinkTypeRaw, ts0, &p)
				if i < len(order)-1 {
					if st != Fragment {
						t.Fatalf("fragment %d: %v", k, st)
					}
					continue
				}
				if st != OK {
					t.Fatalf("last fragment: %v", st)
				}
			}
			if p.Proto != ProtoUDP || p.SrcPort != 5060 || !bytes.Equal(p.Payload, body) || p.IPLen != 20+len(dg) {
				t.Fatalf("reassembled %d bytes, IPLen %d", len(p.Payload), p.IPLen)
			}
			s := d.Stats()
			if s.FragReassembled != 1 || s.Fragment != 2 || s.OK != 1 || s.FragmentsDropped() != 0 {
				t.Errorf("stats %+v", *s)
			}
		})
	}
}

func TestReassembleIPv6(t *testing.T) {
	body := filled(2500)
	dg := udp(53, 53, body)
	mk := func(off, end int, more bool) []byte {
		return ip6(ProtoUDP, dg[off:end], hbh(0, 0), frag6(off, more, 0xdeadbeef))
	}
	d := New(Config{})
	var p Packet
	if st := d.Decode(mk(1232, len(dg), false), layers.LinkTypeRaw, ts0, &p); st != Fragment {
		t.Fatal(st)
	}
	if st := d.Decode(mk(0, 1232, true), layers.LinkTypeRaw, ts0, &p); st != OK {
		t.Fatal(st)
	}
	if p.IPv4 || p.Src != addr16(v6A) || !bytes.Equal(p.Payload, body) || p.IPLen != 40+8+len(dg) {
		t.Fatalf("got %d bytes, IPLen %d", len(p.Payload), p.IPLen)
	}
}

// TestOverlapFirstWins: an overlapping fragment is refused whole; the bytes first received stay.
func TestOverlapFirstWins(t *testing.T) {
	dg := udp(1, 2, filled(40)) // 48 bytes: fragments [0,16) [16,32) [32,48)
	evil := append([]byte(nil), dg...)
	for i := 8; i < len(evil); i++ {
		evil[i] = 0xee
	}
	d := New(Config{})
	var p Packet
	steps := []struct {
		frag []byte
		want Status
	}{
		{ip4(ProtoUDP, dg[0:16], v4opt{id: 1, more: true}), Fragment},
		{ip4(ProtoUDP, evil[8:24], v4opt{id: 1, off: 8, more: true}), Malformed}, // overlaps [0,16)
		{ip4(ProtoUDP, evil[0:16], v4opt{id: 1, more: true}), Malformed},         // exact duplicate
		{ip4(ProtoUDP, dg[32:48], v4opt{id: 1, off: 32}), Fragment},
		{ip4(ProtoUDP, evil[24:48], v4opt{id: 1, off: 24}), Malformed}, // last fragment moving the end? same end, overlaps
		{ip4(ProtoUDP, dg[16:32], v4opt{id: 1, off: 16, more: true}), OK},
	}
	for i, s := range steps {
		if st := d.Decode(s.frag, layers.LinkTypeRaw, ts0, &p); st != s.want {
			t.Fatalf("step %d: %v, want %v", i, st, s.want)
		}
	}
	if !bytes.Equal(p.Payload, dg[8:]) {
		t.Errorf("payload %x, want the first data %x", p.Payload, dg[8:])
	}
	s := d.Stats()
	if s.FragOverlap != 3 || s.FragRejected != 3 || s.Malformed != 3 {
		t.Errorf("stats %+v", *s)
	}
}

func TestFragmentRefused(t *testing.T) {
	tests := []struct {
		name string
		frag []byte
	}{
		{"beyond 64 KiB", ip4(ProtoUDP, make([]byte, 64), v4opt{id: 1, off: 65528, more: true})},
		{"not a multiple of 8", ip4(ProtoUDP, make([]byte, 12), v4opt{id: 1, more: true})},
		{"no data", ip4(ProtoUDP, nil, v4opt{id: 1, off: 8, more: true})},
	}
	for _, tc := range tests {
		d := New(Config{})
		var p Packet
		if st := d.Decode(tc.frag, layers.LinkTypeRaw, ts0, &p); st != Malformed {
			t.Errorf("%s: %v", tc.name, st)
		}
		if d.Stats().FragRejected != 1 {
			t.Errorf("%s: %+v", tc.name, *d.Stats())
		}
	}
	// A cut capture of a fragment cannot be reassembled.
	d := New(Config{})
	var p Packet
	f := ip4(ProtoUDP, make([]byte, 64), v4opt{id: 1, more: true})
	if st := d.Decode(f[:50], layers.LinkTypeRaw, ts0, &p); st != Truncated {
		t.Errorf("cut fragment: %v", st)
	}
}

func TestFragmentTimeout(t *testing.T) {
	dg := udp(1, 2, filled(24))
	a := ip4(ProtoUDP, dg[:16], v4opt{id: 9, more: true})
	b := ip4(ProtoUDP, dg[16:], v4opt{id: 9, off: 16})
	d := New(Config{})
	var p Packet
	d.Decode(a, layers.LinkTypeRaw, ts0, &p)
	if st := d.Decode(b, layers.LinkTypeRaw, ts0.Add(31*time.Second), &p); st != Fragment {
		t.Fatalf("after the timeout: %v, want a new datagram held", st)
	}
	s := d.Stats()
	if s.FragExpired != 1 || s.FragLost != 1 || s.FragmentsDropped() != 1 {
		t.Errorf("stats %+v", *s)
	}
	// Within the timeout (and with time going backwards) it completes.
	if st := d.Decode(a, layers.LinkTypeRaw, ts0.Add(20*time.Second), &p); st != OK {
		t.Fatalf("within the timeout: %v", st)
	}
}

// TestFragmentFlood: bounds hold and every loss is counted.
func TestFragmentFlood(t *testing.T) {
	d := New(Config{FragDatagrams: 64, FragMemory: 256 << 10})
	var p Packet
	const n = 5000
	for i := 0; i < n; i++ {
		// first fragments of distinct datagrams, some far into the 64 KiB range
		off := (i % 8) * 8000
		f := ip4(ProtoUDP, make([]byte, 512), v4opt{id: i, off: off, more: true})
		if st := d.Decode(f, layers.LinkTypeRaw, ts0, &p); st != Fragment {
			t.Fatalf("fragment %d: %v", i, st)
		}
		r := &d.frag
		if len(r.index) > 64 || r.bytes > 256<<10 {
			t.Fatalf("after %d: %d datagrams, %d bytes held", i, len(r.index), r.bytes)
		}
	}
	s := d.Stats()
	live := uint64(len(d.frag.index))
	if live == 0 || s.FragEvicted != n-live || s.FragLost != n-live || s.Fragment != n {
		t.Errorf("stats %+v", *s)
	}

	// Too many fragments for one datagram: 64 are held, the 65th drops it.
	d = New(Config{})
	for i := 0; i < 64; i++ {
		f := ip4(ProtoUDP, make([]byte, 8), v4opt{id: 1, off: i * 16, more: true})
		if st := d.Decode(f, layers.LinkTypeRaw, ts0, &p); st != Fragment {
			t.Fatalf("fragment %d: %v", i, st)
		}
	}
	f := ip4(ProtoUDP, make([]byte, 8), v4opt{id: 1, off: 64 * 16, more: true})
	if st := d.Decode(f, layers.LinkTypeRaw, ts0, &p); st != Malformed {
		t.Fatalf("65th fragment: %v", st)
	}
	if s := d.Stats(); s.FragLost != 64 || s.FragRejected != 1 || len(d.frag.index) != 0 {
		t.Errorf("stats %+v", *s)
	}
}
