package classify

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

type tracePkt struct {
	p  *decode.Packet
	ts time.Time
}

// trace makes interleaved UDP and TCP conversations of the line protocol, some idle long
// enough to expire mid-trace, some closed, some open at the end.
func trace(seed uint64, flows int) []tracePkt {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []tracePkt
	ts := t0
	type conv struct {
		c, s     netip.AddrPort
		tcp      bool
		seq, ack uint32
		left     int
	}
	var active []*conv
	for made := 0; made < flows || len(active) > 0; {
		if made < flows && (len(active) < 50 || r.IntN(4) == 0) {
			c := &conv{c: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(made >> 8), byte(made)}), uint16(1024+r.IntN(60000))),
				s: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, 0, byte(r.IntN(4))}), 7), tcp: r.IntN(2) == 0, seq: 1, ack: 1, left: 2 + r.IntN(8)}
			made++
			active = append(active, c)
			if c.tcp {
				out = append(out, tracePkt{pkt(c.c, c.s, decode.ProtoTCP, syn, 0, 0, ""), ts})
			}
		}
		i := r.IntN(len(active))
		c := active[i]
		ts = ts.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
		if c.left == 0 {
			if c.tcp && r.IntN(2) == 0 {
				out = append(out, tracePkt{pkt(c.c, c.s, decode.ProtoTCP, fin, c.seq, c.ack, ""), ts})
				out = append(out, tracePkt{pkt(c.s, c.c, decode.ProtoTCP, fin, c.ack, c.seq+1, ""), ts})
			}
			active = append(active[:i], active[i+1:]...)
			continue
		}
		c.left--
		msg := "HELLO\n"
		if c.left%3 == 1 {
			msg = fmt.Sprintf("line %d\n", c.left)
		}
		if c.tcp {
			out = append(out, tracePkt{pkt(c.c, c.s, decode.ProtoTCP, ack, c.seq, c.ack, msg), ts})
			c.seq += uint32(len(msg))
		} else {
			out = append(out, tracePkt{pkt(c.c, c.s, decode.ProtoUDP, 0, 0, 0, msg), ts})
		}
	}
	return out
}

func key4(r *flow.Record) string {
	return fmt.Sprintf("%v %v>%v %v %v pk%v by%v %v", r.Transport, r.Client, r.Server, r.Label, r.EndReason, r.Packets, r.Bytes, r.FirstFrame)
}

// TestParallelMatchesSingleEngine: whatever the number of workers, the records and their
// order are those of one engine.
func TestParallelMatchesSingleEngine(t *testing.T) {
	tr := trace(7, 400)
	cfg := Config{UDPTimeout: 20 * time.Second, TCPTimeout: 40 * time.Second, TCPClosedTimeout: time.Second}
	var want []string
	single := newHarness(t, cfg)
	for i, tp := range tr {
		single.e.Handle(tp.p, tp.ts, uint64(i+1), "t")
	}
	single.e.Flush()
	// Reference order: canonical (EmitAt, FirstFrame), open flows last.
	var h []*flow.Record
	for i := range single.recs {
		h = append(h, &single.recs[i])
	}
	slices.SortStableFunc(h, func(a, b *flow.Record) int {
		switch {
		case recLess(a, b):
			return -1
		case recLess(b, a):
			return 1
		}
		return 0
	})
	for _, r := range h {
		want = append(want, key4(r))
	}
	if len(want) < 400 {
		t.Fatalf("only %d records", len(want))
	}
	defer func(c int) { flushChunk = c }(flushChunk)
	for _, run := range []struct{ workers, chunk int }{{1, 256}, {2, 256}, {4, 256}, {2, 1}, {4, 3}} {
		// A small chunk makes the workers stream their open flows to the merger in pieces.
		n := run.workers
		flushChunk = run.chunk
		var got []string
		cfg := cfg
		cfg.Detectors = []flow.Detector{newLineDet()}
		p := NewParallel(cfg, n, func(r *flow.Record) { got = append(got, key4(r)) })
		for i, tp := range tr {
			p.main.dispatch(tp.p, nanos(tp.ts), uint64(i+1), flow.FileRefOf("t"))
		}
		p.Flush()
		p.Close()
		if len(got) != len(want) {
			t.Fatalf("%d workers: %d records, want %d", n, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%d workers: record %d = %s, want %s", n, i, got[i], want[i])
			}
		}
		if st := p.Stats(); st.Flows != uint64(len(want)) {
			t.Errorf("%d workers: stats count %d flows, want %d", n, st.Flows, len(want))
		}
	}
}

