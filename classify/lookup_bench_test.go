package classify

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// BenchmarkFlowLookup is the cost of a packet of an established flow among 100,000 open
// flows, visited in random order so the table does not stay in cache: "lookup" is the key
// and the map lookup alone, "handle" the whole per-packet path of Engine.Handle for a flow
// that is no longer inspected (key, lookup, counters, move to the back of the idle list).
func BenchmarkFlowLookup(b *testing.B) {
	const flows = 100_000
	pkts := make([]*decode.Packet, flows)
	for i := range pkts {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%50000))
		pkts[i] = pkt(c, srv, decode.ProtoUDP, 0, 0, 0, "payload")
	}
	// No detector: every flow is created not inspected, so Handle measures the table alone.
	e := New(Config{MaxFlows: 2 * flows, UDPTimeout: time.Hour}, func(*flow.Record) {})
	for i, p := range pkts {
		e.Handle(p, t0, uint64(i+1), "bench")
	}
	if e.Flows() != flows {
		b.Fatalf("%d flows in the table, want %d", e.Flows(), flows)
	}
	r := rand.New(rand.NewPCG(1, 2))
	order := r.Perm(flows)

	b.Run("lookup", func(b *testing.B) {
		b.ReportAllocs()
		i, miss := 0, 0
		for b.Loop() {
			k, _ := makeKey(pkts[order[i]])
			if e.flows.get(&k) == nil {
				miss++
			}
			if i++; i == flows {
				i = 0
			}
		}
		if miss != 0 {
			b.Fatalf("%d lookups missed", miss)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	})
	b.Run("handle", func(b *testing.B) {
		ts := t0
		frame := uint64(flows)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			ts = ts.Add(time.Microsecond)
			frame++
			e.Handle(pkts[order[i]], ts, frame, "bench")
			if i++; i == flows {
				i = 0
			}
		}
		if st := e.Stats(); st.Flows != flows || e.Flows() != flows {
			b.Fatalf("%d flows created, %d in the table: the packets did not all find their flow", st.Flows, e.Flows())
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	})
}

// BenchmarkFlowTableGrow is the cost of the table's doubling with 1,048,576 flows in it, the
// most a default engine holds: a new bucket array (8 MiB) and every key hashed again into it.
// Each operation is one resize of the whole table (alternately to twice and to half its
// bucket count).
func BenchmarkFlowTableGrow(b *testing.B) {
	const flows = 1 << 20
	tb := newFlowTable(0)
	for i := 0; i < flows; i++ {
		r, en := tb.newEntry()
		binary.LittleEndian.PutUint64(en.key[:], uint64(i))
		tb.put(r, en)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(tb.buckets) == flows {
			tb.resize(2*flows, 0)
		} else {
			tb.resize(flows, 0)
		}
	}
}
