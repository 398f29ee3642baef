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
	// TunnelLimit: the frame nests more than MaxTunnels tunnel layers (or a GTP-U header more
	// than MaxGTPExtensions extension headers); the inner packet is not read.
	TunnelLimit
	// TunnelMalformed: a tunnel header is damaged (cut short inside a packet that was captured
	// whole, a wrong ERSPAN or PPPoE version, a GTP-U extension header of length 0, GRE with
	// routing or an unknown version); the flow inside is skipped.
	TunnelMalformed
)

var statusNames = [...]string{"ok", "not-ip", "not-tcp-udp", "fragment", "truncated", "malformed", "unsupported-link", "tunnel-limit", "tunnel-malformed"}

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
	// MaxTunnels is the number of tunnel layers (Packet.Tunnels) followed into one frame; one
	// more is TunnelLimit. Each MPLS label counts as a layer.
	MaxTunnels = 8
	// MaxGTPExtensions is the number of GTP-U extension headers walked; one more is TunnelLimit.
	MaxGTPExtensions = 8
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
	// VXLANPorts are the UDP ports on which a valid VXLAN header is followed ([4789]). Geneve
	// (6081), GTP-U (2152) and CAPWAP data (5247) have fixed ports.
	VXLANPorts []uint16
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
	if len(c.VXLANPorts) == 0 {
		c.VXLANPorts = []uint16{PortVXLAN}
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
	TunnelLimit     uint64 `json:"tunnel_limit"`
	TunnelMalformed uint64 `json:"tunnel_malformed"`

	// Tunnelled counts the OK packets that came out of at least one tunnel layer.
	Tunnelled uint64 `json:"tunnelled"`

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
	s.TunnelLimit += o.TunnelLimit
	s.TunnelMalformed += o.TunnelMalformed
	s.Tunnelled += o.Tunnelled
	s.FragReassembled += o.FragReassembled
	s.FragExpired += o.FragExpired
	s.FragEvicted += o.FragEvicted
	s.FragRejected += o.FragRejected
	s.FragOverlap += o.FragOverlap
	s.FragLost += o.FragLost
}

// Undecodable is the number of frames that could not be decoded: truncated, malformed, of an
// unsupported link type, or inside a tunnel too deep or damaged (not counting frames that are
// simply not TCP/UDP over IP).
func (s *Stats) Undecodable() uint64 {
	return s.Truncated + s.Malformed + s.UnsupportedLink + s.TunnelLimit + s.TunnelMalformed
}

// FragmentsDropped is the number of IP fragments that never reached a reassembled datagram:
// refused ones and those thrown away with an expired or evicted datagram.
func (s *Stats) FragmentsDropped() uint64 { return s.FragRejected + s.FragLost }

// Decoder decodes frames in place. It is not safe for concurrent use: use one per goroutine.
type Decoder struct {
	stats Stats
	frag  reassembler
	vxlan []uint16  // Config.VXLANPorts
	ts    time.Time // packet time of the frame being decoded (fragment expiry)
	// portBits has bit port%64 set for every UDP port a tunnel may be on: a packet whose ports
	// both miss it (most plain UDP) costs one test. ports has a bit for each such port.
	portBits uint64
	ports    *[1024]uint64
}

// New returns a Decoder with the given bounds.
func New(cfg Config) *Decoder {
	cfg.defaults()
	d := &Decoder{}
	d.frag.cfg = cfg
	d.frag.pending, d.frag.head, d.frag.tail = -1, -1, -1
	d.vxlan = cfg.VXLANPorts
	d.ports = new([1024]uint64)
	for _, port := range append([]uint16{PortGeneve, PortGTPU, PortCAPWAP}, d.vxlan...) {
		d.ports[port>>6] |= 1 << (port & 63)
		d.portBits |= 1 << (port & 63)
	}
	return d
}

// Stats returns the decoder's counters (live: they change with each Decode).
func (d *Decoder) Stats() *Stats { return &d.stats }

