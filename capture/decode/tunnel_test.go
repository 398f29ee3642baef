package decode

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// Builders of tunnel headers, field by field as on the wire.

var (
	outerA = []byte{127, 0, 0, 10}
	outerB = []byte{127, 0, 0, 20}
)

// outer4 wraps payload in an IPv4 header from outerA to outerB.
func outer4(proto int, payload []byte) []byte {
	b := ip4(proto, payload, v4opt{})
	copy(b[12:], outerA)
	copy(b[16:], outerB)
	return b
}

// greHdr builds a GRE header: key and seq are written when >= 0, csum adds checksum+reserved.
func greHdr(proto int, csum bool, key, seq int64) []byte {
	var flags byte
	var opt []byte
	if csum {
		flags |= 0x80
		opt = cat(opt, u16(0), u16(0))
	}
	if key >= 0 {
		flags |= 0x20
		opt = cat(opt, u32(uint32(key)))
	}
	if seq >= 0 {
		flags |= 0x10
		opt = cat(opt, u32(uint32(seq)))
	}
	return cat([]byte{flags, 0}, u16(proto), opt)
}

func vxlanHdr(vni uint32) []byte { return cat([]byte{0x08, 0, 0, 0}, u32(vni<<8)) }

func geneveHdr(proto int, vni uint32, optWords int) []byte {
	return cat([]byte{byte(optWords), 0}, u16(proto), u32(vni<<8), make([]byte, optWords*4))
}

// gtpHdr builds a GTPv1-U G-PDU header; exts are extension header bodies (each padded to a
// multiple of 4 with its length and next-type bytes).
func gtpHdr(teid uint32, payload []byte, exts ...[]byte) []byte {
	var opt []byte
	flags := byte(0x30)
	if len(exts) > 0 {
		flags |= 0x04
		opt = cat(u16(0), []byte{0, 0x85})
		for i, e := range exts {
			nt := byte(0)
			if i+1 < len(exts) {
				nt = 0x85
			}
			h := cat([]byte{byte((len(e) + 2) / 4)}, e, []byte{nt})
			opt = cat(opt, h)
		}
	}
	return cat([]byte{flags, 0xff}, u16(len(opt)+len(payload)), u32(teid), opt, payload)
}

func erspan2(session int, frame []byte) []byte {
	return cat(greHdr(0x88be, false, -1, 1), []byte{0x10, 100}, u16(session), u32(0), frame)
}

func erspan3(session int, frame []byte) []byte {
	return cat(greHdr(0x22eb, false, -1, 1), []byte{0x20, 100}, u16(session), u32(0), u16(0), u16(0), frame)
}

func mplsLabel(label uint32, bottom bool) []byte {
	e := label<<12 | 64
	if bottom {
		e |= 0x100
	}
	return u32(e)
}

func pppoe(session int, ppp []byte) []byte {
	return cat([]byte{0x11, 0}, u16(session), u16(len(ppp)), ppp)
}

func capwapHdr(frame []byte) []byte {
	// preamble 0, HLEN 2 (8 bytes), RID 1, WBID 1, T 0; fragment id and offset 0
	w := uint32(2)<<19 | 1<<14 | 1<<9
	return cat(u32(w), u32(0), frame)
}

// dot11 builds an 802.11 QoS data frame (to the DS) with an LLC/SNAP header.
func dot11(et int, payload []byte) []byte {
	return cat([]byte{0x88, 0x01}, u16(0), macB, macA, macB, u16(0), u16(0), []byte{0xaa, 0xaa, 0x03, 0, 0, 0}, u16(et), payload)
}

