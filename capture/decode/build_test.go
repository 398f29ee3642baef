package decode

import "encoding/binary"

// Byte builders for test frames. Every header is written out field by field so a test reads as
// the wire does.

var (
	macA = []byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = []byte{0x02, 0, 0, 0, 0, 0x0b}
	v4A  = []byte{192, 0, 2, 1}
	v4B  = []byte{198, 51, 100, 7}
	v6A  = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	v6B  = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
)

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func u16(v int) []byte    { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// eth builds an Ethernet header; tags are VLAN TPIDs (each followed by a TCI of 0x0064).
func eth(et int, payload []byte, tags ...int) []byte {
	b := cat(macB, macA)
	for _, tpid := range tags {
		b = cat(b, u16(tpid), u16(100))
	}
	return cat(b, u16(et), payload)
}

func sll(et int, payload []byte) []byte {
	// packet type, ARPHRD, address length, 8-byte address, protocol
	return cat(u16(0), u16(1), u16(6), macA, []byte{0, 0}, u16(et), payload)
}

func sll2(et int, payload []byte) []byte {
	// protocol, reserved, ifindex, ARPHRD, packet type, address length, 8-byte address
	return cat(u16(et), u16(0), u32(3), u16(1), []byte{4, 6}, macA, []byte{0, 0}, payload)
}

func null(af uint32, little bool, payload []byte) []byte {
	h := u32(af)
	if little {
		h = binary.LittleEndian.AppendUint32(nil, af)
	}
	return cat(h, payload)
}

type v4opt struct {
	id      int
	off     int // bytes, multiple of 8
	more    bool
	tl      int // 0: computed
	ihl     int // 0: 5
	version int // 0: 4
}

func ip4(proto int, payload []byte, o v4opt) []byte {
	ihl := o.ihl
	if ihl == 0 {
		ihl = 5
	}
	ver := o.version
	if ver == 0 {
		ver = 4
	}
	tl := o.tl
	if tl == 0 {
		tl = ihl*4 + len(payload)
	}
	fo := o.off / 8
	if o.more {
		fo |= 0x2000
	}
	h := cat([]byte{byte(ver<<4 | ihl&0xf), 0}, u16(tl), u16(o.id), u16(fo), []byte{64, byte(proto), 0, 0}, v4A, v4B)
	for len(h) < ihl*4 {
		h = append(h, 1) // NOP options
	}
	return cat(h, payload)
}

// ext is an IPv6 extension header: its type and its body after the next-header byte.
type ext struct {
	typ  int
	body []byte
}

// hbh builds a hop-by-hop/destination-options/routing style header of 8*(n+1) bytes.
func hbh(typ, n int) ext { return ext{typ, make([]byte, 8*(n+1)-1)} }

func frag6(off int, more bool, id uint32) ext {
	fo := off &^ 7
	if more {
		fo |= 1
	}
	return ext{44, cat([]byte{0}, u16(fo), u32(id))}
}

// ip6 builds an IPv6 header, the extension headers, then payload with next header proto.
func ip6(proto int, payload []byte, exts ...ext) []byte {
	var body []byte
	first := proto
	if len(exts) > 0 {
		first = exts[0].typ
	}
	for i, e := range exts {
		next := proto
		if i+1 < len(exts) {
			next = exts[i+1].typ
		}
		b := cat([]byte{byte(next)}, e.body)
		if e.typ != 44 && e.typ != 51 {
			b[1] = byte(len(b)/8 - 1)
		}
		if e.typ == 51 {
			b[1] = byte(len(b)/4 - 2)
		}
		body = cat(body, b)
	}
	body = cat(body, payload)
	return cat([]byte{0x60, 0, 0, 0}, u16(len(body)), []byte{byte(first), 64}, v6A, v6B, body)
}

func tcp(sport, dport int, seq, ack uint32, flags byte, payload []byte) []byte {
	return cat(u16(sport), u16(dport), u32(seq), u32(ack), []byte{5 << 4, flags}, u16(65535), u16(0), u16(0), payload)
}

func udp(sport, dport int, payload []byte) []byte {
	return cat(u16(sport), u16(dport), u16(8+len(payload)), u16(0), payload)
}

func mapped(v4 []byte) [16]byte {
	a := [16]byte{10: 0xff, 11: 0xff}
	copy(a[12:], v4)
	return a
}

func addr16(b []byte) [16]byte {
	var a [16]byte
	copy(a[:], b)
	return a
}

// sumStatuses adds the per-status counters, which must equal Packets.
func (s *Stats) sumStatuses() uint64 {
	return s.OK + s.NotIP + s.NotTCPUDP + s.Fragment + s.Truncated + s.Malformed + s.UnsupportedLink +
		s.TunnelLimit + s.TunnelMalformed
}