// Decode decodes one frame of link type lt captured at ts (packet time, used for fragment
// expiry) into p. p is filled only when the status is OK; otherwise its content is unspecified.
// p.Payload aliases data, or for a reassembled datagram the decoder's buffer; either is valid
// until the next Decode call. p.ExtVLAN is read, never written: set it before the call when the
// frame's outer VLAN tag was stripped before capture.
func (d *Decoder) Decode(data []byte, lt layers.LinkType, ts time.Time, p *Packet) Status {
	if d.frag.pending >= 0 {
		d.frag.release()
	}
	p.NTunnels, p.NVLAN = 0, 0
	if p.ExtVLAN != 0 {
		p.VLAN[0], p.NVLAN = p.ExtVLAN&0x0fff, 1
	}
	d.ts = ts
	st := d.link(data, lt, p)
	s := &d.stats
	s.Packets++
	switch st {
	case OK:
		s.OK++
		if p.NTunnels > 0 {
			s.Tunnelled++
		}
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
	case TunnelLimit:
		s.TunnelLimit++
	case TunnelMalformed:
		s.TunnelMalformed++
	}
	return st
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }

const (
	etherIPv4      = 0x0800
	etherIPv6      = 0x86dd
	ether8021Q     = 0x8100
	ether8021A     = 0x88a8 // 802.1ad service tag (QinQ)
	etherQinQ      = 0x9100 // pre-standard QinQ
	etherMPLS      = 0x8847
	etherMPLSMulti = 0x8848
	etherPPPoE     = 0x8864 // PPPoE session stage (0x8863, discovery, is not IP)
	etherTEB       = 0x6558 // transparent Ethernet bridging (GRE, Geneve)
	etherERSPAN2   = 0x88be // ERSPAN type II (type I without the GRE sequence number)
	etherERSPAN3   = 0x22eb
	etherPPP       = 0x880b // PPP inside (enhanced) GRE
)

// UDP ports of the tunnels followed. A port alone never decides: the payload must also start
// with a valid header of the tunnel, or the packet stays a plain UDP packet.
const (
	PortVXLAN  = 4789
	PortGeneve = 6081
	PortGTPU   = 2152
	PortCAPWAP = 5247 // CAPWAP data channel
)

// Link types read beyond the ones gopacket names (values from the tcpdump.org list).
const (
	linkPPPSerial  = 50  // PPP in HDLC-like framing (RFC 1662), also Cisco HDLC
	linkCiscoHDLC  = 104 // Cisco HDLC
	linkPPPWithDir = 204 // a direction byte, then PPP
	linkIEEE80211  = 105
	linkRadiotap   = 127
	linkPPI        = 192
)

// ARPHRD types of Linux cooked captures whose payload is not an ethertype's: GRE tunnel
// devices (over IPv4 and IPv6), whose payload starts with the GRE header.
const (
	arphrdIPGRE  = 778
	arphrdIP6GRE = 823
)

// next says what the bytes at the decode loop's position start with.
type next uint8

const (
	nEthertype next = iota // the payload of ethertype et (VLAN tags first)
	nEther                 // an Ethernet header
	nIPv4
	nIPv6
	nHDLC      // PPP (with or without HDLC address and control) or Cisco HDLC
	nPPP       // a PPP protocol field
	nMPLS      // an MPLS label stack entry
	n80211     // an 802.11 frame
	n80211Swap // an 802.11 frame whose frame control bytes may be swapped (CAPWAP from Cisco)
	nGRE       // a GRE header
	nTransport // the payload of IP protocol et
)

func (d *Decoder) link(data []byte, lt layers.LinkType, p *Packet) Status {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return Truncated
		}
		return d.loop(data[14:], nEthertype, be16(data[12:]), p)
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return Truncated
		}
		if hw := be16(data[2:]); hw == arphrdIPGRE || hw == arphrdIP6GRE {
			return d.loop(data[16:], nGRE, 0, p)
		}
		return d.loop(data[16:], nEthertype, be16(data[14:]), p)
	case layers.LinkTypeLinuxSLL2:
		if len(data) < 20 {
			return Truncated
		}
		if hw := be16(data[8:]); hw == arphrdIPGRE || hw == arphrdIP6GRE {
			return d.loop(data[20:], nGRE, 0, p)
		}
		return d.loop(data[20:], nEthertype, be16(data), p)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		// DLT 12 and 14 are raw IP in files written on some BSDs. The version nibble decides.
		if len(data) < 1 {
			return Truncated
		}
		switch data[0] >> 4 {
		case 4:
			return d.loop(data, nIPv4, 0, p)
		case 6:
			return d.loop(data, nIPv6, 0, p)
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
			return d.loop(data[4:], nIPv4, 0, p)
		case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
			return d.loop(data[4:], nIPv6, 0, p)
		}
		return NotIP
	case layers.LinkTypePPP, linkPPPSerial, linkCiscoHDLC:
		return d.loop(data, nHDLC, 0, p)
	case linkPPPWithDir:
		if len(data) < 1 {
			return Truncated
		}
		return d.loop(data[1:], nHDLC, 0, p)
	case linkIEEE80211:
		return d.loop(data, n80211, 0, p)
	case linkRadiotap:
		// version 0, padding, little-endian header length, present flags
		n, st := radioHeader(data)
		if st != OK {
			return st
		}
		return d.loop(data[n:], n80211, 0, p)
	case linkPPI:
		// version 0, flags, little-endian header length, little-endian link type of the payload
		n, st := radioHeader(data)
		if st != OK {
			return st
		}
		switch binary.LittleEndian.Uint32(data[4:]) {
		case linkIEEE80211:
			return d.loop(data[n:], n80211, 0, p)
		case uint32(layers.LinkTypeEthernet):
			if len(data) < n+14 {
				return Truncated
			}
			return d.loop(data[n+14:], nEthertype, be16(data[n+12:]), p)
		}
		return UnsupportedLink
	}
	return UnsupportedLink
}

