package classify

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/packetprog"
)

// fuzzKey is what two runs must agree on for a record.
func fuzzKey(r *flow.Record) string {
	facts, _ := json.Marshal([]any{r.NTP, r.SIP, r.LDAP, r.TLS})
	return fmt.Sprintf("%v %v>%v %v %v pk%v by%v pl%v f%d/%d e%d/%q g%d cut%v emit%v %s", r.Transport, r.Client, r.Server,
		r.Label, r.EndReason, r.Packets, r.Bytes, r.Payload, r.FirstFrame, r.ProtoFrame, r.ParseErrors, r.ParseError,
		r.Gaps, r.Cut, r.EmitAt.UnixNano(), facts)
}

func fuzzPacket(prog []packetprog.Packet, i int) *capture.Packet {
	return &capture.Packet{Data: prog[i].Frame, Timestamp: prog[i].Time, Length: len(prog[i].Frame),
		LinkType: layers.LinkTypeEthernet, Frame: uint64(i + 1), File: "fuzz"}
}

// fuzzCheck runs the program on one engine with cfg and checks what must hold whatever the
// packets: no detector panicked, every packet is counted in exactly one reported flow, the
// counters agree with each other, and nothing is left in the table.
func fuzzCheck(t *testing.T, cfg Config, prog []packetprog.Packet) []flow.Record {
	var recs []flow.Record
	cfg.Detectors = Detectors(nil)
	e := New(cfg, func(r *flow.Record) { recs = append(recs, *r) })
	for i := range prog {
		e.Packet(fuzzPacket(prog, i))
	}
	e.Flush()
	st := e.Stats()
	if st.Panics != 0 {
		t.Fatalf("%d detector panic(s) recovered: %v", st.Panics, recs)
	}
	if st.Decode.OK != uint64(len(prog)) {
		t.Fatalf("%d of the %d frames decoded", st.Decode.OK, len(prog))
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

// FuzzEngine plays packet programs (see internal/packetprog) through the engine and the
// real detectors.
func FuzzEngine(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		prog := packetprog.Build(data)
		if len(prog) == 0 {
			return
		}
		// Small bounds, so that eviction, the half-open bound, emergency mode, the inspection
		// window and the out-of-order limits are all within a short program's reach.
		small := Config{MaxFlows: 4, TCPTimeout: 20 * time.Second, TCPClosedTimeout: time.Second, UDPTimeout: 5 * time.Second,
			UDPAnswered: DefaultUDPAnswered(), InspectWindow: 600, MaxOutOfOrder: 3, MaxOutOfOrderBytes: 1500, MaxBufferedBytes: 4000}
		fuzzCheck(t, small, prog)

		// Roomy bounds (no eviction, whose choice depends on how the table is split among
		// workers): the records and their order are the same on one engine and on workers,
		// even when packet time goes back, since every worker hears the reader's clock.
		roomy := Config{MaxFlows: 1000, TCPTimeout: 20 * time.Second, TCPClosedTimeout: time.Second, UDPTimeout: 5 * time.Second,
			UDPAnswered: DefaultUDPAnswered()}
		single := fuzzCheck(t, roomy, prog)
		slices.SortStableFunc(single, func(a, b flow.Record) int {
			switch {
			case recLess(&a, &b):
				return -1
			case recLess(&b, &a):
				return 1
			}
			return 0
		})
		want := make([]string, len(single))
		for i := range single {
			want[i] = fuzzKey(&single[i])
		}
		var got []string
		roomy.Detectors = Detectors(nil)
		par := NewParallel(roomy, 3, func(r *flow.Record) { got = append(got, fuzzKey(r)) })
		for i := range prog {
			par.Packet(fuzzPacket(prog, i))
		}
		par.Flush()
		par.Close()
		if !slices.Equal(got, want) {
			t.Fatalf("3 workers reported\n%q\none engine\n%q", got, want)
		}
	})
}

// fuzzSeeds are programs made from the shipped captures of every protocol.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, name := range []string{"ldap-simple-bind.pcap", "ldap-starttls.pcap", "ldaps-tls12.pcap", "sip-register-digest-udp.pcap",
		"sip-options-tcp.pcap", "sip-tls-5061.pcap", "ntp-client.pcap", "ntp-mode6-rv-mrulist.pcap", "ldap-sasl-digest-md5.pcap"} {
		s, err := packetprog.Seed(filepath.Join("..", "testdata", "real", name))
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, s)
	}
	// The public corpus beside the repository, when it is there: real LDAP, SIP, NTP and TLS
	// from many implementations. (A failure found from one of these must become a regression
	// test written by hand: the corpus is not copied into the repository.)
	return append(seeds, packetprog.SeedsIn(filepath.Join("..", "..", "shared", "corpus"), 64<<10)...)
}
