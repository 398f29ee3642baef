package classify_test

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/encap"
)

// frame is a packet read into memory.
type frame struct {
	p    capture.Packet
	data []byte
}

func readAll(tb testing.TB, name string) []frame {
	tb.Helper()
	src, err := capture.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	var out []frame
	for {
		var p capture.Packet
		if err := src.Next(&p); err != nil {
			if !errors.Is(err, io.EOF) {
				tb.Fatal(err)
			}
			return out
		}
		d := append([]byte(nil), p.Data...)
		p.Data = d
		out = append(out, frame{p, d})
	}
}

// TestZeroAllocsPerPacketEndToEnd: once a flow's detector is done, a packet costs decoding, a
// flow lookup and counters, and allocates nothing, plain or in a tunnel.
func TestZeroAllocsPerPacketEndToEnd(t *testing.T) {
	plain := readAll(t, filepath.Join("..", "testdata", "real", "ldaps-tls13.pcap"))
	for _, kind := range []string{"", "vxlan", "erspan2", "gtpu", "mpls-over-gre", "qinq-in-vxlan"} {
		frames := plain
		if kind != "" {
			wrap, err := encap.Wrapper(kind)
			if err != nil {
				t.Fatal(err)
			}
			frames = make([]frame, len(plain))
			for i, f := range plain {
				d := wrap(f.data)
				frames[i] = frame{f.p, d}
				frames[i].p.Data = d
			}
		}
		var labels []flow.Label
		cfg := classify.DefaultConfig()
		cfg.Detectors = classify.Detectors(nil)
		e := classify.New(cfg, func(r *flow.Record) { labels = append(labels, r.Label) })
		last := -1
		for i := range frames {
			e.Packet(&frames[i].p)
			if len(frames[i].data) > 100 {
				last = i
			}
		}
		if last < 0 {
			t.Fatal("no data packet in the capture")
		}
		p := frames[last].p
		allocs := testing.AllocsPerRun(2000, func() { e.Packet(&p) })
		if allocs != 0 {
			t.Errorf("%s: %.2f allocations per packet on an established flow, want 0", kind, allocs)
		}
		e.Flush()
		if len(labels) != 1 || labels[0] != flow.LDAPS {
			t.Errorf("%s: labels %v, want one ldaps flow", kind, labels)
		}
	}
}

// BenchmarkEndToEnd runs every shipped capture through decode, flow tracking and the detectors
// (the policy and the output are benchmarked separately).
func BenchmarkEndToEnd(b *testing.B) {
	var frames []frame
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*", "*.pcap"))
	for _, f := range files {
		frames = append(frames, readAll(b, f)...)
	}
	if len(frames) == 0 {
		b.Skip("no captures")
	}
	var bytes int64
	for _, f := range frames {
		bytes += int64(len(f.data))
	}
	cfg := classify.DefaultConfig()
	cfg.Detectors = classify.Detectors(nil)
	b.ReportAllocs()
	b.SetBytes(bytes / int64(len(frames)))
	b.ResetTimer()
	for n := 0; n < b.N; {
		e := classify.New(cfg, func(*flow.Record) {})
		for i := range frames {
			if n == b.N {
				break
			}
			e.Packet(&frames[i].p)
			n++
		}
		e.Flush()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}
