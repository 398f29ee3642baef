package decode

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

var ts0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	hello  = []byte("hello, world")
	tcpSeg = tcp(40000, 389, 1000, 2000, FlagPSH|FlagACK, hello)
	udpDg  = udp(5060, 5080, hello)
)

func wantTCP4(iplen int) Packet {
	return Packet{Proto: ProtoTCP, IPv4: true, Src: mapped(v4A), Dst: mapped(v4B), SrcPort: 40000, DstPort: 389,
		IPLen: iplen, Flags: FlagPSH | FlagACK, Seq: 1000, Ack: 2000, Payload: hello}
}

func wantUDP6(iplen int) Packet {
	return Packet{Proto: ProtoUDP, Src: addr16(v6A), Dst: addr16(v6B), SrcPort: 5060, DstPort: 5080,
		IPLen: iplen, Payload: hello}
}

func samePacket(a, b *Packet) bool {
	return a.Proto == b.Proto && a.IPv4 == b.IPv4 && a.Src == b.Src && a.Dst == b.Dst &&
		a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.IPLen == b.IPLen &&
		a.Flags == b.Flags && a.Seq == b.Seq && a.Ack == b.Ack && bytes.Equal(a.Payload, b.Payload)
}

func TestLinkTypes(t *testing.T) {
	v4 := ip4(ProtoTCP, tcpSeg, v4opt{})
	v6 := ip6(ProtoUDP, udpDg)
	t4, u6 := wantTCP4(len(v4)), wantUDP6(len(v6))
	tests := []struct {
		name string
		lt   layers.LinkType
		data []byte
		want Packet
	}{
		{"ethernet ipv4 tcp", layers.LinkTypeEthernet, eth(0x0800, v4), t4},
		{"ethernet ipv6 udp", layers.LinkTypeEthernet, eth(0x86dd, v6), u6},
		{"802.1Q", layers.LinkTypeEthernet, eth(0x0800, v4, 0x8100), t4},
		{"802.1ad + 802.1Q (QinQ)", layers.LinkTypeEthernet, eth(0x86dd, v6, 0x88a8, 0x8100), u6},
		{"old QinQ 0x9100", layers.LinkTypeEthernet, eth(0x0800, v4, 0x9100, 0x8100), t4},
		{"8 tags", layers.LinkTypeEthernet, eth(0x0800, v4, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100), t4},
		{"ethernet padding trimmed", layers.LinkTypeEthernet, eth(0x86dd, cat(v6, make([]byte, 6))), u6},
		{"linux cooked", layers.LinkTypeLinuxSLL, sll(0x0800, v4), t4},
		{"linux cooked vlan", layers.LinkTypeLinuxSLL, sll(0x8100, cat(u16(100), u16(0x86dd), v6)), u6},
		{"linux cooked v2", layers.LinkTypeLinuxSLL2, sll2(0x86dd, v6), u6},
		{"raw 101 v4", layers.LinkTypeRaw, v4, t4},
		{"raw 101 v6", layers.LinkTypeRaw, v6, u6},
		{"raw DLT 12", 12, v4, t4},
		{"raw DLT 14", 14, v6, u6},
		{"ipv4 228", layers.LinkTypeIPv4, v4, t4},
		{"ipv6 229", layers.LinkTypeIPv6, v6, u6},
		{"null LE AF_INET", layers.LinkTypeNull, null(2, true, v4), t4},
		{"null BE AF_INET", layers.LinkTypeNull, null(2, false, v4), t4},
		{"null LE AF_INET6 BSD", layers.LinkTypeNull, null(24, true, v6), u6},
		{"null BE AF_INET6 FreeBSD", layers.LinkTypeNull, null(28, false, v6), u6},
		{"null LE AF_INET6 Darwin", layers.LinkTypeNull, null(30, true, v6), u6},
		{"loop AF_INET", layers.LinkTypeLoop, null(2, false, v4), t4},
		{"loop AF_INET6", layers.LinkTypeLoop, null(30, false, v6), u6},
		{"ipv4 options", layers.LinkTypeRaw, ip4(ProtoTCP, tcpSeg, v4opt{ihl: 7}), wantTCP4(28 + len(tcpSeg))},
		{"ipv4 total length 0 (offload)", layers.LinkTypeRaw, func() []byte {
			b := ip4(ProtoTCP, tcpSeg, v4opt{})
			b[2], b[3] = 0, 0
			return b
		}(), t4},
		{"ipv6 extension headers", layers.LinkTypeRaw, ip6(ProtoUDP, udpDg, hbh(0, 0), hbh(60, 1), hbh(43, 0), ext{51, make([]byte, 11)}, frag6(0, false, 9)), wantUDP6(40 + 8 + 16 + 8 + 12 + 8 + len(udpDg))},
		{"ipv6 16 extension headers", layers.LinkTypeRaw, ip6(ProtoUDP, udpDg, chain(16)...), wantUDP6(40 + 16*8 + len(udpDg))},
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
		})
	}
}

