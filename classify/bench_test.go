package classify

import (
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// BenchmarkEngineHandle measures the flow path alone (lookup, counters, expiry, TCP
// reassembly, dispatch to a trivial detector) over interleaved conversations.
func BenchmarkEngineHandle(b *testing.B) {
	tr := trace(3, 2000)
	var bytes int64
	for _, tp := range tr {
		bytes += int64(len(tp.p.Payload))
	}
	cfg := Config{UDPTimeout: 20 * time.Second, Detectors: []flow.Detector{newLineDet()}}
	b.ReportAllocs()
	b.SetBytes(bytes / int64(len(tr)))
	b.ResetTimer()
	n := 0
	for n < b.N {
		e := New(cfg, func(*flow.Record) {})
		for i, tp := range tr {
			if n == b.N {
				break
			}
			e.Handle(tp.p, tp.ts, uint64(i+1), "bench")
			n++
		}
		e.Flush()
	}
}
