package decode

import (
	"encoding/binary"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Status says what Decode made of a frame. Every call is counted under its status in Stats.
type Status uint8

const (
	// OK: p holds a TCP or UDP packet.
	OK Status = iota
	// NotIP: the frame carries something other than IPv4/IPv6 (ARP, LLC, LLDP, ...).
	NotIP
	// NotTCPUDP: IP carrying another protocol (ICMP, SCTP, GRE, ESP, ...), or an IPv6 packet with
	// no next header.
	NotTCPUDP
	// Fragment: an IP fragment held for reassembly; nothing to deliver yet.
	Fragment
	// Truncated: the capture holds fewer bytes than the headers need (snap length, a cut file).
	Truncated
	// Malformed: the headers contradict themselves (bad version, lengths, too many VLAN tags or
	// IPv6 extension headers, a rejected fragment).
	Malformed
	// UnsupportedLink: a link type this decoder does not read.
	UnsupportedLink
)

var statusNames = [...]string{"ok", "not-ip", "not-tcp-udp", "fragment", "truncated", "malformed", "unsupported-link"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Bounds that are not configurable.
const (
	// MaxVLANTags is the number of stacked 802.1Q/802.1ad tags read; one more is Malformed.
	MaxVLANTags = 8
	// MaxIPv6Headers is the number of IPv6 extension headers walked; one more is Malformed.
	MaxIPv6Headers = 16
	// MaxDatagram is the largest reassembled IP payload.
	MaxDatagram = 65535
)

// Config bounds IP fragment reassembly. Zero fields take the defaults shown.
type Config struct {
	// FragDatagrams is the number of datagrams reassembled at once (1024). A new one beyond it
	// evicts the oldest.
	FragDatagrams int
	// FragPerDatagram is the number of fragments one datagram may have (64). One more drops it.
	FragPerDatagram int
	// FragTimeout drops a datagram this long (packet time) after its first fragment (30 s).
	FragTimeout time.Duration
	// FragMemory bounds the bytes held in reassembly buffers (16 MiB, at least 64 KiB). Beyond it
	// the oldest datagrams are evicted.
	FragMemory int
}

func (c *Config) defaults() {
	if c.FragDatagrams <= 0 {
		c.FragDatagrams = 1024
	}
	if c.FragPerDatagram <= 0 {
		c.FragPerDatagram = 64
	}
	if c.FragTimeout <= 0 {
		c.FragTimeout = 30 * time.Second
	}
	if c.FragMemory <= 0 {
		c.FragMemory = 16 << 20
	}
	if c.FragMemory < MaxDatagram+1 {
		c.FragMemory = MaxDatagram + 1
	}
}

// Stats counts what the decoder saw. Workers each own a Decoder and sum their Stats with Add.
type Stats struct {
	Packets uint64 `json:"packets"` // frames given to Decode

	// One counter per Status; they add up to Packets.
	OK              uint64 `json:"ok"`
	NotIP           uint64 `json:"not_ip"`
	NotTCPUDP       uint64 `json:"not_tcp_udp"`
	Fragment        uint64 `json:"fragment"`
	Truncated       uint64 `json:"truncated"`
	Malformed       uint64 `json:"malformed"`
	UnsupportedLink uint64 `json:"unsupported_link"`

	// IP fragment reassembly (IPv4 and IPv6).
	FragReassembled uint64 `json:"frag_reassembled"` // datagrams completed and delivered
	FragExpired     uint64 `json:"frag_expired"`     // datagrams dropped: timeout
	FragEvicted     uint64 `json:"frag_evicted"`     // datagrams dropped: table or memory full, too many fragments
	FragRejected    uint64 `json:"frag_rejected"`    // fragments refused (overlap, bad length, beyond 64 KiB); counted Malformed
	FragOverlap     uint64 `json:"frag_overlap"`     // of FragRejected: overlapping a fragment already held
	FragLost        uint64 `json:"frag_lost"`        // fragments thrown away with an expired or evicted datagram
}

// Add adds o's counters to s.
func (s *Stats) Add(o *Stats) {
	s.Packets += o.Packets
	s.OK += o.OK
	s.NotIP += o.NotIP
	s.NotTCPUDP += o.NotTCPUDP
	s.Fragment += o.Fragment
	s.Truncated += o.Truncated
	s.Malformed += o.Malformed
	s.UnsupportedLink += o.UnsupportedLink
	s.FragReassembled += o.FragReassembled
	s.FragExpired += o.FragExpired
	s.FragEvicted += o.FragEvicted
	s.FragRejected += o.FragRejected
	s.FragOverlap += o.FragOverlap
	s.FragLost += o.FragLost
}

// Undecodable is the number of frames that could not be decoded: truncated, malformed or of an
// unsupported link type (not counting frames that are simply not TCP/UDP over IP).
func (s *Stats) Undecodable() uint64 { return s.Truncated + s.Malformed + s.UnsupportedLink }

// FragmentsDropped is the number of IP fragments that never reached a reassembled datagram:
// refused ones and those thrown away with an expired or evicted datagram.
func (s *Stats) FragmentsDropped() uint64 { return s.FragRejected + s.FragLost }

// Decoder decodes frames in place. It is not safe for concurrent use: use one per goroutine.
type Decoder struct {
	stats Stats
	frag  reassembler
}

// New returns a Decoder with the given bounds.
func New(cfg Config) *Decoder {
	cfg.defaults()
	d := &Decoder{}
	d.frag.cfg = cfg
	d.frag.pending, d.frag.head, d.frag.tail = -1, -1, -1
	return d
}

// Stats returns the decoder's counters (live: they change with each Decode).
func (d *Decoder) Stats() *Stats { return &d.stats }

// Decode decodes one frame of link type lt captured at ts (packet time, used for fragment
// expiry) into p. p is filled only when the status is OK; otherwise its content is unspecified.
// p.Payload aliases data, or for a reassembled datagram the decoder's buffer; either is valid
// until the next Decode call.
func (d *Decoder) Decode(data []byte, lt layers.LinkType, ts time.Time, p *Packet) Status {
	if d.frag.pending >= 0 {
		d.frag.release()
	}
	st := d.link(data, lt, ts, p)
	s := &d.stats
	s.Packets++
	switch st {
	case OK:
		s.OK++
	case NotIP:
		s.NotIP++
	case NotTCPUDP:
		s.NotTCPUDP++
	case Fragment:
		s.Fragment++
	case Truncated:
		s.Truncated++
	case Malformed:
		s.Malformed++
	case UnsupportedLink:
		s.UnsupportedLink++
	}
	return st
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	ether8021Q = 0x8100
	ether8021A = 0x88a8 // 802.1ad service tag (QinQ)
	etherQinQ  = 0x9100 // pre-standard QinQ
)

func (d *Decoder) link(data []byte, lt layers.LinkType, ts time.Time, p *Packet) Status {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return Truncated
		}
		return d.ether(data[14:], be16(data[12:]), ts, p)
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return Truncated
		}
		return d.ether(data[16:], be16(data[14:]), ts, p)
	case layers.LinkTypeLinuxSLL2:
		if len(data) < 20 {
			return Truncated
		}
		return d.ether(data[20:], be16(data), ts, p)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		// DLT 12 and 14 are raw IP in files written on some BSDs. The version nibble decides.
		if len(data) < 1 {
			return Truncated
		}
		switch data[0] >> 4 {
		case 4:
			return d.ipv4(data, ts, p)
		case 6:
			return d.ipv6(data, ts, p)
		}
		return Malformed
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		// A 4-byte address family, in the writer's byte order (NULL) or big-endian (LOOP).
		if len(data) < 4 {
			return Truncated
		}
		af := binary.LittleEndian.Uint32(data)
		if af > 0xffff {
			af = be32(data)
		}
		switch af {
		case 2: // AF_INET everywhere
			return d.ipv4(data[4:], ts, p)
		case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
			return d.ipv6(data[4:], ts, p)
		}
		return NotIP
	}
	return UnsupportedLink
}

