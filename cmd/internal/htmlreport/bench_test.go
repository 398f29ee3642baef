package htmlreport

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/summary"
	"github.com/pcapaudit/pcapaudit/rules"
)

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkWrite: rendering a report that lists as many findings as the commands keep
// (10,000), over 1,000 hosts; the page's size is reported.
func BenchmarkWrite(b *testing.B) {
	pol := rules.Default()
	agg := summary.New(summary.Limits{Findings: 10_000})
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for i := range 10_000 {
		r := &flow.Record{Label: flow.LDAP, Transport: flow.TCP, File: flow.FileRefOf("capture.pcap"), FirstFrame: uint64(i*10 + 1),
			Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i / 10 >> 8), byte(i / 10)}), 40000),
			Server: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, 1}), 389),
			Start:  flow.TimeOf(t0.Add(time.Duration(i) * time.Second)), Bytes: [2]uint64{300, 500}}
		agg.Flow(r, []*rules.Finding{{Rule: pol.Rules[0], Message: "simple bind as \"cn=admin,dc=example,dc=org\" sent a 9-byte password in cleartext",
			Evidence: flow.Event{Frame: uint64(i*10 + 4), Time: r.Start}, Count: 1}})
	}
	rep := agg.Finish(nil)
	var c counter
	if err := Write(&c, rep, pol, "bench"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(io.Discard, rep, pol, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.n)/(1<<20), "MiB/page")
}
