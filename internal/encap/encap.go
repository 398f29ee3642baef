// Package encap wraps Ethernet frames in tunnels, byte by byte as they travel: GRE, ERSPAN,
// VXLAN, Geneve, GTP-U, MPLS, PPPoE, IP-in-IP, PPTP, CAPWAP and nested ones. cmd/pcapgen uses
// it to write tunnelled captures and the tests use it to wrap real captures. Outer addresses
// are in 127.0.100.0/24, so the captures stay replayable on loopback.
package encap

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Kind is one way of wrapping a frame.
type Kind struct {
	Name, About string
	wrap        func(frame []byte) []byte
}

// Kinds lists the encapsulations, simple ones first, then nested ones.
var Kinds = []Kind{
	{"vxlan", "VXLAN (UDP 4789, VNI 5001)", func(f []byte) []byte { return udpTunnel(f, 4789, vxlan(5001)) }},
	{"geneve", "Geneve (UDP 6081, VNI 6001, one 8-byte option)", func(f []byte) []byte {
		return udpTunnel(f, 6081, []byte{2, 0, 0x65, 0x58, 0, 0x17, 0x71, 0, 0x01, 0x02, 0x80, 1, 0, 0, 0, 0})
	}},
	{"gre", "GRE carrying IP (no options)", func(f []byte) []byte { return ip4(47, f, gre(etherType(f), -1, -1, false, ipOf(f))) }},
	{"gre-key", "GRE with checksum, key 77 and sequence number, bridging Ethernet (0x6558)", func(f []byte) []byte {
		return ip4(47, f, gre(0x6558, 77, 1, true, f))
	}},
	{"erspan1", "ERSPAN type I (GRE 0x88be without sequence number)", func(f []byte) []byte { return ip4(47, f, gre(0x88be, -1, -1, false, f)) }},
	{"erspan2", "ERSPAN type II, session 100", func(f []byte) []byte {
		return ip4(47, f, gre(0x88be, -1, 1, false, cat([]byte{0x10, 0, 0, 100, 0, 0, 0, 0}, f)))
	}},
	{"erspan3", "ERSPAN type III, session 101", func(f []byte) []byte {
		return ip4(47, f, gre(0x22eb, -1, 1, false, cat([]byte{0x20, 0, 0, 101, 0, 0, 0, 0, 0, 0, 0, 0}, f)))
	}},
	{"gtpu", "GTPv1-U G-PDU (UDP 2152) with a PDU session container extension header; TEID by direction", gtpu},
	{"mpls", "MPLS label stack (100, 200) carrying IP", func(f []byte) []byte {
		return ether(0x8847, cat(label(100, false), label(200, true), ipOf(f)))
	}},
	{"mpls-pw", "MPLS pseudowire (label 300) with control word carrying Ethernet", func(f []byte) []byte {
		return ether(0x8847, cat(label(300, true), []byte{0, 0, 0, 0}, f))
	}},
	{"pppoe", "PPPoE session 0x1234 carrying PPP", func(f []byte) []byte {
		p := cat(ppp(f), nil)
		return ether(0x8864, cat([]byte{0x11, 0, 0x12, 0x34}, be16(len(p)), p))
	}},
	{"ip-in-ip", "IPv4 or IPv6 in IPv4 (protocol 4 or 41)", func(f []byte) []byte {
		if etherType(f) == 0x86dd {
			return ip4(41, f, ipOf(f))
		}
		return ip4(4, f, ipOf(f))
	}},
	{"pptp", "enhanced GRE (PPTP) call 9 carrying PPP", func(f []byte) []byte {
		p := cat([]byte{0xff, 0x03}, ppp(f))
		return ip4(47, f, cat([]byte{0x30, 0x01, 0x88, 0x0b}, be16(len(p)), be16(9), []byte{0, 0, 0, 1}, p))
	}},
	{"capwap", "CAPWAP data (UDP 5247) carrying the 802.3 frame", func(f []byte) []byte {
		return udpTunnel(f, 5247, []byte{0, 0x10, 0x42, 0, 0, 0, 0, 0}) // HLEN 2, RID 1, WBID 1, T 0
	}},
	{"qinq", "802.1ad and 802.1Q tags (VLAN 10, 20)", func(f []byte) []byte { return tag(f, 0x88a8, 10, 0x8100, 20) }},
	{"vxlan-in-gre", "VXLAN (VNI 7) inside GRE (key 1)", func(f []byte) []byte {
		v := udpTunnel(f, 4789, vxlan(7))
		return ip4(47, f, gre(0x0800, 1, -1, false, ipOf(v)))
	}},
	{"mpls-over-gre", "MPLS (label 400) over GRE carrying IP", func(f []byte) []byte {
		return ip4(47, f, gre(0x8847, -1, -1, false, cat(label(400, true), ipOf(f))))
	}},
	{"qinq-in-vxlan", "QinQ-tagged frame (VLAN 30, 40) inside VXLAN (VNI 8) on VLAN 5", func(f []byte) []byte {
		return tag(udpTunnel(tag(f, 0x88a8, 30, 0x8100, 40), 4789, vxlan(8)), 0x8100, 5)
	}},
}

// Names returns the names of the kinds.
func Names() []string {
	var n []string
	for _, k := range Kinds {
		n = append(n, k.Name)
	}
	return n
}