func TestTunnels(t *testing.T) {
	v4 := ip4(ProtoTCP, tcpSeg, v4opt{})
	v6 := ip6(ProtoUDP, udpDg)
	t4, u6 := wantTCP4(len(v4)), wantUDP6(len(v6))
	inner := eth(0x0800, v4)
	type layer struct {
		typ  TunnelType
		addr bool
		id   int64 // -1: no id
	}
	gre4 := func(h []byte) []byte { return eth(0x0800, outer4(47, h)) }
	udp4 := func(dport int, h []byte) []byte { return eth(0x0800, outer4(ProtoUDP, udp(40000, dport, h))) }
	tests := []struct {
		name   string
		lt     layers.LinkType
		data   []byte
		want   Packet
		layers []layer
	}{
		{"GRE IPv4", layers.LinkTypeEthernet, gre4(cat(greHdr(0x0800, false, -1, -1), v4)), t4, []layer{{TunnelGRE, true, -1}}},
		{"GRE checksum key sequence", layers.LinkTypeEthernet, gre4(cat(greHdr(0x86dd, true, 77, 5), v6)), u6, []layer{{TunnelGRE, true, 77}}},
		{"GRE bridging 0x6558", layers.LinkTypeEthernet, gre4(cat(greHdr(0x6558, false, 9, -1), inner)), t4, []layer{{TunnelGRE, true, 9}}},
		{"PPTP enhanced GRE with PPP", layers.LinkTypeEthernet, gre4(cat([]byte{0x30, 0x81}, u16(0x880b), u16(4+len(v4)), u16(321), u32(1), u32(0), []byte{0xff, 0x03}, u16(0x21), v4)), t4, []layer{{TunnelPPTP, true, 321}}},
		{"PPTP compressed PPP protocol", layers.LinkTypeEthernet, gre4(cat([]byte{0x20, 0x01}, u16(0x880b), u16(1+len(v4)), u16(5), []byte{0x21}, v4)), t4, []layer{{TunnelPPTP, true, 5}}},
		{"ERSPAN type I", layers.LinkTypeEthernet, gre4(cat(greHdr(0x88be, false, -1, -1), inner)), t4, []layer{{TunnelERSPAN, true, -1}}},
		{"ERSPAN type II", layers.LinkTypeEthernet, gre4(erspan2(0x3ff&700, inner)), t4, []layer{{TunnelERSPAN, true, 700}}},
		{"ERSPAN type III", layers.LinkTypeEthernet, gre4(erspan3(12, inner)), t4, []layer{{TunnelERSPAN, true, 12}}},
		{"VXLAN", layers.LinkTypeEthernet, udp4(4789, cat(vxlanHdr(5001), inner)), t4, []layer{{TunnelVXLAN, true, 5001}}},
		{"Geneve with options", layers.LinkTypeEthernet, udp4(6081, cat(geneveHdr(0x6558, 42, 3), inner)), t4, []layer{{TunnelGeneve, true, 42}}},
		{"Geneve IPv6 payload", layers.LinkTypeEthernet, udp4(6081, cat(geneveHdr(0x86dd, 43, 0), v6)), u6, []layer{{TunnelGeneve, true, 43}}},
		{"GTP-U", layers.LinkTypeEthernet, udp4(2152, gtpHdr(0xdeadbeef, v4)), t4, []layer{{TunnelGTPU, true, 0xdeadbeef}}},
		{"GTP-U extension headers", layers.LinkTypeEthernet, udp4(2152, gtpHdr(7, v6, []byte{1, 2}, []byte{3, 4, 5, 6, 7, 8})), u6, []layer{{TunnelGTPU, true, 7}}},
		{"MPLS two labels", layers.LinkTypeEthernet, eth(0x8847, cat(mplsLabel(100, false), mplsLabel(200, true), v4)), t4, []layer{{TunnelMPLS, false, 100}, {TunnelMPLS, false, 200}}},
		{"MPLS multicast IPv6", layers.LinkTypeEthernet, eth(0x8848, cat(mplsLabel(16, true), v6)), u6, []layer{{TunnelMPLS, false, 16}}},
		{"MPLS pseudowire control word", layers.LinkTypeEthernet, eth(0x8847, cat(mplsLabel(300, true), u32(0), inner)), t4, []layer{{TunnelMPLS, false, 300}}},
		{"MPLS pseudowire no control word", layers.LinkTypeEthernet, eth(0x8847, cat(mplsLabel(301, true), inner)), t4, []layer{{TunnelMPLS, false, 301}}},
		{"MPLS over GRE", layers.LinkTypeEthernet, gre4(cat(greHdr(0x8847, false, -1, -1), mplsLabel(400, true), v4)), t4, []layer{{TunnelGRE, true, -1}, {TunnelMPLS, false, 400}}},
		{"PPPoE session", layers.LinkTypeEthernet, eth(0x8864, pppoe(0x1234, cat(u16(0x21), v4))), t4, []layer{{TunnelPPPoE, false, 0x1234}}},
		{"PPPoE IPv6 under VLAN", layers.LinkTypeEthernet, eth(0x8864, pppoe(9, cat(u16(0x57), v6)), 0x8100), u6, []layer{{TunnelPPPoE, false, 9}}},
		{"IPv4 in IPv4", layers.LinkTypeEthernet, eth(0x0800, outer4(4, v4)), t4, []layer{{TunnelIPIP, true, -1}}},
		{"IPv6 in IPv4 (6in4)", layers.LinkTypeRaw, outer4(41, v6), u6, []layer{{TunnelIPIP, true, -1}}},
		{"IPv6 in IPv6", layers.LinkTypeRaw, ip6(41, v6), u6, []layer{{TunnelIPIP, true, -1}}},
		{"IPv4 in IPv6 (4in6)", layers.LinkTypeRaw, ip6(4, v4), t4, []layer{{TunnelIPIP, true, -1}}},
		{"CAPWAP data 802.3", layers.LinkTypeEthernet, udp4(5247, capwapHdr(inner)), t4, []layer{{TunnelCAPWAP, true, -1}}},
		{"VXLAN in GRE", layers.LinkTypeEthernet, gre4(cat(greHdr(0x0800, false, 1, -1), outer4(ProtoUDP, udp(1, 4789, cat(vxlanHdr(7), inner))))), t4, []layer{{TunnelGRE, true, 1}, {TunnelVXLAN, true, 7}}},
		{"QinQ inside VXLAN", layers.LinkTypeEthernet, udp4(4789, cat(vxlanHdr(8), eth(0x0800, v4, 0x88a8, 0x8100))), t4, []layer{{TunnelVXLAN, true, 8}}},
		{"GRE in a linux cooked v2 ip6gre device", layers.LinkTypeLinuxSLL2, cat(u16(0x86dd), u16(0), u32(3), u16(823), []byte{0, 0}, make([]byte, 8), greHdr(0x86dd, false, -1, -1), v6), u6, []layer{{TunnelGRE, false, -1}}},
		{"GRE in a linux cooked GRE device", layers.LinkTypeLinuxSLL, cat(u16(0), u16(778), u16(0), make([]byte, 8), u16(0x0800), greHdr(0x0800, false, 3, -1), v4), t4, []layer{{TunnelGRE, false, 3}}},

		// Link types that are not tunnels.
		{"DLT_PPP", layers.LinkTypePPP, cat([]byte{0xff, 0x03}, u16(0x21), v4), t4, nil},
		{"DLT_PPP without address and control", layers.LinkTypePPP, cat(u16(0x57), v6), u6, nil},
		{"PPP in HDLC framing (50)", 50, cat([]byte{0xff, 0x03}, u16(0x57), v6), u6, nil},
		{"Cisco HDLC (104)", 104, cat([]byte{0x0f, 0}, u16(0x0800), v4), t4, nil},
		{"PPP with direction (204)", 204, cat([]byte{1, 0xff, 0x03}, u16(0x21), v4), t4, nil},
		{"802.11 QoS data LLC/SNAP (105)", 105, dot11(0x0800, v4), t4, nil},
		{"802.11 four addresses", 105, func() []byte {
			f := cat([]byte{0x08, 0x03}, u16(0), macB, macA, macB, u16(0), macA, []byte{0xaa, 0xaa, 0x03, 0, 0, 0}, u16(0x86dd), v6)
			return f
		}(), u6, nil},
		{"radiotap (127)", 127, cat([]byte{0, 0}, binary.LittleEndian.AppendUint16(nil, 12), make([]byte, 8), dot11(0x0800, v4)), t4, nil},
		{"PPI 802.11 (192)", 192, cat([]byte{0, 0}, binary.LittleEndian.AppendUint16(nil, 8), binary.LittleEndian.AppendUint32(nil, 105), dot11(0x86dd, v6)), u6, nil},
		{"CAPWAP carrying 802.11, frame control swapped", layers.LinkTypeEthernet, udp4(5247, cat(u32(2<<19|1<<9|1<<8), u32(0), func() []byte {
			f := dot11(0x0800, v4)
			f[0], f[1] = f[1], f[0]
			return f
		}())), t4, []layer{{TunnelCAPWAP, true, -1}}},
		{"CAPWAP carrying 802.11", layers.LinkTypeEthernet, udp4(5247, cat(u32(2<<19|1<<9|1<<8), u32(0), dot11(0x0800, v4))), t4, []layer{{TunnelCAPWAP, true, -1}}},
	}
	d := New(Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			if st := d.Decode(tc.data, tc.lt, ts0, &p); st != OK {
				t.Fatalf("status %v", st)
			}
			if !samePacket(&p, &tc.want) {
				t.Errorf("got  %+v\nwant %+v", p, tc.want)
			}
			if int(p.NTunnels) != len(tc.layers) {
				t.Fatalf("%d tunnel layers, want %d", p.NTunnels, len(tc.layers))
			}
			for i, w := range tc.layers {
				l := p.Tunnels[i]
				if l.Type != w.typ || l.HasAddr != w.addr || l.HasID != (w.id >= 0) || (w.id >= 0 && l.ID != uint32(w.id)) {
					t.Errorf("layer %d: %+v, want %+v", i, l, w)
				}
				if w.addr && l.IPv4 && (l.Src != mapped(outerA) || l.Dst != mapped(outerB)) && w.typ != TunnelIPIP {
					t.Errorf("layer %d endpoints %v %v", i, l.Src, l.Dst)
				}
			}
		})
	}
}

