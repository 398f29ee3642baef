package classify

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// The engine's fuzz target plays a program of packets on eight conversations between
// 127.0.0.1 and 127.0.0.2, on the ports of every protocol, through the real detectors. Each
// operation is six bytes and a payload:
//
//	[0] bits 0–2: the conversation (fuzzConvs); bit 3: sent by the server; bits 4–7: the
//	    payload length's high bits
//	[1] TCP flags (FIN SYN RST PSH ACK; ignored on UDP)
//	[2:4] signed distance of the sequence number from the next one expected in that
//	      direction: 0 continues the stream, others overlap it, leave gaps or go far away
//	[4] time since the previous packet: 0–200 ms, 201–250 seconds, 251–255 seconds back
//	[5] payload length's low byte; the payload follows (shorter if the input ends)
//
// so the fuzzer can reach retransmissions, overlaps that disagree, gaps, reordering, port
// reuse, RST and FIN in any order, SYN floods, idle expiry, eviction and emergency mode.
const fuzzOpLen = 6

var fuzzConvs = [8]struct {
	proto uint8
	port  uint16
}{
	{decode.ProtoTCP, 389}, {decode.ProtoUDP, 389}, {decode.ProtoTCP, 636}, {decode.ProtoUDP, 5060},
	{decode.ProtoTCP, 5060}, {decode.ProtoTCP, 5061}, {decode.ProtoUDP, 123}, {decode.ProtoTCP, 7777},
}

type fuzzPkt struct {
	p         decode.Packet
	ts        time.Time
	monotonic bool // ts is not before any earlier packet's
}

// fuzzProgram turns the input into packets.
func fuzzProgram(data []byte) []fuzzPkt {
	var next [8][2]uint32 // next sequence number expected, by conversation and direction
	for c := range next {
		next[c] = [2]uint32{1000, 900000}
	}
	ts := t0
	latest := ts
	var out []fuzzPkt
	for len(data) >= fuzzOpLen && len(out) < 2000 {
		op := data[:fuzzOpLen]
		data = data[fuzzOpLen:]
		c, dir := op[0]&7, int(op[0]>>3&1)
		n := min(int(op[0]>>4)<<8|int(op[5]), len(data))
		payload := data[:n]
		data = data[n:]
		switch t := op[4]; {
		case t <= 200:
			ts = ts.Add(time.Duration(t) * time.Millisecond)
		case t <= 250:
			ts = ts.Add(time.Duration(t-200) * time.Second)
		default:
			ts = ts.Add(-time.Duration(t-250) * time.Second)
		}
		mono := !ts.Before(latest)
		if mono {
			latest = ts
		}
		cv := fuzzConvs[c]
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 40000+uint16(c))
		server := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 2}), cv.port)
		from, to := client, server
		if dir == 1 {
			from, to = server, client
		}
		var flags uint8
		var seq, ack uint32
		if cv.proto == decode.ProtoTCP {
			flags = op[1] & (decode.FlagFIN | decode.FlagSYN | decode.FlagRST | decode.FlagPSH | decode.FlagACK)
			seq = next[c][dir] + uint32(int32(int16(binary.BigEndian.Uint16(op[2:4]))))
			ack = next[c][1-dir]
			end := seq + uint32(n)
			if flags&(decode.FlagSYN|decode.FlagFIN) != 0 {
				end++
			}
			if int32(end-next[c][dir]) > 0 {
				next[c][dir] = end
			}
		}
		p := pkt(from, to, cv.proto, flags, seq, ack, "")
		p.Payload = payload
		p.IPLen = 40 + n
		out = append(out, fuzzPkt{*p, ts, mono})
	}
	return out
}

// fuzzKey is what two runs must agree on for a record.
func fuzzKey(r *flow.Record) string {
	facts, _ := json.Marshal([]any{r.NTP, r.SIP, r.LDAP, r.TLS})
	return fmt.Sprintf("%v %v>%v %v %v pk%v by%v pl%v f%d/%d e%d/%q g%d cut%v emit%v %s", r.Transport, r.Client, r.Server,
		r.Label, r.EndReason, r.Packets, r.Bytes, r.Payload, r.FirstFrame, r.ProtoFrame, r.ParseErrors, r.ParseError,
		r.Gaps, r.Cut, r.EmitAt.UnixNano(), facts)
}

