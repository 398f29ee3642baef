package decode

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// FuzzDecode decodes arbitrary bytes under each link type, twice (the second time with fragment
// state from the first): no panic, payload inside the frame unless reassembled, counters add up.
func FuzzDecode(f *testing.F) {
	f.Add(uint16(layers.LinkTypeEthernet), eth(0x0800, ip4(ProtoTCP, tcpSeg, v4opt{}), 0x8100))
	f.Add(uint16(layers.LinkTypeLinuxSLL2), sll2(0x86dd, ip6(ProtoUDP, udpDg, hbh(0, 0), frag6(8, true, 3))))
	f.Add(uint16(layers.LinkTypeRaw), ip4(ProtoUDP, udpDg[:16], v4opt{id: 1, more: true}))
	f.Add(uint16(layers.LinkTypeNull), null(30, true, ip6(ProtoTCP, tcpSeg, hbh(43, 1))))
	f.Add(uint16(layers.LinkTypeLinuxSLL), sll(0x0806, make([]byte, 28)))
	for _, tf := range tunnelFrames(hello) {
		f.Add(uint16(tf.lt), tf.data)
	}
	for _, h := range hostile() {
		if len(h.data) < 8192 {
			f.Add(uint16(h.lt), h.data)
		}
	}
	f.Add(uint16(105), dot11(0x0800, ip4(ProtoUDP, udpDg, v4opt{})))
	f.Add(uint16(50), cat([]byte{0xff, 0x03}, u16(0x21), ip4(ProtoTCP, tcpSeg, v4opt{})))
	f.Add(uint16(layers.LinkTypeEthernet), eth(0x0800, outer4(ProtoUDP, udp(1, 5247, capwapHdr(eth(0x0800, ip4(ProtoUDP, udpDg[:16], v4opt{id: 2, more: true})))))))
	f.Fuzz(func(t *testing.T, lt uint16, data []byte) {
		d := New(Config{FragDatagrams: 4, FragMemory: 1})
		var p Packet
		for i := 0; i < 2; i++ {
			st := d.Decode(data, layers.LinkType(lt), ts0, &p)
			if st == OK {
				if p.Proto != ProtoTCP && p.Proto != ProtoUDP {
					t.Fatalf("proto %d", p.Proto)
				}
				if d.Stats().FragReassembled == 0 && len(p.Payload) > len(data) {
					t.Fatalf("payload %d bytes from a %d-byte frame", len(p.Payload), len(data))
				}
			}
		}
		s := d.Stats()
		if s.sumStatuses() != s.Packets || s.Packets != 2 {
			t.Fatalf("stats %+v", *s)
		}
	})
}

// FuzzReassemble drives the reassembler with fragment sequences read from the input, 5 bytes
// each: datagram id, offset in 8-byte units (2 bytes), length in 8-byte units, more flag and
// time step. Bounds must hold after every fragment.
func FuzzReassemble(f *testing.F) {
	f.Add([]byte{1, 0, 0, 2, 1, 1, 0, 2, 2, 0})
	f.Add([]byte{1, 0, 1, 2, 0, 1, 0, 0, 2, 1, 2, 0, 0, 1, 1, 1, 0, 1, 1, 0x41})
	f.Add([]byte{9, 0x1f, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		d := New(Config{FragDatagrams: 3, FragPerDatagram: 5, FragMemory: 100 << 10})
		var p Packet
		ts := ts0
		data := make([]byte, 255*8)
		for i := range data {
			data[i] = byte(i)
		}
		for ; len(in) >= 5; in = in[5:] {
			off := int(in[1])<<8 | int(in[2])
			n := int(in[3]) * 8
			if in[4]&1 == 0 && n > 0 {
				n -= int(in[4]>>1) & 7 // last fragments may have any length
			}
			ts = ts.Add(time.Duration(in[4]>>4) * 3 * time.Second)
			frame := ip4(ProtoUDP, data[:n], v4opt{id: int(in[0]), off: (off & 0x1fff) * 8, more: in[4]&1 != 0})
			st := d.Decode(frame, layers.LinkTypeRaw, ts, &p)
			if st == OK && p.IPLen < 20+8 {
				t.Fatalf("IPLen %d for %d payload bytes", p.IPLen, len(p.Payload))
			}
			r := &d.frag
			if len(r.index) > 3 || r.bytes > 100<<10 {
				t.Fatalf("%d datagrams, %d bytes", len(r.index), r.bytes)
			}
			live := 0
			for i := r.head; i >= 0; i = r.slots[i].next {
				live++
				if len(r.slots[i].spans) > 5 || live > 3 {
					t.Fatal("bounds")
				}
			}
			if live != len(r.index) {
				t.Fatalf("age list %d, index %d", live, len(r.index))
			}
		}
	})
}