func TestVLANs(t *testing.T) {
	v4 := ip4(ProtoTCP, tcpSeg, v4opt{})
	d := New(Config{})
	var p Packet
	qinq := func(outer, inner int, pl []byte) []byte {
		return cat(macB, macA, u16(0x88a8), u16(outer), u16(0x8100), u16(inner), u16(0x0800), pl)
	}
	if st := d.Decode(qinq(10, 20, v4), layers.LinkTypeEthernet, ts0, &p); st != OK || p.NVLAN != 2 || p.VLAN != [2]uint16{10, 20} {
		t.Errorf("QinQ: %v %d %v", st, p.NVLAN, p.VLAN)
	}
	// The carrier's tag goes with the tunnel layer; the inner frame's tags are the packet's.
	f := cat(macB, macA, u16(0x8100), u16(5), u16(0x0800), outer4(ProtoUDP, udp(1, 4789, cat(vxlanHdr(8), qinq(30, 40, v4)))))
	if st := d.Decode(f, layers.LinkTypeEthernet, ts0, &p); st != OK || p.VLAN != [2]uint16{30, 40} || !p.Tunnels[0].HasVLAN || p.Tunnels[0].VLAN != 5 {
		t.Errorf("VXLAN: %v %v %+v", st, p.VLAN, p.Tunnels[0])
	}
	// A tag stripped before capture comes first.
	p.ExtVLAN = 0x2000 | 7 // priority 1, VLAN 7
	if st := d.Decode(eth(0x0800, v4, 0x8100), layers.LinkTypeEthernet, ts0, &p); st != OK || p.NVLAN != 2 || p.VLAN != [2]uint16{7, 100} {
		t.Errorf("external tag: %v %d %v", st, p.NVLAN, p.VLAN)
	}
	if p.ExtVLAN != 0x2007 {
		t.Errorf("ExtVLAN changed to %#x", p.ExtVLAN)
	}
	p.ExtVLAN = 0
	if st := d.Decode(eth(0x0800, v4), layers.LinkTypeEthernet, ts0, &p); st != OK || p.NVLAN != 0 {
		t.Errorf("untagged: %v %d", st, p.NVLAN)
	}
}