// radioHeader reads the length of a radiotap or PPI header: version 0, a byte, a little-endian
// length of at least 8 bytes, within the frame.
func radioHeader(data []byte) (int, Status) {
	if len(data) < 8 {
		return 0, Truncated
	}
	n := int(le16(data[2:]))
	if data[0] != 0 || n < 8 {
		return 0, Malformed
	}
	if n > len(data) {
		return 0, Truncated
	}
	return n, OK
}

// push adds a tunnel layer of type t to p, with the outer IP endpoints when addr is set. The
// VLAN tags read so far belong to the frame that carried the tunnel: the first goes with the
// layer, and the inner frame starts with none. It returns nil when MaxTunnels are already held.
func push(p *Packet, t TunnelType, addr bool) *Tunnel {
	if p.NTunnels == MaxTunnels {
		return nil
	}
	l := &p.Tunnels[p.NTunnels]
	p.NTunnels++
	l.Type, l.IPv4, l.HasAddr, l.HasID, l.ID = t, false, addr, false, 0
	l.HasVLAN, l.VLAN = p.NVLAN > 0, p.VLAN[0]
	p.NVLAN = 0
	if addr {
		l.IPv4, l.Src, l.Dst = p.IPv4, p.Src, p.Dst
	}
	return l
}

// loop decodes from b, which starts with what k says (for nEthertype and nTransport, et is the
// ethertype or IP protocol), until the TCP or UDP header of the innermost packet. Each pass
// either reads a header or enters a tunnel layer (push), and the layers are bounded by
// MaxTunnels, so the loop is bounded whatever the input. cut says the capture holds less than an
// enclosing IP header announced: a header found short is then Truncated, not damaged.
func (d *Decoder) loop(b []byte, k next, et uint16, p *Packet) Status {
	cut := false    // an enclosing IP header announced more than was captured
	haveIP := false // an IP header encloses the position
	tags := 0
	for {
		switch k {
		case nEthertype:
			switch et {
			case etherIPv4:
				k = nIPv4
			case etherIPv6:
				k = nIPv6
			case ether8021Q, ether8021A, etherQinQ:
				if tags == MaxVLANTags {
					return Malformed
				}
				if len(b) < 4 {
					return Truncated
				}
				if p.NVLAN < 2 {
					p.VLAN[p.NVLAN] = be16(b) & 0x0fff
					p.NVLAN++
				}
				tags++
				et = be16(b[2:])
				b = b[4:]
				continue
			case etherMPLS, etherMPLSMulti:
				k = nMPLS
				continue
			case etherPPPoE:
				// version/type 0x11, code 0 (session data), session id, length, then PPP
				if len(b) < 6 {
					return damaged(cut, haveIP)
				}
				if b[0] != 0x11 || b[1] != 0 {
					return TunnelMalformed
				}
				l := push(p, TunnelPPPoE, false)
				if l == nil {
					return TunnelLimit
				}
				l.HasID, l.ID = true, uint32(be16(b[2:]))
				if n := int(be16(b[4:])); n+6 <= len(b) {
					b = b[:n+6] // drop Ethernet padding
				}
				b, k = b[6:], nPPP
				continue
			default:
				return NotIP
			}
			fallthrough // IPv4 or IPv6: the common case goes straight on
		case nIPv4, nIPv6:
			var (
				proto uint8
				seg   []byte
				c     bool
				st    Status
			)
			if k == nIPv4 {
				proto, seg, c, st = d.ipv4(b, p)
			} else {
				proto, seg, c, st = d.ipv6(b, p)
			}
			if st != OK {
				return st
			}
			cut, haveIP = cut || c, true
			if proto == ProtoTCP || proto == ProtoUDP {
				// transport reads no further (it calls nothing, so it costs no frame): a
				// UDP packet on a tunnel's port is looked at here.
				st, tun := d.transport(proto, seg, cut, p)
				if !tun {
					return st
				}
				if st, k, b = d.tunnelled(cut, p); st != OK || k == nTransport {
					return st
				}
			} else {
				b, et, k = seg, uint16(proto), nTransport
			}
		case nEther:
			if len(b) < 14 {
				return damaged(cut, haveIP)
			}
			et, b, k, tags = be16(b[12:]), b[14:], nEthertype, 0
		case nTransport: // an IP protocol other than TCP and UDP
			switch et {
			case 4, 41: // IPv4 or IPv6 inside IP
				if push(p, TunnelIPIP, true) == nil {
					return TunnelLimit
				}
				k = nIPv4
				if et == 41 {
					k = nIPv6
				}
			case 47:
				k = nGRE
			default:
				return NotTCPUDP
			}
		case nGRE:
			var st Status
			if st, k, et, b = d.gre(b, p, haveIP); st != OK {
				if st == Truncated {
					return damaged(cut, haveIP)
				}
				return st
			}
		case nHDLC:
			if len(b) < 2 {
				return Truncated
			}
			switch {
			case b[0] == 0xff && b[1] == 0x03: // PPP in HDLC-like framing
				b, k = b[2:], nPPP
			case (b[0] == 0x0f || b[0] == 0x8f) && b[1] == 0: // Cisco HDLC: an ethertype follows
				if len(b) < 4 {
					return Truncated
				}
				et, b, k = be16(b[2:]), b[4:], nEthertype
			default: // PPP without address and control
				k = nPPP
			}
		case nPPP:
			if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
				b = b[2:]
			}
			if len(b) < 1 {
				return damaged(cut, haveIP)
			}
			var proto uint16
			if b[0]&1 == 1 { // protocol field compressed to one byte
				proto, b = uint16(b[0]), b[1:]
			} else {
				if len(b) < 2 {
					return damaged(cut, haveIP)
				}
				proto, b = be16(b), b[2:]
			}
			switch proto {
			case 0x0021:
				k = nIPv4
			case 0x0057:
				k = nIPv6
			case 0x0281, 0x0283:
				k = nMPLS
			default: // LCP, IPCP, CCP, compressed or encrypted data, ...
				return NotIP
			}
		case nMPLS:
			for {
				if len(b) < 4 {
					return damaged(cut, haveIP)
				}
				l := push(p, TunnelMPLS, false)
				if l == nil {
					return TunnelLimit
				}
				e := be32(b)
				l.HasID, l.ID = true, e>>12
				b = b[4:]
				if e&0x100 != 0 { // bottom of stack
					break
				}
			}
			if len(b) < 1 {
				return damaged(cut, haveIP)
			}
			// The payload is not labelled: guess it from the first nibble, as tcpdump and
			// Wireshark do. 0 is a pseudowire control word before an Ethernet frame, unless
			// only the frame read without one has a known ethertype (a MAC starting 0x0).
			switch b[0] >> 4 {
			case 4:
				k = nIPv4
			case 6:
				k = nIPv6
			case 0:
				if len(b) >= 18 && !knownEthertype(be16(b[16:])) && knownEthertype(be16(b[12:])) {
					k = nEther
				} else if len(b) < 4 {
					return damaged(cut, haveIP)
				} else {
					b, k = b[4:], nEther
				}
			case 1: // pseudowire associated channel (OAM)
				return NotIP
			default: // an Ethernet pseudowire without control word
				k = nEther
			}
		case n80211, n80211Swap:
			st := Status(OK)
			if st, et, b = wifi(b, k == n80211Swap); st != OK {
				return st
			}
			k, tags = nEthertype, 0
		}
	}
}