func chain(n int) []ext {
	e := make([]ext, n)
	for i := range e {
		e[i] = hbh(60, 0)
	}
	e[0] = hbh(0, 0)
	return e
}

func TestStatuses(t *testing.T) {
	v4 := ip4(ProtoTCP, tcpSeg, v4opt{})
	arp := make([]byte, 28)
	big := make([]byte, 65535-40)
	for i := range big {
		big[i] = byte(i)
	}
	bigTCP := tcp(1, 2, 3, 4, FlagACK, big)
	tags10 := []int{0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100}
	badDoff := append([]byte(nil), tcpSeg...)
	badDoff[12] = 15 << 4 // 60-byte header in a 32-byte segment
	lowDoff := append([]byte(nil), tcpSeg...)
	lowDoff[12] = 4 << 4
	longUDP := append([]byte(nil), udpDg...)
	longUDP[5] = 200
	shortUDP := append([]byte(nil), udpDg...)
	shortUDP[5] = 7

	tests := []struct {
		name string
		lt   layers.LinkType
		data []byte
		want Status
	}{
		{"ARP", layers.LinkTypeEthernet, eth(0x0806, arp), NotIP},
		{"ARP under VLAN", layers.LinkTypeEthernet, eth(0x0806, arp, 0x8100), NotIP},
		{"802.3 LLC", layers.LinkTypeEthernet, eth(0x0026, make([]byte, 38)), NotIP},
		{"null AF 7", layers.LinkTypeNull, null(7, true, v4), NotIP},
		{"ICMP", layers.LinkTypeEthernet, eth(0x0800, ip4(1, make([]byte, 8), v4opt{})), NotTCPUDP},
		{"SCTP", layers.LinkTypeLinuxSLL, sll(0x0800, ip4(132, make([]byte, 12), v4opt{})), NotTCPUDP},
		{"ESP", layers.LinkTypeEthernet, eth(0x0800, ip4(50, make([]byte, 16), v4opt{})), NotTCPUDP},
		{"ICMPv6", layers.LinkTypeRaw, ip6(58, make([]byte, 8)), NotTCPUDP},
		{"IPv6 no next header", layers.LinkTypeRaw, ip6(59, nil), NotTCPUDP},
		{"DOCSIS", layers.LinkTypeDOCSIS, make([]byte, 64), UnsupportedLink},
		{"user link type 147", 147, make([]byte, 64), UnsupportedLink},
		{"PPI of an unknown link type", 192, cat([]byte{0, 0, 8, 0}, []byte{147, 0, 0, 0}, make([]byte, 20)), UnsupportedLink},
		{"radiotap version 1", 127, cat([]byte{1, 0, 8, 0}, make([]byte, 40)), Malformed},
		{"radiotap length past the frame", 127, cat([]byte{0, 0, 200, 0}, make([]byte, 40)), Truncated},
		{"PPI length below 8", 192, cat([]byte{0, 0, 4, 0}, make([]byte, 40)), Malformed},
		{"802.11 management frame", 105, cat([]byte{0x80, 0}, make([]byte, 40)), NotIP},
		{"802.11 protected data", 105, cat([]byte{0x08, 0x41}, make([]byte, 40)), NotIP},
		{"802.11 null data", 105, cat([]byte{0x48, 0x01}, make([]byte, 40)), NotIP},
		{"802.11 without LLC/SNAP", 105, cat([]byte{0x08, 0x01}, make([]byte, 40)), NotIP},
		{"PPP LCP", layers.LinkTypePPP, cat([]byte{0xff, 0x03, 0xc0, 0x21}, make([]byte, 20)), NotIP},
		{"Cisco HDLC SLARP", 104, cat([]byte{0x8f, 0, 0x80, 0x35}, make([]byte, 20)), NotIP},

		{"empty ethernet", layers.LinkTypeEthernet, nil, Truncated},
		{"empty SLL", layers.LinkTypeLinuxSLL, nil, Truncated},
		{"empty SLL2", layers.LinkTypeLinuxSLL2, nil, Truncated},
		{"empty raw", layers.LinkTypeRaw, nil, Truncated},
		{"empty null", layers.LinkTypeNull, nil, Truncated},
		{"ethernet header only", layers.LinkTypeEthernet, eth(0x0800, nil), Truncated},
		{"VLAN tag cut", layers.LinkTypeEthernet, cat(macA, macB, u16(0x8100), []byte{0}), Truncated},
		{"ipv4 header cut", layers.LinkTypeRaw, v4[:19], Truncated},
		{"ipv4 options cut", layers.LinkTypeRaw, ip4(ProtoTCP, nil, v4opt{ihl: 15})[:40], Truncated},
		{"ipv6 header cut", layers.LinkTypeRaw, ip6(ProtoUDP, udpDg)[:39], Truncated},
		{"tcp header cut by snap length", layers.LinkTypeRaw, v4[:30], Truncated},
		{"tcp data offset past the capture", layers.LinkTypeRaw, ip4(ProtoTCP, badDoff, v4opt{tl: 20 + 60})[:20+len(badDoff)], Truncated},
		{"tcp data offset past the IP length", layers.LinkTypeRaw, ip4(ProtoTCP, badDoff, v4opt{}), Malformed},
		{"tcp data offset below 5", layers.LinkTypeRaw, ip4(ProtoTCP, lowDoff, v4opt{}), Malformed},
		{"tcp shorter than 20 in the IP length", layers.LinkTypeRaw, ip4(ProtoTCP, tcpSeg[:12], v4opt{}), Malformed},
		{"udp length past the IP length", layers.LinkTypeRaw, ip4(ProtoUDP, longUDP, v4opt{}), Malformed},
		{"udp length below 8", layers.LinkTypeRaw, ip4(ProtoUDP, shortUDP, v4opt{}), Malformed},

		{"10 VLAN tags", layers.LinkTypeEthernet, eth(0x0800, v4, tags10...), Malformed},
		{"9 VLAN tags", layers.LinkTypeEthernet, eth(0x0800, v4, tags10[:9]...), Malformed},
		{"ip version 5 on raw", layers.LinkTypeRaw, ip4(ProtoTCP, tcpSeg, v4opt{version: 5}), Malformed},
		{"VLAN then no IPv6 bytes", layers.LinkTypeEthernet, eth(0x86dd, nil, 0x8100), Truncated},
		{"ipv4 ethertype, version 6", layers.LinkTypeEthernet, eth(0x0800, ip6(ProtoUDP, udpDg)), Malformed},
		{"ihl below 5", layers.LinkTypeRaw, ip4(ProtoTCP, tcpSeg, v4opt{ihl: 4}), Malformed},
		{"total length below ihl", layers.LinkTypeRaw, ip4(ProtoTCP, tcpSeg, v4opt{tl: 12}), Malformed},
		{"17 IPv6 extension headers", layers.LinkTypeRaw, ip6(ProtoUDP, udpDg, chain(17)...), Malformed},
		{"IPv6 extension header past the end", layers.LinkTypeRaw, ip6(ProtoUDP, nil, hbh(0, 3))[:40+16], Truncated},
		{"IPv6 extension length past the payload length", layers.LinkTypeRaw, func() []byte {
			b := ip6(ProtoUDP, udpDg, hbh(0, 0))
			b[41] = 20
			return b
		}(), Malformed},

		{"64 KiB IPv4 TCP", layers.LinkTypeRaw, ip4(ProtoTCP, bigTCP, v4opt{tl: 65535})[:65535], OK},
		{"64 KiB IPv6 jumbo-style UDP", layers.LinkTypeRaw, func() []byte {
			b := ip6(ProtoUDP, udp(1, 2, make([]byte, 70000)))
			b[4], b[5] = 0, 0 // payload length 0: take what was captured
			b[40+4], b[40+5] = 0, 0
			return b
		}(), OK},
		{"tcp payload cut by snap length", layers.LinkTypeRaw, v4[:len(v4)-4], OK},
		{"IPv6 atomic fragment", layers.LinkTypeRaw, ip6(ProtoTCP, tcpSeg, frag6(0, false, 1)), OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Config{})
			var p Packet
			if st := d.Decode(tc.data, tc.lt, ts0, &p); st != tc.want {
				t.Fatalf("status %v, want %v", st, tc.want)
			}
			s := d.Stats()
			if s.Packets != 1 || s.sumStatuses() != 1 {
				t.Errorf("stats %+v", *s)
			}
		})
	}
}