// TestTunnelByHeaderAndPort: a port alone never makes a tunnel.
func TestTunnelByHeaderAndPort(t *testing.T) {
	d := New(Config{VXLANPorts: []uint16{4789, 8472}})
	var p Packet
	for _, tc := range []struct {
		name string
		dg   []byte
	}{
		{"4789 without the I flag", udp(40000, 4789, cat([]byte{0, 0, 0, 0, 0, 0, 1, 0}, hello))},
		{"4789 with unknown flags", udp(40000, 4789, cat([]byte{0x0c, 0, 0, 4, 0, 0, 1, 0}, hello))},
		{"6081 version 1", udp(40000, 6081, cat([]byte{0x40, 0, 0x65, 0x58, 0, 0, 1, 0}, hello))},
		{"6081 unknown protocol", udp(40000, 6081, cat([]byte{0, 0, 0x12, 0x34, 0, 0, 1, 0}, hello))},
		{"2152 GTPv2", udp(40000, 2152, cat([]byte{0x48, 0xff, 0, 8, 0, 0, 0, 1}, hello))},
		{"2152 echo request", udp(40000, 2152, cat([]byte{0x32, 0x01, 0, 4, 0, 0, 0, 0}, hello))},
		{"5247 DTLS", udp(40000, 5247, cat([]byte{1, 0, 0, 0}, hello))},
		{"VXLAN header on another port", udp(40000, 4790, cat(vxlanHdr(1), eth(0x0800, ip4(ProtoTCP, tcpSeg, v4opt{}))))},
	} {
		data := ip4(ProtoUDP, tc.dg, v4opt{})
		if st := d.Decode(data, layers.LinkTypeRaw, ts0, &p); st != OK || p.NTunnels != 0 || p.Proto != ProtoUDP || len(p.Payload) != len(tc.dg)-8 {
			t.Errorf("%s: %v, %d layers, payload %d", tc.name, st, p.NTunnels, len(p.Payload))
		}
	}
	// A configured port is followed.
	f := ip4(ProtoUDP, udp(40000, 8472, cat(vxlanHdr(3), eth(0x0800, ip4(ProtoTCP, tcpSeg, v4opt{})))), v4opt{})
	if st := d.Decode(f, layers.LinkTypeRaw, ts0, &p); st != OK || p.NTunnels != 1 || p.Tunnels[0].ID != 3 {
		t.Errorf("port 8472: %v %d", st, p.NTunnels)
	}
}