// damaged is the status of a tunnel header found short: cut by the snap length when no IP
// length says otherwise (cut, or no IP header encloses it), damaged when the enclosing IP
// packet was captured whole.
func damaged(cut, haveIP bool) Status {
	if cut || !haveIP {
		return Truncated
	}
	return TunnelMalformed
}

func knownEthertype(et uint16) bool {
	switch et {
	case etherIPv4, etherIPv6, ether8021Q, ether8021A, etherQinQ, etherMPLS, etherMPLSMulti, etherPPPoE:
		return true
	}
	return false
}

// wifi reads an 802.11 data frame up to the ethertype of its LLC/SNAP header. swap allows
// frame control bytes in the wrong order, as Cisco controllers send them in CAPWAP (Wireshark
// swaps them too): a protocol version other than 0 in the first byte and 0 in the second.
func wifi(b []byte, swap bool) (Status, uint16, []byte) {
	if len(b) < 24 {
		return Truncated, 0, nil
	}
	fc0, fc1 := b[0], b[1]
	if swap && fc0&0x03 != 0 && fc1&0x03 == 0 {
		fc0, fc1 = fc1, fc0
	}
	if fc0&0x03 != 0 { // protocol version 0 only
		return Malformed, 0, nil
	}
	if fc0&0x0c != 0x08 || fc0&0x40 != 0 || fc1&0x40 != 0 {
		// management or control; a data frame with no body (null function); protected
		return NotIP, 0, nil
	}
	n := 24
	if fc1&0x03 == 0x03 { // to and from the distribution system: a fourth address
		n = 30
	}
	if fc0&0x80 != 0 { // QoS data: QoS control, and HT control when the order bit is set
		if len(b) < n+2 {
			return Truncated, 0, nil
		}
		if b[n]&0x80 != 0 { // an A-MSDU: several subframes, not read
			return NotIP, 0, nil
		}
		n += 2
		if fc1&0x80 != 0 {
			n += 4
		}
	}
	if len(b) < n+8 {
		return Truncated, 0, nil
	}
	if b[n] != 0xaa || b[n+1] != 0xaa || b[n+2] != 0x03 {
		return NotIP, 0, nil // not LLC/SNAP
	}
	return OK, be16(b[n+6:]), b[n+8:]
}