// An Annotator's result reaches emit with the record it was made from, for every record, and
// each worker's Annotator sees only the records of that worker.
func TestParallelAnnotations(t *testing.T) {
	tr := trace(3, 300)
	cfg := Config{UDPTimeout: 20 * time.Second, TCPTimeout: 40 * time.Second, TCPClosedTimeout: time.Second,
		Detectors: []flow.Detector{newLineDet()}}
	const n = 3
	var seen [n]int // written by worker i only
	type note struct {
		worker int
		key    string
	}
	got, perWorker := 0, [n]int{}
	p := NewParallelAnnotated(cfg, n, func(w int) Annotator {
		return func(r *flow.Record) any {
			seen[w]++
			return &note{w, key4(r)}
		}
	}, func(r *flow.Record, a any) {
		nt, ok := a.(*note)
		if !ok {
			t.Fatalf("record %s came without its annotation (%T)", key4(r), a)
		}
		if nt.key != key4(r) {
			t.Fatalf("record %s came with the annotation of %s", key4(r), nt.key)
		}
		got++
		perWorker[nt.worker]++
	})
	for i, tp := range tr {
		p.main.dispatch(tp.p, nanos(tp.ts), uint64(i+1), flow.FileRefOf("t"))
	}
	p.Flush()
	p.Close()
	if got < 300 {
		t.Fatalf("%d records emitted", got)
	}
	for w := range seen {
		if seen[w] != perWorker[w] || seen[w] == 0 {
			t.Errorf("worker %d annotated %d records, %d reached emit with its notes", w, seen[w], perWorker[w])
		}
	}
}

// Flows of two captures that start at the same instant are reported in the same order on
// every run and for any number of workers: by file name, as the canonical order says.
func TestOpenFlowsOfTwoFilesAtOneInstant(t *testing.T) {
	var want []string
	for run := range 6 {
		n := 1 + run%3
		var got []string
		p := NewParallel(Config{UDPTimeout: time.Hour}, n, func(r *flow.Record) {
			got = append(got, r.File.String()+" "+r.Client.String())
		})
		for i := range 40 {
			c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}), 4000)
			file := "b.pcap"
			if i%2 == 1 {
				file = "a.pcap"
			}
			p.main.dispatch(pkt(c, srv, decode.ProtoUDP, 0, 0, 0, "x"), nanos(t0), uint64(i/2+1), flow.FileRefOf(file))
		}
		p.Flush()
		p.Close()
		if len(got) != 40 {
			t.Fatalf("%d records, want 40", len(got))
		}
		if run == 0 {
			want = got
			if !strings.HasPrefix(got[0], "a.pcap") || !strings.HasPrefix(got[39], "b.pcap") {
				t.Fatalf("first %q, last %q: want a.pcap's flows first", got[0], got[39])
			}
			continue
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%d workers, run %d: order differs from the first run:\n%v\n%v", n, run, got, want)
		}
	}
}

// TestCloseEndsEveryGoroutine: a program that audits one capture after another (or a sensor
// that restarts its engine) must not keep a merger goroutine and its buffers per engine.
func TestCloseEndsEveryGoroutine(t *testing.T) {
	tr := trace(3, 20)
	before := runtime.NumGoroutine()
	for range 20 {
		cfg := Config{Detectors: []flow.Detector{newLineDet()}}
		p := NewParallel(cfg, 3, func(*flow.Record) {})
		for i, tp := range tr {
			p.main.dispatch(tp.p, nanos(tp.ts), uint64(i+1), flow.FileRefOf("t"))
		}
		p.Flush()
		p.Close()
	}
	// Close returns when the goroutines have ended; give the runtime a moment to count them.
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after 20 engines were closed, %d before", n, before)
	}
}

// TestInterimRecordGoesFirst: a flow's interim record and its final record that end at the
// same instant are merged in the order one engine emits them, the interim one first: the
// final one's facts, which the interim record shares, are recycled once it has been reported.
func TestInterimRecordGoesFirst(t *testing.T) {
	final := flow.Record{FirstFrame: 7, Start: flow.UnixNano(1e18), EmitAt: flow.UnixNano(2e18), EndReason: flow.EndEvicted}
	interim := final
	interim.Interim = true
	if !recLess(&interim, &final) || recLess(&final, &interim) {
		t.Error("the interim record does not come before the final record of the same flow and instant")
	}
	if recLess(&interim, &interim) {
		t.Error("a record comes before itself")
	}
}