// Hostile encapsulations are counted under their own status, in bounded time and memory.
func hostile() []struct {
	name string
	lt   layers.LinkType
	data []byte
	want Status
} {
	v4 := ip4(ProtoTCP, tcpSeg, v4opt{})
	greNest := v4
	for range 1000 {
		greNest = outer4(47, cat(greHdr(0x0800, false, -1, -1), greNest))
		if len(greNest) > 60000 {
			break
		}
	}
	greNest = greNest[:len(greNest)] // lengths beyond 64 KiB are cut by the IP header
	labels := make([]byte, 0, 4000)
	for i := range 1000 {
		labels = append(labels, mplsLabel(uint32(16+i), false)...)
	}
	loopExt := gtpHdr(1, v4)
	loopExt[0] |= 0x04
	loopExt = cat(loopExt[:8], u16(0), []byte{0, 0x85}, func() []byte {
		var b []byte
		for range 100 {
			b = cat(b, []byte{1, 0, 0, 0x85})
		}
		return b
	}(), v4)
	binary.BigEndian.PutUint16(loopExt[2:], uint16(len(loopExt)-8))
	zeroExt := cat([]byte{0x34, 0xff}, u16(8+len(v4)), u32(1), u16(0), []byte{0, 0x85}, []byte{0, 0, 0, 0}, v4)
	udp4 := func(dport int, h []byte) []byte { return eth(0x0800, outer4(ProtoUDP, udp(40000, dport, h))) }
	return []struct {
		name string
		lt   layers.LinkType
		data []byte
		want Status
	}{
		{"GRE in GRE 1000 deep", layers.LinkTypeRaw, greNest, TunnelLimit},
		{"VXLAN header cut short", layers.LinkTypeEthernet, udp4(4789, []byte{0x08, 0, 0, 0}), TunnelMalformed},
		{"VXLAN inner frame cut short", layers.LinkTypeEthernet, udp4(4789, cat(vxlanHdr(1), macA)), TunnelMalformed},
		{"1000 MPLS labels without bottom of stack", layers.LinkTypeEthernet, eth(0x8847, labels), TunnelLimit},
		{"MPLS stack running off the frame", layers.LinkTypeEthernet, eth(0x8847, labels[:12]), Truncated},
		{"MPLS stack running off a GRE packet", layers.LinkTypeRaw, outer4(47, cat(greHdr(0x8847, false, -1, -1), labels[:12])), TunnelMalformed},
		{"GTP-U extension chain that never ends", layers.LinkTypeEthernet, udp4(2152, loopExt), TunnelLimit},
		{"GTP-U extension header of length 0", layers.LinkTypeEthernet, udp4(2152, zeroExt), TunnelMalformed},
		{"ERSPAN II wrong version", layers.LinkTypeRaw, outer4(47, func() []byte { b := erspan2(1, eth(0x0800, v4)); b[8] = 0x20; return b }()), TunnelMalformed},
		{"ERSPAN III wrong version", layers.LinkTypeRaw, outer4(47, func() []byte { b := erspan3(1, eth(0x0800, v4)); b[8] = 0x10; return b }()), TunnelMalformed},
		{"GRE version 3", layers.LinkTypeRaw, outer4(47, cat([]byte{0, 3}, u16(0x0800), v4)), TunnelMalformed},
		{"GRE with routing", layers.LinkTypeRaw, outer4(47, cat([]byte{0x40, 0}, u16(0x0800), u32(0), v4)), TunnelMalformed},
		{"GRE key cut short", layers.LinkTypeRaw, outer4(47, []byte{0x20, 0, 8, 0, 1}), TunnelMalformed},
		{"PPTP without key", layers.LinkTypeRaw, outer4(47, cat([]byte{0, 1}, u16(0x880b), v4)), TunnelMalformed},
		{"PPPoE wrong version", layers.LinkTypeEthernet, eth(0x8864, cat([]byte{0x21, 0}, u16(1), u16(len(v4)+2), u16(0x21), v4)), TunnelMalformed},
		{"Geneve options past the datagram", layers.LinkTypeEthernet, udp4(6081, cat([]byte{0x3f, 0}, u16(0x6558), u32(0))), TunnelMalformed},
		{"CAPWAP header length below 8", layers.LinkTypeEthernet, udp4(5247, cat(u32(1<<19), u32(0), v4)), TunnelMalformed},
		{"IP in IP 1000 deep", layers.LinkTypeRaw, func() []byte {
			b := v4
			for range 1000 {
				b = outer4(4, b)
			}
			return b
		}(), TunnelLimit},
		{"VXLAN inside a frame cut by the snap length", layers.LinkTypeEthernet, udp4(4789, cat(vxlanHdr(1), eth(0x0800, v4)))[:14+20+8+8+10], Truncated},
	}
}

