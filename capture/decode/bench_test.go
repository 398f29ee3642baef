package decode

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var benchPayload = make([]byte, 512)

var benchFrames = []struct {
	name string
	lt   layers.LinkType
	data []byte
}{
	{"ethernet-ipv4-tcp", layers.LinkTypeEthernet, eth(0x0800, ip4(ProtoTCP, tcp(40000, 389, 1, 2, FlagACK, benchPayload), v4opt{}))},
	{"ethernet-vlan-ipv4-udp", layers.LinkTypeEthernet, eth(0x0800, ip4(ProtoUDP, udp(5060, 5060, benchPayload), v4opt{}), 0x8100)},
	{"ethernet-ipv6-ext-tcp", layers.LinkTypeEthernet, eth(0x86dd, ip6(ProtoTCP, tcp(40000, 636, 1, 2, FlagACK, benchPayload), hbh(0, 0), hbh(60, 0)))},
	{"sll-ipv4-tcp", layers.LinkTypeLinuxSLL, sll(0x0800, ip4(ProtoTCP, tcp(40000, 389, 1, 2, FlagACK, benchPayload), v4opt{}))},
	{"sll2-ipv6-udp", layers.LinkTypeLinuxSLL2, sll2(0x86dd, ip6(ProtoUDP, udp(123, 123, benchPayload)))},
	{"raw-ipv4-udp", layers.LinkTypeRaw, ip4(ProtoUDP, udp(123, 123, benchPayload), v4opt{})},
	{"null-ipv6-tcp", layers.LinkTypeNull, null(30, true, ip6(ProtoTCP, tcp(40000, 5061, 1, 2, FlagACK, benchPayload)))},
	{"ethernet-arp", layers.LinkTypeEthernet, eth(0x0806, make([]byte, 28))},
}

func BenchmarkDecode(b *testing.B) { benchDecode(b, benchFrames) }

// BenchmarkDecodeTunnel decodes the same TCP segment as ethernet-ipv4-tcp inside each tunnel.
func BenchmarkDecodeTunnel(b *testing.B) { benchDecode(b, tunnelFrames(benchPayload)) }

func benchDecode(b *testing.B, frames []struct {
	name string
	lt   layers.LinkType
	data []byte
}) {
	for _, f := range frames {
		b.Run(f.name, func(b *testing.B) {
			d := New(Config{})
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(f.data)))
			for i := 0; i < b.N; i++ {
				d.Decode(f.data, f.lt, ts0, &p)
			}
		})
	}
}

func BenchmarkReassemble(b *testing.B) {
	payload := udp(53, 53, make([]byte, 2000))
	f1 := eth(0x0800, ip4(ProtoUDP, payload[:1480], v4opt{id: 7, more: true}))
	f2 := eth(0x0800, ip4(ProtoUDP, payload[1480:], v4opt{id: 7, off: 1480}))
	d := New(Config{})
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(f1) + len(f2)))
	for i := 0; i < b.N; i++ {
		d.Decode(f1, layers.LinkTypeEthernet, ts0, &p)
		d.Decode(f2, layers.LinkTypeEthernet, ts0, &p)
	}
}

// BenchmarkDecodingLayerParser is the gopacket alternative, for comparison: preallocated layers
// and a DecodingLayerParser over Ethernet/VLAN/IPv4/IPv6/TCP/UDP, on the same frames. gopacket's
// IPv6 extension header layers are not DecodingLayers, so it stops at the first one.
func BenchmarkDecodingLayerParser(b *testing.B) {
	for _, f := range benchFrames[:3] {
		b.Run(f.name, func(b *testing.B) {
			var (
				eth  layers.Ethernet
				vlan layers.Dot1Q
				ip4  layers.IPv4
				ip6  layers.IPv6
				tcp  layers.TCP
				udp  layers.UDP
				pl   gopacket.Payload
			)
			parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &vlan, &ip4, &ip6, &tcp, &udp, &pl)
			parser.IgnoreUnsupported = true
			decoded := make([]gopacket.LayerType, 0, 10)
			b.ReportAllocs()
			b.SetBytes(int64(len(f.data)))
			for i := 0; i < b.N; i++ {
				_ = parser.DecodeLayers(f.data, &decoded)
			}
		})
	}
}