// gre reads a GRE header (RFC 2784 and 2890, or the enhanced GRE of PPTP, RFC 2637) and the
// ERSPAN header it may carry, pushes the tunnel layer and says what follows.
// addr says an IP header carried it (not so in a Linux cooked capture of a GRE device).
func (d *Decoder) gre(b []byte, p *Packet, addr bool) (Status, next, uint16, []byte) {
	if len(b) < 4 {
		return Truncated, 0, 0, nil
	}
	flags, proto := b[0], be16(b[2:])
	switch b[1] & 0x07 { // version
	case 0:
		if flags&0x40 != 0 { // RFC 1701 source routing: not read
			return TunnelMalformed, 0, 0, nil
		}
		off := 4
		if flags&0x80 != 0 { // checksum and reserved
			off += 4
		}
		var key uint32
		if flags&0x20 != 0 {
			if len(b) < off+4 {
				return Truncated, 0, 0, nil
			}
			key = be32(b[off:])
			off += 4
		}
		if flags&0x10 != 0 { // sequence number
			off += 4
		}
		if len(b) < off {
			return Truncated, 0, 0, nil
		}
		b = b[off:]
		switch proto {
		case etherERSPAN2:
			l := push(p, TunnelERSPAN, addr)
			if l == nil {
				return TunnelLimit, 0, 0, nil
			}
			if flags&0x10 == 0 { // type I: no sequence number and no ERSPAN header
				return OK, nEther, 0, b
			}
			// version 1, VLAN, COS/encapsulation/truncated, session id (10 bits), index
			if len(b) < 8 {
				return Truncated, 0, 0, nil
			}
			if b[0]>>4 != 1 {
				return TunnelMalformed, 0, 0, nil
			}
			l.HasID, l.ID = true, uint32(be16(b[2:])&0x3ff)
			return OK, nEther, 0, b[8:]
		case etherERSPAN3:
			l := push(p, TunnelERSPAN, addr)
			if l == nil {
				return TunnelLimit, 0, 0, nil
			}
			// version 2, VLAN, COS/BSO/T, session id, timestamp, SGT, flags; with the O flag
			// an 8-byte platform specific subheader follows.
			if len(b) < 12 {
				return Truncated, 0, 0, nil
			}
			if b[0]>>4 != 2 {
				return TunnelMalformed, 0, 0, nil
			}
			l.HasID, l.ID = true, uint32(be16(b[2:])&0x3ff)
			n := 12
			if b[11]&0x01 != 0 {
				n += 8
			}
			if len(b) < n {
				return Truncated, 0, 0, nil
			}
			return OK, nEther, 0, b[n:]
		}
		l := push(p, TunnelGRE, addr)
		if l == nil {
			return TunnelLimit, 0, 0, nil
		}
		l.HasID, l.ID = flags&0x20 != 0, key
		switch proto {
		case etherTEB:
			return OK, nEther, 0, b
		case etherPPP:
			return OK, nPPP, 0, b
		}
		return OK, nEthertype, proto, b
	case 1:
		// Enhanced GRE: key present (payload length, call id), optional sequence and
		// acknowledgment numbers, PPP inside.
		if flags&0x20 == 0 || proto != etherPPP || flags&0xc0 != 0 {
			return TunnelMalformed, 0, 0, nil
		}
		if len(b) < 8 {
			return Truncated, 0, 0, nil
		}
		n, call := int(be16(b[4:])), be16(b[6:])
		off := 8
		if flags&0x10 != 0 {
			off += 4
		}
		if b[1]&0x80 != 0 {
			off += 4
		}
		if len(b) < off {
			return Truncated, 0, 0, nil
		}
		l := push(p, TunnelPPTP, addr)
		if l == nil {
			return TunnelLimit, 0, 0, nil
		}
		l.HasID, l.ID = true, uint32(call)
		b = b[off:]
		if n == 0 { // an acknowledgment alone
			return NotIP, 0, 0, nil
		}
		if n < len(b) {
			b = b[:n]
		}
		return OK, nPPP, 0, b
	}
	return TunnelMalformed, 0, 0, nil
}