func TestHostileTunnels(t *testing.T) {
	for _, tc := range hostile() {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Config{})
			var p Packet
			if st := d.Decode(tc.data, tc.lt, ts0, &p); st != tc.want {
				t.Fatalf("status %v, want %v", st, tc.want)
			}
			if s := d.Stats(); s.sumStatuses() != 1 || s.Undecodable() != 1 {
				t.Errorf("stats %+v", *s)
			}
			if a := testing.AllocsPerRun(100, func() { d.Decode(tc.data, tc.lt, ts0, &p) }); a != 0 {
				t.Errorf("%.1f allocations", a)
			}
		})
	}
}

// TestTunnelID: the same inner 5-tuple in two VNIs gives two identities; both directions of a
// tunnelled flow give one, even though GTP TEIDs differ by direction.
func TestTunnelID(t *testing.T) {
	v4 := ip4(ProtoTCP, tcpSeg, v4opt{})
	d := New(Config{})
	id := func(data []byte) uint64 {
		var p Packet
		if st := d.Decode(data, layers.LinkTypeRaw, ts0, &p); st != OK {
			t.Fatalf("status %v", st)
		}
		return p.TunnelID()
	}
	swap := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		copy(b[12:16], outerB)
		copy(b[16:20], outerA)
		return b
	}
	vx := func(vni uint32) []byte { return outer4(ProtoUDP, udp(1, 4789, cat(vxlanHdr(vni), eth(0x0800, v4)))) }
	if id(vx(1)) == id(vx(2)) {
		t.Error("two VNIs, one identity")
	}
	if id(vx(1)) != id(swap(vx(1))) {
		t.Error("the two directions of a VXLAN tunnel differ")
	}
	if id(outer4(ProtoUDP, udp(2152, 2152, gtpHdr(1, v4)))) != id(swap(outer4(ProtoUDP, udp(2152, 2152, gtpHdr(2, v4))))) {
		t.Error("GTP-U uplink and downlink TEIDs split the flow")
	}
	if id(v4) != 0 {
		t.Error("plain packet with a tunnel identity")
	}
}

