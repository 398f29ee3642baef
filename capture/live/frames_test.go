package live

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pcapaudit/pcapaudit/capture"
)

// spec is one test frame: a UDP datagram between two 127.0.0.0/8 endpoints carrying a
// 4-byte id, optionally 802.1Q-tagged.
type spec struct {
	src, dst netip.AddrPort
	vlan     int // -1: untagged
	id       uint32
	size     int // UDP payload bytes, at least 4
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

func (s spec) frame(t testing.TB) []byte {
	t.Helper()
	size := max(s.size, 4)
	payload := make([]byte, size)
	binary.BigEndian.PutUint32(payload, s.id)
	eth := &layers.Ethernet{SrcMAC: macB, DstMAC: macA, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: s.src.Addr().AsSlice(), DstIP: s.dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(s.src.Port()), DstPort: layers.UDPPort(s.dst.Port())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ls := []gopacket.SerializableLayer{eth}
	if s.vlan >= 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(s.vlan), Type: layers.EthernetTypeIPv4})
	}
	ls = append(ls, ip, udp, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(buf.Bytes())
}

// got is what a test keeps of a received frame.
type got struct {
	source   int
	id       uint32
	src, dst netip.AddrPort
	inTag    int // VLAN tag still in the frame, -1 if none
	pkt      capture.Packet
}

// parse reads back a frame built by spec.frame (with or without its tag in the data).
func parse(p *capture.Packet) (g got, ok bool) {
	d := p.Data
	g.inTag = -1
	if len(d) < 14 {
		return g, false
	}
	et, off := binary.BigEndian.Uint16(d[12:]), 14
	if et == 0x8100 && len(d) >= 18 {
		g.inTag = int(binary.BigEndian.Uint16(d[14:]) & 0x0fff)
		et, off = binary.BigEndian.Uint16(d[16:]), 18
	}
	if et != 0x0800 || len(d) < off+20+8+4 || d[off+9] != 17 {
		return g, false
	}
	ihl := int(d[off]&0x0f) * 4
	ip, udp := d[off:], d[off+ihl:]
	if len(udp) < 12 {
		return g, false
	}
	g.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:]))
	g.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:]))
	g.id = binary.BigEndian.Uint32(udp[8:])
	g.pkt = *p
	g.pkt.Data = nil // not kept: it aliases the ring
	return g, true
}

func addr(ip string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), port)
}

func sum(st []Stats) (s Stats) {
	for _, x := range st {
		s.Packets += x.Packets
		s.Drops += x.Drops
		s.QueueFreezes += x.QueueFreezes
		s.IfDrops += x.IfDrops
		s.Delivered += x.Delivered
		s.Bytes += x.Bytes
	}
	return s
}