// udpTunnel looks for a tunnel in the UDP payload pl of p (whose ports are set). It returns
// nTransport when p is a plain UDP packet, or what follows the tunnel header.
func (d *Decoder) udpTunnel(pl []byte, p *Packet) (Status, next, []byte) {
	sp, dp := p.SrcPort, p.DstPort
	switch {
	case d.isVXLAN(dp) || d.isVXLAN(sp):
		// flags (I set; G of group policy allowed), reserved, VNI, reserved
		if len(pl) < 1 || pl[0]&0x08 == 0 || pl[0]&^0x88 != 0 {
			return OK, nTransport, nil
		}
		if len(pl) < 8 {
			return Truncated, 0, nil
		}
		l := push(p, TunnelVXLAN, true)
		if l == nil {
			return TunnelLimit, 0, nil
		}
		l.HasID, l.ID = true, be32(pl[4:])>>8
		return OK, nEther, pl[8:]
	case dp == PortGeneve || sp == PortGeneve:
		// version 0, options length, flags, protocol, VNI, reserved, options
		if len(pl) < 4 || pl[0]>>6 != 0 {
			return OK, nTransport, nil
		}
		proto := be16(pl[2:])
		if proto != etherTEB && proto != etherIPv4 && proto != etherIPv6 {
			return OK, nTransport, nil
		}
		n := 8 + int(pl[0]&0x3f)*4
		if len(pl) < n {
			return Truncated, 0, nil
		}
		l := push(p, TunnelGeneve, true)
		if l == nil {
			return TunnelLimit, 0, nil
		}
		l.HasID, l.ID = true, be32(pl[4:])>>8
		switch proto {
		case etherIPv4:
			return OK, nIPv4, pl[n:]
		case etherIPv6:
			return OK, nIPv6, pl[n:]
		}
		return OK, nEther, pl[n:]
	case dp == PortGTPU || sp == PortGTPU:
		return d.gtp(pl, p)
	case dp == PortCAPWAP || sp == PortCAPWAP:
		return d.capwap(pl, p)
	}
	return OK, nTransport, nil
}

func (d *Decoder) isVXLAN(port uint16) bool {
	for _, v := range d.vxlan {
		if v == port {
			return true
		}
	}
	return false
}