// fuzzCheck runs the program on one engine with cfg and checks what must hold whatever the
// packets: no detector panicked, every packet is counted in exactly one reported flow, the
// counters agree with each other, and nothing is left in the table.
func fuzzCheck(t *testing.T, cfg Config, prog []fuzzPkt) []flow.Record {
	var recs []flow.Record
	cfg.Detectors = Detectors(nil)
	e := New(cfg, func(r *flow.Record) { recs = append(recs, *r) })
	for i := range prog {
		e.Handle(&prog[i].p, prog[i].ts, uint64(i+1), "fuzz")
	}
	e.Flush()
	st := e.Stats()
	if st.Panics != 0 {
		t.Fatalf("%d detector panic(s) recovered: %v", st.Panics, recs)
	}
	if e.Flows() != 0 {
		t.Fatalf("%d flows left in the table after Flush", e.Flows())
	}
	if st.Flows != uint64(len(recs)) {
		t.Fatalf("stats count %d flows, %d were reported", st.Flows, len(recs))
	}
	var packets uint64
	for i := range recs {
		r := &recs[i]
		for d := range 2 {
			packets += r.Packets[d]
			if r.Payload[d] > r.Bytes[d] || (r.Packets[d] == 0 && r.Bytes[d] != 0) {
				t.Fatalf("record %d: direction %d has %d packets, %d bytes, %d payload bytes", i, d, r.Packets[d], r.Bytes[d], r.Payload[d])
			}
		}
		if r.End.Before(r.Start) || r.FirstFrame == 0 || r.FirstFrame > uint64(len(prog)) {
			t.Fatalf("record %d: start %v, end %v, first frame %d of %d", i, r.Start, r.End, r.FirstFrame, len(prog))
		}
		if r.Label != flow.Unknown && (r.ProtoFrame < r.FirstFrame || r.ProtoFrame > uint64(len(prog))) {
			t.Fatalf("record %d (%v): protocol recognised at frame %d, first frame %d", i, r.Label, r.ProtoFrame, r.FirstFrame)
		}
	}
	if packets != uint64(len(prog)) {
		t.Fatalf("%d packets handled, %d counted in the %d records", len(prog), packets, len(recs))
	}
	return recs
}

func FuzzEngine(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		prog := fuzzProgram(data)
		if len(prog) == 0 {
			return
		}
		// Small bounds, so that eviction, the half-open bound, emergency mode, the inspection
		// window and the out-of-order limits are all within a short program's reach.
		small := Config{MaxFlows: 4, TCPTimeout: 20 * time.Second, TCPClosedTimeout: time.Second, UDPTimeout: 5 * time.Second,
			InspectWindow: 600, MaxOutOfOrder: 3, MaxOutOfOrderBytes: 1500, MaxBufferedBytes: 4000}
		fuzzCheck(t, small, prog)

		// Roomy bounds: the records and their order are the same on one engine and on
		// workers, as long as packet time does not go backwards (each worker keeps its own
		// clock, so a late packet may expire a flow on one and not on the other).
		roomy := Config{MaxFlows: 1000, TCPTimeout: 20 * time.Second, TCPClosedTimeout: time.Second, UDPTimeout: 5 * time.Second}
		single := fuzzCheck(t, roomy, prog)
		for _, p := range prog {
			if !p.monotonic {
				return
			}
		}
		want := make([]string, len(single))
		slices.SortStableFunc(single, func(a, b flow.Record) int {
			switch {
			case recLess(&a, &b):
				return -1
			case recLess(&b, &a):
				return 1
			}
			return 0
		})
		for i := range single {
			want[i] = fuzzKey(&single[i])
		}
		var got []string
		roomy.Detectors = Detectors(nil)
		par := NewParallel(roomy, 3, func(r *flow.Record) { got = append(got, fuzzKey(r)) })
		for i := range prog {
			par.dispatch(&prog[i].p, prog[i].ts, uint64(i+1), "fuzz")
		}
		par.Flush()
		par.Close()
		if !slices.Equal(got, want) {
			t.Fatalf("3 workers reported\n%q\none engine\n%q", got, want)
		}
	})
}

// fuzzSeeds turns the conversations of real captures into programs: every packet of the
// capture whose server port is one of fuzzConvs' becomes an operation on that conversation.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, name := range []string{"ldap-simple-bind.pcap", "ldap-starttls.pcap", "ldaps-tls12.pcap", "sip-register-digest-udp.pcap",
		"sip-options-tcp.pcap", "sip-tls-5061.pcap", "ntp-client.pcap", "ntp-mode6-rv-mrulist.pcap", "ldap-sasl-digest-md5.pcap"} {
		src, err := capture.Open(filepath.Join("..", "testdata", "real", name))
		if err != nil {
			tb.Fatal(err)
		}
		var prog []byte
		dec := decode.New(decode.Config{})
		var last time.Time
		for {
			var cp capture.Packet
			if err := src.Next(&cp); err != nil {
				if !errors.Is(err, io.EOF) {
					tb.Fatal(err)
				}
				break
			}
			var p decode.Packet
			if dec.Decode(cp.Data, cp.LinkType, cp.Timestamp, &p) != decode.OK {
				continue
			}
			conv, dir := -1, 0
			for i, c := range fuzzConvs {
				switch {
				case c.proto != p.Proto:
				case p.DstPort == c.port:
					conv = i
				case p.SrcPort == c.port:
					conv, dir = i, 1
				}
			}
			if conv < 0 {
				continue
			}
			dt := byte(0)
			if !last.IsZero() {
				dt = byte(min(cp.Timestamp.Sub(last).Milliseconds(), 200))
			}
			last = cp.Timestamp
			n := min(len(p.Payload), 4095)
			prog = append(prog, byte(conv)|byte(dir)<<3|byte(n>>8)<<4, p.Flags, 0, 0, dt, byte(n))
			prog = append(prog, p.Payload[:n]...)
		}
		src.Close()
		seeds = append(seeds, prog)
	}
	return seeds
}