// ether dispatches on an ethertype, reading stacked VLAN tags.
func (d *Decoder) ether(b []byte, et uint16, ts time.Time, p *Packet) Status {
	for tags := 0; ; tags++ {
		switch et {
		case etherIPv4:
			return d.ipv4(b, ts, p)
		case etherIPv6:
			return d.ipv6(b, ts, p)
		case ether8021Q, ether8021A, etherQinQ:
			if tags == MaxVLANTags {
				return Malformed
			}
			if len(b) < 4 {
				return Truncated
			}
			et = be16(b[2:])
			b = b[4:]
		// Encapsulations to add here: MPLS unicast (0x8847), PPPoE session (0x8864),
		// transparent Ethernet bridging inside GRE (0x6558) once tunnels are followed.
		default:
			return NotIP
		}
	}
}

func (d *Decoder) ipv4(b []byte, ts time.Time, p *Packet) Status {
	if len(b) < 20 {
		return Truncated
	}
	if b[0]>>4 != 4 {
		return Malformed
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return Malformed
	}
	if len(b) < ihl {
		return Truncated
	}
	tl := int(be16(b[2:]))
	cut := false
	switch {
	case tl == 0:
		tl = len(b) // segmentation offload: the stack left the length to the NIC
	case tl < ihl:
		return Malformed
	case tl > len(b):
		tl, cut = len(b), true
	}
	b = b[:tl] // drop Ethernet padding
	p.IPv4 = true
	p.Src = [16]byte{10: 0xff, 11: 0xff}
	p.Dst = [16]byte{10: 0xff, 11: 0xff}
	copy(p.Src[12:], b[12:16])
	copy(p.Dst[12:], b[16:20])
	proto := b[9]
	if fo := be16(b[6:]); fo&0x3fff != 0 { // more fragments, or an offset
		if cut {
			return Truncated
		}
		k := fragKey{src: p.Src, dst: p.Dst, id: uint32(be16(b[4:])), proto: proto}
		payload, hdr, st := d.frag.add(&d.stats, &k, ts, int(fo&0x1fff)*8, fo&0x2000 != 0, b[ihl:], ihl)
		if st != OK {
			return st
		}
		p.IPLen = hdr + len(payload)
		return d.transport(proto, payload, false, p)
	}
	p.IPLen = tl
	return d.transport(proto, b[ihl:], cut, p)
}

