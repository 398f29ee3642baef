package classify

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestTCPFlowWithoutPayloadHasNoFlowYetAndTheSameRecord: a TCP flow gets its flow.Flow with its
// first payload; through the handshake and bare ACKs it holds only its entry and its
// reassembly state. Whether it ends with no payload at all (FIN, RST, idle, end of input, an
// interim report) or carries payload later, its record is the one a Flow made at the SYN gave:
// counters by direction, times, first frame, file, VLANs and tunnel, end reason and end time,
// client and server as the SYN (or the SYN-ACK, or the first sender) fixed them.
func TestTCPFlowWithoutPayloadHasNoFlowYetAndTheSameRecord(t *testing.T) {
	T := uint8(decode.ProtoTCP)
	ms := time.Millisecond
	type step struct {
		p     *decode.Packet
		after time.Duration
	}
	in := func(p *decode.Packet, reply bool) *decode.Packet { return vxlanPkt(p, 100, reply) }
	cases := []struct {
		name     string
		cfg      Config
		steps    []step
		end      func(h *harness)
		want     flow.Record // Client, Server, Transport, File and the tunnel are checked apart
		noFlow   bool        // the flow still has no Flow before it ends
		interims int
	}{
		{
			name: "handshake then FIN both ways",
			steps: []step{
				{in(pkt(cli, srv, T, syn, 100, 0, ""), false), 0},
				{in(pkt(cli, srv, T, syn, 100, 0, ""), false), ms}, // retransmitted, still half-open
				{in(pkt(srv, cli, T, synack, 500, 101, ""), true), ms},
				{in(pkt(cli, srv, T, ack, 101, 501, ""), false), ms},
				{in(pkt(cli, srv, T, fin, 101, 501, ""), false), ms},
				{in(pkt(srv, cli, T, fin, 501, 102, ""), true), ms},
			},
			noFlow: true,
			end: func(h *harness) {
				h.send(pkt(netip.MustParseAddrPort("127.0.0.9:1"), srv, 17, 0, 0, 0, ""), 10*time.Second)
			},
			want: flow.Record{FirstFrame: 1, Start: flow.TimeOf(t0), End: flow.TimeOf(t0.Add(5 * ms)),
				Packets: [2]uint64{4, 2}, Bytes: [2]uint64{160, 80}, ClientKnown: true, EndReason: flow.EndFIN,
				EmitAt: flow.TimeOf(t0.Add(5*ms + 5*time.Second)), VLAN: [2]uint16{30, 40}, NVLAN: 2},
		},
		{
			name: "SYN-ACK first, then RST",
			steps: []step{
				{in(pkt(srv, cli, T, synack, 500, 101, ""), true), 0},
				{in(pkt(cli, srv, T, ack, 101, 501, ""), false), ms},
				{in(pkt(cli, srv, T, decode.FlagRST, 101, 0, ""), false), ms},
			},
			noFlow: true,
			end:    func(h *harness) { h.e.Flush() },
			want: flow.Record{FirstFrame: 1, Start: flow.TimeOf(t0), End: flow.TimeOf(t0.Add(2 * ms)),
				Packets: [2]uint64{2, 1}, Bytes: [2]uint64{80, 40}, ClientKnown: true, EndReason: flow.EndRST,
				VLAN: [2]uint16{30, 40}, NVLAN: 2},
		},
		{
			name: "bare ACKs picked up mid-stream, idle",
			steps: []step{
				{in(pkt(cli, srv, T, ack, 7000, 9000, ""), false), 0},
				{in(pkt(srv, cli, T, ack, 9000, 7000, ""), true), 3 * ms},
			},
			noFlow: true,
			end:    func(h *harness) { h.e.Advance(h.now.Add(time.Hour)) },
			want: flow.Record{FirstFrame: 1, Start: flow.TimeOf(t0), End: flow.TimeOf(t0.Add(3 * ms)),
				Packets: [2]uint64{1, 1}, Bytes: [2]uint64{40, 40}, EndReason: flow.EndIdle,
				EmitAt: flow.TimeOf(t0.Add(3*ms + 10*time.Minute)), VLAN: [2]uint16{30, 40}, NVLAN: 2},
		},
		{
			name: "handshake then a request",
			steps: []step{
				{in(pkt(cli, srv, T, syn, 100, 0, ""), false), 0},
				{in(pkt(srv, cli, T, synack, 500, 101, ""), true), ms},
				{in(pkt(cli, srv, T, ack, 101, 501, ""), false), ms},
				{in(pkt(srv, cli, T, ack, 501, 101, ""), true), ms},
				{in(pkt(cli, srv, T, ack, 101, 501, "HELLO\n"), false), ms},
			},
			end: func(h *harness) { h.e.Flush() },
			want: flow.Record{FirstFrame: 1, Start: flow.TimeOf(t0), End: flow.TimeOf(t0.Add(4 * ms)),
				Packets: [2]uint64{3, 2}, Bytes: [2]uint64{126, 80}, Payload: [2]uint64{6, 0}, ClientKnown: true,
				ProtoFrame: 5, ProtoTime: flow.TimeOf(t0.Add(4 * ms)), Label: flow.SIP,
				VLAN: [2]uint16{30, 40}, NVLAN: 2},
		},
		{
			name: "handshake, interim reports, end of input",
			cfg:  Config{Interim: time.Minute},
			steps: []step{
				{in(pkt(cli, srv, T, syn, 100, 0, ""), false), 0},
				{in(pkt(srv, cli, T, synack, 500, 101, ""), true), ms},
				{in(pkt(cli, srv, T, ack, 101, 501, ""), false), ms},
				{in(pkt(cli, srv, T, ack, 101, 501, ""), false), 61 * time.Second}, // a keep-alive
			},
			noFlow:   true,
			interims: 1,
			end:      func(h *harness) { h.e.Advance(h.now); h.e.Flush() },
			want: flow.Record{FirstFrame: 1, Start: flow.TimeOf(t0), End: flow.TimeOf(t0.Add(2*ms + 61*time.Second)),
				Packets: [2]uint64{3, 1}, Bytes: [2]uint64{120, 40}, ClientKnown: true,
				VLAN: [2]uint16{30, 40}, NVLAN: 2},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.cfg)
			for _, s := range c.steps {
				h.send(s.p, s.after)
			}
			if c.noFlow {
				var n int
				h.e.flows.all(func(en *entry) {
					n++
					if en.f != nil || en.pre() == nil {
						t.Errorf("a TCP flow that carried no payload has a Flow (%v) or no preFlow (%v)", en.f != nil, en.pre() == nil)
					}
				})
				if n != 1 {
					t.Fatalf("%d flows in the table, want 1", n)
				}
			}
			c.end(h)
			var final []flow.Record
			interims := 0
			for _, r := range h.recs {
				switch {
				case r.Transport == flow.UDP:
				case r.Interim:
					interims++
					if r.Packets != c.want.Packets || r.Bytes != c.want.Bytes || r.Start != c.want.Start || r.End != c.want.End ||
						r.FirstFrame != 1 || r.Client != cli || !r.ClientKnown || r.NVLAN != 2 || len(r.TunnelLayers()) != 1 {
						t.Errorf("interim record %+v", r)
					}
				default:
					final = append(final, r)
				}
			}
			if interims != c.interims {
				t.Errorf("%d interim records, want %d", interims, c.interims)
			}
			if len(final) != 1 {
				t.Fatalf("%d final records, want 1: %+v", len(final), h.recs)
			}
			r := final[0]
			tl := r.TunnelLayers()
			if len(tl) != 1 || tl[0].ID != 100 || tl[0].Source.String() != "127.0.1.1" {
				t.Errorf("tunnel %+v, want VNI 100 from 127.0.1.1 (the client's side)", tl)
			}
			if r.Client != cli || r.Server != srv || r.Transport != flow.TCP || r.File.String() != "test.pcap" {
				t.Errorf("client %v server %v transport %v file %q", r.Client, r.Server, r.Transport, r.File)
			}
			want := c.want
			want.Client, want.Server, want.Transport, want.File, want.Tunnel = r.Client, r.Server, r.Transport, r.File, r.Tunnel
			if r != want {
				t.Errorf("record\n got %+v\nwant %+v", r, want)
			}
		})
	}
}

// TestTCPStateFitsItsSizeClass: every TCP flow has reassembly state from its SYN, which also
// holds, until the flow has a Flow, a pointer to its preFlow. 64 bytes is a size class of
// Go's allocator; one byte more would take 80 (TestLiveHeapPerFlow measures the whole).
func TestTCPStateFitsItsSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(tcpState{}); s > 64 {
		t.Errorf("tcpState is %d bytes, want at most 64", s)
	}
	if s := unsafe.Sizeof(preFlow{}); s > 64 {
		t.Errorf("preFlow is %d bytes, want at most 64", s)
	}
}
