package summary

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

// BenchmarkAggregator: the cost of one flow in the aggregator, over 65,536 client hosts and
// 256 LDAP servers (every host and server already known after the first round), and the
// memory the full maps hold.
func BenchmarkAggregator(b *testing.B) {
	const clients, servers = 1 << 16, 256
	recs := make([]*flow.Record, clients)
	for i := range recs {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000)
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(i % servers)}), 389)
		recs[i] = &flow.Record{Label: flow.LDAP, Transport: flow.TCP, Client: c, Server: s,
			Start: flow.TimeOf(t0.Add(time.Duration(i) * time.Millisecond)), Bytes: [2]uint64{300, 500}}
	}
	fs := []*rules.Finding{{Rule: &rules.Rule{ID: "ldap.cleartext", Severity: rules.Medium}}}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	a := New(Limits{Hosts: 100_000, Servers: 100_000})
	for _, r := range recs {
		a.Flow(r, fs)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		a.Flow(recs[i%clients], fs)
	}
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(clients+servers), "heap-B/host")
}