func TestTruncationPrefixes(t *testing.T) {
	frames := []struct {
		lt   layers.LinkType
		data []byte
	}{
		{layers.LinkTypeEthernet, eth(0x0800, ip4(ProtoTCP, tcpSeg, v4opt{ihl: 6}), 0x88a8, 0x8100)},
		{layers.LinkTypeLinuxSLL2, sll2(0x86dd, ip6(ProtoUDP, udpDg, hbh(0, 1), frag6(0, false, 2)))},
		{layers.LinkTypeNull, null(30, true, ip6(ProtoTCP, tcpSeg))},
	}
	for _, f := range frames {
		d := New(Config{})
		var p Packet
		if st := d.Decode(f.data, f.lt, ts0, &p); st != OK {
			t.Fatalf("%v whole: %v", f.lt, st)
		}
		for n := 0; n < len(f.data); n++ {
			st := d.Decode(f.data[:n], f.lt, ts0, &p)
			switch st {
			case Truncated:
			case OK: // only once the transport header is whole: a payload cut by the snap length
				if len(p.Payload) >= len(hello) {
					t.Errorf("%v cut at %d: whole payload from a cut frame", f.lt, n)
				}
			default:
				t.Errorf("%v cut at %d: %v", f.lt, n, st)
			}
		}
	}
}