func (d *Decoder) ipv6(b []byte, ts time.Time, p *Packet) Status {
	if len(b) < 40 {
		return Truncated
	}
	if b[0]>>4 != 6 {
		return Malformed
	}
	end := 40 + int(be16(b[4:]))
	cut := false
	switch {
	case end == 40:
		end = len(b) // jumbogram, or segmentation offload
	case end > len(b):
		end, cut = len(b), true
	}
	b = b[:end]
	p.IPv4 = false
	copy(p.Src[:], b[8:24])
	copy(p.Dst[:], b[24:40])
	short := Malformed // a header running past the payload length
	if cut {
		short = Truncated
	}
	nh, off := b[6], 40
	for n := 0; ; n++ {
		switch nh {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if n == MaxIPv6Headers {
				return Malformed
			}
			if len(b) < off+8 {
				return short
			}
			nh, off = b[off], off+(int(b[off+1])+1)*8
			if off > len(b) {
				return short
			}
		case 51: // authentication header: length in 4-byte units, minus 2
			if n == MaxIPv6Headers {
				return Malformed
			}
			if len(b) < off+8 {
				return short
			}
			nh, off = b[off], off+(int(b[off+1])+2)*4
			if off > len(b) {
				return short
			}
		case 44: // fragment
			if n == MaxIPv6Headers {
				return Malformed
			}
			if len(b) < off+8 {
				return short
			}
			hdr := off
			next, fo, id := b[off], be16(b[off+2:]), be32(b[off+4:])
			off += 8
			if fo&0xfff9 == 0 { // atomic fragment (offset 0, no more): the whole packet
				nh = next
				continue
			}
			if cut {
				return Truncated
			}
			k := fragKey{src: p.Src, dst: p.Dst, id: id, proto: next, v6: true}
			payload, h, st := d.frag.add(&d.stats, &k, ts, int(fo&0xfff8), fo&1 != 0, b[off:], hdr)
			if st != OK {
				return st
			}
			p.IPLen = h + len(payload)
			return d.transport(next, payload, false, p)
		case 59: // no next header
			return NotTCPUDP
		default:
			p.IPLen = end
			return d.transport(nh, b[off:], cut, p)
		}
	}
}

// transport decodes the TCP or UDP header at the start of seg. cut says the capture holds less
// than the IP header announced.
func (d *Decoder) transport(proto uint8, seg []byte, cut bool, p *Packet) Status {
	short := Malformed
	if cut {
		short = Truncated
	}
	switch proto {
	case ProtoTCP:
		if len(seg) < 20 {
			return short
		}
		doff := int(seg[12]>>4) * 4
		if doff < 20 {
			return Malformed
		}
		if doff > len(seg) {
			return short
		}
		p.Proto = ProtoTCP
		p.SrcPort = be16(seg)
		p.DstPort = be16(seg[2:])
		p.Seq = be32(seg[4:])
		p.Ack = be32(seg[8:])
		p.Flags = seg[13]
		p.Payload = seg[doff:]
		return OK
	case ProtoUDP:
		if len(seg) < 8 {
			return short
		}
		ul := int(be16(seg[4:]))
		switch {
		case ul == 0:
			ul = len(seg) // jumbogram
		case ul < 8:
			return Malformed
		case ul > len(seg):
			if !cut {
				return Malformed
			}
			ul = len(seg)
		}
		p.Proto = ProtoUDP
		p.SrcPort = be16(seg)
		p.DstPort = be16(seg[2:])
		p.Seq, p.Ack, p.Flags = 0, 0, 0
		p.Payload = seg[8:ul]
		// Tunnels to follow here by port: VXLAN (4789), GTP-U (2152), Geneve (6081).
		return OK
	// Tunnels to follow here by protocol number: IP-in-IP (4), IPv6-in-IP (41),
	// GRE and ERSPAN (47), then decode the inner packet with ether/ipv4/ipv6.
	default:
		return NotTCPUDP
	}
}