// Wrapper returns the function that wraps an untagged Ethernet frame carrying IPv4 or IPv6 in
// the named kind. Other frames (ARP, say) are returned as they are.
func Wrapper(name string) (func(frame []byte) []byte, error) {
	i := slices.IndexFunc(Kinds, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("unknown encapsulation %q (one of %s)", name, strings.Join(Names(), ", "))
	}
	wrap := Kinds[i].wrap
	return func(f []byte) []byte {
		if len(f) < 14+40 && !(len(f) >= 14+20 && etherType(f) == 0x0800) || etherType(f) != 0x0800 && etherType(f) != 0x86dd {
			return f
		}
		return wrap(f)
	}, nil
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func be16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

var (
	macA = []byte{2, 0, 0, 0, 0x64, 1}
	macB = []byte{2, 0, 0, 0, 0x64, 2}
	// The two tunnel endpoints.
	vtepA = []byte{127, 0, 100, 1}
	vtepB = []byte{127, 0, 100, 2}
)

func ether(et int, payload []byte) []byte { return cat(macB, macA, be16(et), payload) }

// etherType and ipOf read the frame's own Ethernet header (untagged).
func etherType(f []byte) int { return int(binary.BigEndian.Uint16(f[12:])) }
func ipOf(f []byte) []byte   { return f[14:] }

// forward says the inner packet goes from the lower IPv4 address to the higher one: the outer
// header then goes from vtepA to vtepB, otherwise back.
func forward(f []byte) bool {
	ip := ipOf(f)
	if etherType(f) == 0x86dd {
		return string(ip[8:24]) <= string(ip[24:40])
	}
	return string(ip[12:16]) <= string(ip[16:20])
}

// ip4 writes an Ethernet/IPv4 outer header between the tunnel endpoints, in the direction of
// the inner frame f, carrying payload with protocol proto.
func ip4(proto byte, f, payload []byte) []byte {
	src, dst := vtepA, vtepB
	if !forward(f) {
		src, dst = dst, src
	}
	h := cat([]byte{0x45, 0}, be16(20+len(payload)), []byte{0, 0, 0x40, 0, 64, proto, 0, 0}, src, dst)
	SetIPv4Checksum(h)
	return ether(0x0800, cat(h, payload))
}

// SetIPv4Checksum fills in the header checksum of the 20-byte IPv4 header h.
func SetIPv4Checksum(h []byte) {
	binary.BigEndian.PutUint16(h[10:], 0)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
}

// udpTunnel sends hdr and the frame f in a UDP datagram to port (the source port from a hash
// of the inner addresses, as VTEPs pick it; the same port both ways for GTP-U and CAPWAP).
func udpTunnel(f []byte, port int, hdr []byte) []byte {
	pl := cat(hdr, f)
	if port == 2152 {
		pl = cat(hdr, ipOf(f))
	}
	sport := 49152 + int(binary.BigEndian.Uint16(ipOf(f)[14:])^binary.BigEndian.Uint16(ipOf(f)[18:]))%16384
	if port == 2152 || port == 5247 {
		sport = port
	}
	return ip4(17, f, cat(be16(sport), be16(port), be16(8+len(pl)), []byte{0, 0}, pl))
}

func vxlan(vni uint32) []byte {
	return []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
}

// gre builds a GRE header (key and seq written when >= 0) and the payload.
func gre(proto int, key, seq int64, csum bool, payload []byte) []byte {
	var flags byte
	var opt []byte
	if csum {
		flags |= 0x80
		opt = append(opt, 0, 0, 0, 0)
	}
	if key >= 0 {
		flags |= 0x20
		opt = binary.BigEndian.AppendUint32(opt, uint32(key))
	}
	if seq >= 0 {
		flags |= 0x10
		opt = binary.BigEndian.AppendUint32(opt, uint32(seq))
	}
	h := cat([]byte{flags, 0}, be16(proto), opt, payload)
	if csum { // RFC 2784: the one's complement sum of the header and payload
		var sum uint32
		for i := 0; i+1 < len(h); i += 2 {
			sum += uint32(h[i])<<8 | uint32(h[i+1])
		}
		if len(h)%2 == 1 {
			sum += uint32(h[len(h)-1]) << 8
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		binary.BigEndian.PutUint16(h[4:], ^uint16(sum))
	}
	return h
}

func gtpu(f []byte) []byte {
	teid := uint32(0x100)
	if !forward(f) {
		teid = 0x200 // each side picks the TEID it receives on
	}
	ext := []byte{1, 0x00, 0x01, 0} // PDU session container: length 1 (4 bytes), QFI 1, no next
	hdr := cat([]byte{0x34, 0xff}, be16(4+len(ext)+len(ipOf(f))), binary.BigEndian.AppendUint32(nil, teid), []byte{0, 0, 0, 0x85}, ext)
	return udpTunnel(f, 2152, hdr)
}

func label(l uint32, bottom bool) []byte {
	e := l<<12 | 64
	if bottom {
		e |= 0x100
	}
	return binary.BigEndian.AppendUint32(nil, e)
}

// ppp is the PPP protocol field and the IP packet of f.
func ppp(f []byte) []byte {
	if etherType(f) == 0x86dd {
		return cat([]byte{0x00, 0x57}, ipOf(f))
	}
	return cat([]byte{0x00, 0x21}, ipOf(f))
}

// tag inserts VLAN tags (TPID, id pairs) after the MAC addresses of f.
func tag(f []byte, tags ...int) []byte {
	out := cat(f[:12])
	for i := 0; i+1 < len(tags); i += 2 {
		out = cat(out, be16(tags[i]), be16(tags[i+1]))
	}
	return cat(out, f[12:])
}