func TestStatsAdd(t *testing.T) {
	d := New(Config{})
	var p Packet
	d.Decode(eth(0x0800, ip4(ProtoTCP, tcpSeg, v4opt{})), layers.LinkTypeEthernet, ts0, &p)
	d.Decode(eth(0x0806, nil), layers.LinkTypeEthernet, ts0, &p)
	d.Decode(nil, layers.LinkTypeEthernet, ts0, &p)
	var sum Stats
	sum.Add(d.Stats())
	sum.Add(d.Stats())
	want := Stats{Packets: 6, OK: 2, NotIP: 2, Truncated: 2}
	if sum != want {
		t.Errorf("sum %+v, want %+v", sum, want)
	}
	if sum.Undecodable() != 2 {
		t.Errorf("undecodable %d", sum.Undecodable())
	}
}

// TestNoAllocs: the per-packet path allocates nothing.
func TestNoAllocs(t *testing.T) {
	frames := []struct {
		name string
		lt   layers.LinkType
		data []byte
	}{
		{"ethernet ipv4 tcp", layers.LinkTypeEthernet, eth(0x0800, ip4(ProtoTCP, tcpSeg, v4opt{}))},
		{"vlan", layers.LinkTypeEthernet, eth(0x0800, ip4(ProtoTCP, tcpSeg, v4opt{}), 0x88a8, 0x8100)},
		{"ipv6 extension headers", layers.LinkTypeEthernet, eth(0x86dd, ip6(ProtoTCP, tcpSeg, hbh(0, 0), hbh(60, 1), hbh(43, 0)))},
		{"udp", layers.LinkTypeEthernet, eth(0x0800, ip4(ProtoUDP, udpDg, v4opt{}))},
		{"sll2", layers.LinkTypeLinuxSLL2, sll2(0x86dd, ip6(ProtoUDP, udpDg))},
		{"arp", layers.LinkTypeEthernet, eth(0x0806, make([]byte, 28))},
	}
	d := New(Config{})
	var p Packet
	for _, f := range frames {
		if a := testing.AllocsPerRun(1000, func() { d.Decode(f.data, f.lt, ts0, &p) }); a != 0 {
			t.Errorf("%s: %.1f allocations per packet", f.name, a)
		}
	}
	// Reassembly in the steady state: buffers and slots are reused.
	payload := udp(53, 53, make([]byte, 2000))
	f1 := eth(0x0800, ip4(ProtoUDP, payload[:1480], v4opt{id: 7, more: true}))
	f2 := eth(0x0800, ip4(ProtoUDP, payload[1480:], v4opt{id: 7, off: 1480}))
	if a := reassemblyAllocs(t, d, layers.LinkTypeEthernet, f1, f2); a != 0 {
		t.Errorf("reassembly: %.1f allocations per datagram", a)
	}
}

// reassemblyAllocs returns the allocations per datagram of decoding f1 (a held fragment) then
// f2 (completing it), over and over.
func reassemblyAllocs(t *testing.T, d *Decoder, lt layers.LinkType, f1, f2 []byte) float64 {
	var p Packet
	ts := ts0
	return testing.AllocsPerRun(1000, func() {
		ts = ts.Add(time.Millisecond)
		if st := d.Decode(f1, lt, ts, &p); st != Fragment {
			t.Fatal(st)
		}
		if st := d.Decode(f2, lt, ts, &p); st != OK {
			t.Fatal(st)
		}
	})
}