// TestTunnelledFragments: outer fragments carrying a tunnel, and inner fragments inside one,
// are both reassembled.
func TestTunnelledFragments(t *testing.T) {
	big := make([]byte, 3000)
	inner := ip4(ProtoUDP, udp(5060, 5060, big), v4opt{})
	// Outer fragmentation: a VXLAN datagram in two IPv4 fragments.
	dg := udp(1, 4789, cat(vxlanHdr(9), eth(0x0800, inner)))
	f1 := outer4Frag(ProtoUDP, dg[:1480], 0, true, 77)
	f2 := outer4Frag(ProtoUDP, dg[1480:], 1480, false, 77)
	d := New(Config{})
	var p Packet
	if st := d.Decode(f1, layers.LinkTypeRaw, ts0, &p); st != Fragment {
		t.Fatalf("first outer fragment: %v", st)
	}
	if st := d.Decode(f2, layers.LinkTypeRaw, ts0, &p); st != OK || p.NTunnels != 1 || len(p.Payload) != len(big) {
		t.Fatalf("outer reassembly: %v, %d layers, payload %d", st, p.NTunnels, len(p.Payload))
	}
	// Inner fragmentation: two VXLAN packets each carrying one fragment of the inner datagram.
	seg := udp(5060, 5060, big)
	i1 := ip4(ProtoUDP, seg[:1480], v4opt{id: 5, more: true})
	i2 := ip4(ProtoUDP, seg[1480:], v4opt{id: 5, off: 1480})
	wrap := func(b []byte, vni uint32) []byte {
		return outer4(ProtoUDP, udp(1, 4789, cat(vxlanHdr(vni), eth(0x0800, b))))
	}
	if st := d.Decode(wrap(i1, 9), layers.LinkTypeRaw, ts0, &p); st != Fragment {
		t.Fatalf("first inner fragment: %v", st)
	}
	// The same inner fragment id in another VNI is another datagram.
	if st := d.Decode(wrap(i2, 10), layers.LinkTypeRaw, ts0, &p); st != Fragment {
		t.Fatalf("inner fragment of another VNI: %v", st)
	}
	if st := d.Decode(wrap(i2, 9), layers.LinkTypeRaw, ts0, &p); st != OK || p.NTunnels != 1 || len(p.Payload) != len(big) {
		t.Fatalf("inner reassembly: %v, %d layers, payload %d", st, p.NTunnels, len(p.Payload))
	}
	// Both at once: the outer datagram completes and carries the last inner fragment.
	o := udp(1, 4789, cat(vxlanHdr(11), eth(0x0800, i2)))
	if st := d.Decode(wrap(i1, 11), layers.LinkTypeRaw, ts0, &p); st != Fragment {
		t.Fatalf("first inner fragment: %v", st)
	}
	if st := d.Decode(outer4Frag(ProtoUDP, o[:1000], 0, true, 78), layers.LinkTypeRaw, ts0, &p); st != Fragment {
		t.Fatalf("outer fragment: %v", st)
	}
	if st := d.Decode(outer4Frag(ProtoUDP, o[1000:], 1000, false, 78), layers.LinkTypeRaw, ts0, &p); st != OK || len(p.Payload) != len(big) {
		t.Fatalf("outer and inner reassembly: %v, payload %d", st, len(p.Payload))
	}
	for i, c := range p.Payload {
		if c != 0 {
			t.Fatalf("payload byte %d is %d", i, c)
		}
	}
}

func outer4Frag(proto int, payload []byte, off int, more bool, id int) []byte {
	b := ip4(proto, payload, v4opt{id: id, off: off, more: more})
	copy(b[12:], outerA)
	copy(b[16:], outerB)
	return b
}

// tunnelFrames are tunnelled frames for the allocation test, the benchmark and the fuzz seeds.
func tunnelFrames(payload []byte) []struct {
	name string
	lt   layers.LinkType
	data []byte
} {
	in := eth(0x0800, ip4(ProtoTCP, tcp(40000, 389, 1, 2, FlagACK, payload), v4opt{}))
	v4 := ip4(ProtoTCP, tcp(40000, 389, 1, 2, FlagACK, payload), v4opt{})
	return []struct {
		name string
		lt   layers.LinkType
		data []byte
	}{
		{"vxlan", layers.LinkTypeEthernet, eth(0x0800, outer4(ProtoUDP, udp(40000, 4789, cat(vxlanHdr(5001), in))))},
		{"erspan2", layers.LinkTypeEthernet, eth(0x0800, outer4(47, erspan2(7, in)))},
		{"geneve", layers.LinkTypeEthernet, eth(0x0800, outer4(ProtoUDP, udp(40000, 6081, cat(geneveHdr(0x6558, 1, 2), in))))},
		{"gtpu-ext", layers.LinkTypeEthernet, eth(0x0800, outer4(ProtoUDP, udp(2152, 2152, gtpHdr(9, v4, []byte{1, 2}))))},
		{"mpls2", layers.LinkTypeEthernet, eth(0x8847, cat(mplsLabel(100, false), mplsLabel(200, true), v4))},
		{"pppoe", layers.LinkTypeEthernet, eth(0x8864, pppoe(3, cat(u16(0x21), v4)))},
		{"vxlan-in-gre", layers.LinkTypeEthernet, eth(0x0800, outer4(47, cat(greHdr(0x0800, false, 1, -1), outer4(ProtoUDP, udp(1, 4789, cat(vxlanHdr(7), in))))))},
		{"6in4", layers.LinkTypeRaw, outer4(41, ip6(ProtoTCP, tcp(40000, 389, 1, 2, FlagACK, payload)))},
	}
}