// gtp reads a GTPv1-U header carrying a user packet (G-PDU). Other messages (echo, error
// indication, end marker) and other versions are left as plain UDP.
func (d *Decoder) gtp(pl []byte, p *Packet) (Status, next, []byte) {
	// flags: version 1, protocol type 1 (GTP, not GTP'), reserved 0
	if len(pl) < 2 || pl[0]&0xf8 != 0x30 || pl[1] != 0xff {
		return OK, nTransport, nil
	}
	if len(pl) < 8 {
		return Truncated, 0, nil
	}
	n := int(be16(pl[2:])) // bytes after the first 8
	short := 8+n > len(pl)
	if !short {
		pl = pl[:8+n]
	}
	l := push(p, TunnelGTPU, true)
	if l == nil {
		return TunnelLimit, 0, nil
	}
	l.HasID, l.ID = true, be32(pl[4:])
	off := 8
	if pl[0]&0x07 != 0 { // sequence number, N-PDU number, next extension header type
		if len(pl) < 12 {
			return Truncated, 0, nil
		}
		off = 12
		for ext, i := pl[11], 0; ext != 0; i++ {
			if i == MaxGTPExtensions {
				return TunnelLimit, 0, nil
			}
			if len(pl) < off+1 {
				return Truncated, 0, nil
			}
			m := int(pl[off]) * 4 // length in 4-byte units, the length and next type included
			if m == 0 {
				return TunnelMalformed, 0, nil
			}
			if len(pl) < off+m {
				return Truncated, 0, nil
			}
			ext = pl[off+m-1]
			off += m
		}
	}
	pl = pl[off:]
	if len(pl) == 0 {
		if short {
			return Truncated, 0, nil
		}
		return NotIP, 0, nil
	}
	switch pl[0] >> 4 {
	case 4:
		return OK, nIPv4, pl
	case 6:
		return OK, nIPv6, pl
	}
	return NotIP, 0, nil
}

// capwap reads a CAPWAP data channel header (RFC 5415) carrying an 802.3 frame, or an 802.11
// one (RFC 5416). DTLS-protected CAPWAP stays plain UDP.
func (d *Decoder) capwap(pl []byte, p *Packet) (Status, next, []byte) {
	if len(pl) < 1 || pl[0] != 0 { // preamble: version 0, type 0 (not DTLS)
		return OK, nTransport, nil
	}
	if len(pl) < 8 {
		return Truncated, 0, nil
	}
	w := be32(pl)
	n := int(w>>19&0x1f) * 4 // HLEN
	wbid, native, frag, keepalive := w>>9&0x1f, w>>8&1 == 1, w>>7&1 == 1, w>>3&1 == 1
	if n < 8 {
		return TunnelMalformed, 0, nil
	}
	if len(pl) < n {
		return Truncated, 0, nil
	}
	if push(p, TunnelCAPWAP, true) == nil {
		return TunnelLimit, 0, nil
	}
	if frag || keepalive { // fragments are not reassembled; a keepalive carries no frame
		return NotIP, 0, nil
	}
	switch {
	case !native:
		return OK, nEther, pl[n:]
	case wbid == 1:
		return OK, n80211Swap, pl[n:]
	}
	return NotIP, 0, nil
}

func (d *Decoder) ipv4(b []byte, p *Packet) (uint8, []byte, bool, Status) {
	if len(b) < 20 {
		return 0, nil, false, Truncated
	}
	if b[0]>>4 != 4 {
		return 0, nil, false, Malformed
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return 0, nil, false, Malformed
	}
	if len(b) < ihl {
		return 0, nil, false, Truncated
	}
	tl := int(be16(b[2:]))
	cut := false
	switch {
	case tl == 0:
		tl = len(b) // segmentation offload: the stack left the length to the NIC
	case tl < ihl:
		return 0, nil, false, Malformed
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
			return 0, nil, false, Truncated
		}
		k := fragKey{src: p.Src, dst: p.Dst, id: uint32(be16(b[4:])), proto: proto}
		if p.NTunnels > 0 {
			k.tunnel = p.TunnelID()
		}
		payload, hdr, st := d.frag.add(&d.stats, &k, d.ts, int(fo&0x1fff)*8, fo&0x2000 != 0, b[ihl:], ihl)
		if st != OK {
			return 0, nil, false, st
		}
		p.IPLen = hdr + len(payload)
		return proto, payload, false, OK
	}
	p.IPLen = tl
	return proto, b[ihl:], cut, OK
}

