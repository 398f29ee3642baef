package classify

import (
	"io"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestAdmitBeforeDispatch: packets Config.Admit turns down make no flow and are counted in
// Stats.Filtered, in one engine and in the parallel front; a turned-down packet costs no
// allocation.
func TestAdmitBeforeDispatch(t *testing.T) {
	var pkts []capture.Packet
	for _, name := range []string{"../testdata/gen/ntp-monlist.pcap", "../testdata/gen/sip-basic.pcap"} {
		src, err := capture.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		for {
			var p capture.Packet
			if err := src.Next(&p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			p.Data = append([]byte(nil), p.Data...)
			pkts = append(pkts, p)
		}
		src.Close()
	}
	sip := func(p *decode.Packet, _ time.Time) bool { return p.SrcPort == 5060 || p.DstPort == 5060 }
	var want uint64 // packets not on 5060
	var dec = decode.New(decode.Config{})
	var dp decode.Packet
	for i := range pkts {
		if dec.Decode(pkts[i].Data, pkts[i].LinkType, pkts[i].Timestamp, &dp) == decode.OK && !sip(&dp, time.Time{}) {
			want++
		}
	}
	if want == 0 {
		t.Fatal("no packet off port 5060 in the test captures")
	}
	cfg := DefaultConfig()
	cfg.Detectors = Detectors(nil)
	cfg.Admit = sip
	check := func(what string, recs []flow.Record, st Stats) {
		t.Helper()
		if st.Filtered != want {
			t.Errorf("%s: %d packets filtered, want %d", what, st.Filtered, want)
		}
		if len(recs) == 0 {
			t.Errorf("%s: no flow left", what)
		}
		for _, r := range recs {
			if r.Client.Port() != 5060 && r.Server.Port() != 5060 {
				t.Errorf("%s: flow %v > %v was let through", what, r.Client, r.Server)
			}
		}
	}
	var recs []flow.Record
	e := New(cfg, func(r *flow.Record) { recs = append(recs, *r) })
	for i := range pkts {
		e.Packet(&pkts[i])
	}
	e.Flush()
	check("engine", recs, e.stats)

	recs = nil
	p := NewParallel(cfg, 2, func(r *flow.Record) { recs = append(recs, *r) })
	for i := range pkts {
		p.Packet(&pkts[i])
	}
	p.Flush()
	p.Close()
	check("parallel", recs, p.Stats())

	off := &pkts[0] // an NTP packet: turned down
	p = NewParallel(cfg, 1, func(*flow.Record) {})
	defer p.Close()
	if n := testing.AllocsPerRun(1000, func() { p.Packet(off) }); n != 0 {
		t.Errorf("a packet turned down costs %.1f allocations", n)
	}
	p.Flush()
}