func TestTunnelNoAllocs(t *testing.T) {
	d := New(Config{})
	var p Packet
	for _, f := range tunnelFrames(hello) {
		if st := d.Decode(f.data, f.lt, ts0, &p); st != OK || p.NTunnels == 0 {
			t.Fatalf("%s: %v", f.name, st)
		}
		if a := testing.AllocsPerRun(1000, func() { d.Decode(f.data, f.lt, ts0, &p) }); a != 0 {
			t.Errorf("%s: %.1f allocations per packet", f.name, a)
		}
	}
	// Reassembly of tunnelled fragments in the steady state.
	seg := udp(5060, 5060, make([]byte, 2000))
	wrap := func(b []byte) []byte {
		return outer4(ProtoUDP, udp(1, 4789, cat(vxlanHdr(1), eth(0x0800, b))))
	}
	f1 := wrap(ip4(ProtoUDP, seg[:1480], v4opt{id: 5, more: true}))
	f2 := wrap(ip4(ProtoUDP, seg[1480:], v4opt{id: 5, off: 1480}))
	if a := reassemblyAllocs(t, d, layers.LinkTypeRaw, f1, f2); a != 0 {
		t.Errorf("tunnelled reassembly: %.1f allocations per datagram", a)
	}
}

// TestTunnelTruncationPrefixes: every prefix of a tunnelled frame is Truncated (or OK once the
// innermost transport header is whole), never a damaged tunnel.
func TestTunnelTruncationPrefixes(t *testing.T) {
	for _, f := range tunnelFrames(hello) {
		d := New(Config{})
		var p Packet
		for n := 0; n < len(f.data); n++ {
			st := d.Decode(f.data[:n], f.lt, ts0, &p)
			udpTunnel := f.name == "vxlan" || f.name == "geneve" || f.name == "gtpu-ext"
			switch {
			case st == Truncated:
			case st == OK && len(p.Payload) < len(hello):
				// the innermost transport header is whole: a payload cut by the snap length,
				// or a UDP tunnel's datagram cut before its first byte (a plain UDP packet)
				if p.NTunnels == 0 && (!udpTunnel || len(p.Payload) != 0) {
					t.Errorf("%s cut at %d: plain packet with %d payload bytes", f.name, n, len(p.Payload))
				}
			default:
				t.Errorf("%s cut at %d: %v (%d layers, %d payload)", f.name, n, st, p.NTunnels, len(p.Payload))
			}
		}
	}
}

// TestCopyTo: CopyTo copies every field of a Packet (a field added later and forgotten fails
// here).
func TestCopyTo(t *testing.T) {
	var p Packet
	v := reflect.ValueOf(&p).Elem()
	var fill func(v reflect.Value, seed int)
	fill = func(v reflect.Value, seed int) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				fill(v.Field(i), seed+i*7)
			}
		case reflect.Array:
			for i := range v.Len() {
				fill(v.Index(i), seed+i*13)
			}
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(uint64(seed%200 + 1))
		case reflect.Int:
			v.SetInt(int64(seed + 1))
		case reflect.Slice:
			v.Set(reflect.ValueOf([]byte("payload")))
		default:
			t.Fatalf("field of kind %v: teach the test", v.Kind())
		}
	}
	fill(v, 1)
	p.NTunnels = MaxTunnels
	var q Packet
	p.CopyTo(&q)
	if !reflect.DeepEqual(p, q) {
		t.Errorf("copy differs:\n%+v\n%+v", p, q)
	}
}