func (d *Decoder) ipv6(b []byte, p *Packet) (uint8, []byte, bool, Status) {
	if len(b) < 40 {
		return 0, nil, false, Truncated
	}
	if b[0]>>4 != 6 {
		return 0, nil, false, Malformed
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
				return 0, nil, false, Malformed
			}
			if len(b) < off+8 {
				return 0, nil, false, short
			}
			nh, off = b[off], off+(int(b[off+1])+1)*8
			if off > len(b) {
				return 0, nil, false, short
			}
		case 51: // authentication header: length in 4-byte units, minus 2
			if n == MaxIPv6Headers {
				return 0, nil, false, Malformed
			}
			if len(b) < off+8 {
				return 0, nil, false, short
			}
			nh, off = b[off], off+(int(b[off+1])+2)*4
			if off > len(b) {
				return 0, nil, false, short
			}
		case 44: // fragment
			if n == MaxIPv6Headers {
				return 0, nil, false, Malformed
			}
			if len(b) < off+8 {
				return 0, nil, false, short
			}
			hdr := off
			next, fo, id := b[off], be16(b[off+2:]), be32(b[off+4:])
			off += 8
			if fo&0xfff9 == 0 { // atomic fragment (offset 0, no more): the whole packet
				nh = next
				continue
			}
			if cut {
				return 0, nil, false, Truncated
			}
			k := fragKey{src: p.Src, dst: p.Dst, id: id, proto: next, v6: true}
			if p.NTunnels > 0 {
				k.tunnel = p.TunnelID()
			}
			payload, h, st := d.frag.add(&d.stats, &k, d.ts, int(fo&0xfff8), fo&1 != 0, b[off:], hdr)
			if st != OK {
				return 0, nil, false, st
			}
			p.IPLen = h + len(payload)
			return next, payload, false, OK
		case 59: // no next header
			return 0, nil, false, NotTCPUDP
		default:
			p.IPLen = end
			return nh, b[off:], cut, OK
		}
	}
}

// transport decodes the TCP or UDP header at the start of seg. cut says the capture holds less
// than the IP header announced. It reports true for a UDP packet with a payload on a port a
// tunnel may be on: the caller then looks for the tunnel (tunnelled).
func (d *Decoder) transport(proto uint8, seg []byte, cut bool, p *Packet) (Status, bool) {
	short := Malformed
	if cut {
		short = Truncated
	}
	if proto == ProtoTCP {
		if len(seg) < 20 {
			return short, false
		}
		doff := int(seg[12]>>4) * 4
		if doff < 20 {
			return Malformed, false
		}
		if doff > len(seg) {
			return short, false
		}
		p.Proto = ProtoTCP
		p.SrcPort = be16(seg)
		p.DstPort = be16(seg[2:])
		p.Seq = be32(seg[4:])
		p.Ack = be32(seg[8:])
		p.Flags = seg[13]
		p.Payload = seg[doff:]
		return OK, false
	}
	if len(seg) < 8 {
		return short, false
	}
	ul := int(be16(seg[4:]))
	switch {
	case ul == 0:
		ul = len(seg) // jumbogram
	case ul < 8:
		return Malformed, false
	case ul > len(seg):
		if !cut {
			return Malformed, false
		}
		ul = len(seg)
	}
	p.Proto = ProtoUDP
	p.SrcPort = be16(seg)
	p.DstPort = be16(seg[2:])
	p.Seq, p.Ack, p.Flags = 0, 0, 0
	pl := seg[8:ul]
	p.Payload = pl
	sp, dp := be16(seg), be16(seg[2:])
	if d.portBits&(1<<(sp&63)|1<<(dp&63)) == 0 || len(pl) == 0 ||
		d.ports[sp>>6]&(1<<(sp&63)) == 0 && d.ports[dp>>6]&(1<<(dp&63)) == 0 {
		return OK, false
	}
	return OK, true
}

// tunnelled looks for a tunnel in the payload of the UDP packet p, on a tunnel's port (see
// udpTunnel). cut says the capture holds less than the IP header announced.
func (d *Decoder) tunnelled(cut bool, p *Packet) (Status, next, []byte) {
	if cut && len(p.Payload) < 8 {
		// Cut by the snap length before the shortest tunnel header could be judged: neither
		// a tunnel nor a plain datagram can be told.
		return Truncated, nTransport, nil
	}
	st, k, b := d.udpTunnel(p.Payload, p)
	if st == Truncated && !cut {
		st = TunnelMalformed // the datagram is whole: its tunnel header is too short
	}
	return st, k, b
}
