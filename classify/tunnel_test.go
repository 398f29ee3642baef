package classify

import (
	"net/netip"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// vxlanPkt puts p inside a VXLAN layer with VNI vni between two VTEPs (swapped for a reply).
func vxlanPkt(p *decode.Packet, vni uint32, reply bool) *decode.Packet {
	a, b := netip.MustParseAddr("127.0.1.1").As16(), netip.MustParseAddr("127.0.1.2").As16()
	a[10], a[11], b[10], b[11] = 0xff, 0xff, 0xff, 0xff
	if reply {
		a, b = b, a
	}
	p.Tunnels[0] = decode.Tunnel{Type: decode.TunnelVXLAN, HasAddr: true, IPv4: true, HasID: true, ID: vni, Src: a, Dst: b}
	p.NTunnels = 1
	p.VLAN, p.NVLAN = [2]uint16{30, 40}, 2
	return p
}

// TestTunnelledFlowsStayApart: the same inner 5-tuple in two VNIs is two flows, both directions
// of each are one, and the records say how they arrived, the tunnel source on the client side.
func TestTunnelledFlowsStayApart(t *testing.T) {
	h := newHarness(t, Config{})
	for _, vni := range []uint32{100, 200} {
		h.send(vxlanPkt(pkt(cli, srv, decode.ProtoTCP, syn, 1, 0, ""), vni, false), 0)
		h.send(vxlanPkt(pkt(srv, cli, decode.ProtoTCP, synack, 9, 2, ""), vni, true), 0)
		h.send(vxlanPkt(pkt(cli, srv, decode.ProtoTCP, ack, 2, 10, "HELLO\n"), vni, false), 0)
	}
	// A plain flow with the same 5-tuple is a third.
	h.send(pkt(cli, srv, decode.ProtoUDP, 0, 0, 0, "x\n"), 0)
	h.e.Flush()
	if len(h.recs) != 3 {
		t.Fatalf("%d records, want 3", len(h.recs))
	}
	seen := map[uint32]bool{}
	for _, r := range h.recs {
		if r.Transport == flow.UDP {
			if r.Tunnel != nil || r.NVLAN != 0 {
				t.Errorf("plain flow with tunnel %v vlan %d", r.Tunnel, r.NVLAN)
			}
			continue
		}
		if r.Packets[0] != 2 || r.Packets[1] != 1 {
			t.Errorf("packets %v: the directions were split", r.Packets)
		}
		tl := r.TunnelLayers()
		if len(tl) != 1 || tl[0].Type != "vxlan" || !tl[0].HasID {
			t.Fatalf("tunnel %+v", tl)
		}
		tu := tl[0]
		seen[tu.ID] = true
		if tu.Source.String() != "127.0.1.1" || tu.Destination.String() != "127.0.1.2" {
			t.Errorf("tunnel endpoints %v %v", tu.Source, tu.Destination)
		}
		if r.NVLAN != 2 || r.VLAN != [2]uint16{30, 40} {
			t.Errorf("vlan %v %d", r.VLAN, r.NVLAN)
		}
		if r.Client != cli || r.Server != srv {
			t.Errorf("endpoints %v %v", r.Client, r.Server)
		}
	}
	if !seen[100] || !seen[200] {
		t.Errorf("VNIs %v", seen)
	}
}
