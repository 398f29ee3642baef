package classify

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestFeedersFromSeveralGoroutines: a live capture reads several rings, each on its own
// goroutine with its own Feeder. Flows split over the feeders by flow (as the kernel's fanout
// splits them) give the same records as one feeder: every flow once, with every packet.
func TestFeedersFromSeveralGoroutines(t *testing.T) {
	tr := trace(11, 300)
	cfg := Config{UDPTimeout: 20 * time.Second, TCPTimeout: 40 * time.Second, TCPClosedTimeout: time.Second,
		Detectors: []flow.Detector{newLineDet()}}
	run := func(feeders int) []string {
		var got []string
		p := NewParallel(cfg, 2, func(r *flow.Record) { got = append(got, key4(r)) })
		fs := []*Feeder{p.main}
		for len(fs) < feeders {
			fs = append(fs, p.NewFeeder())
		}
		var wg sync.WaitGroup
		for i, f := range fs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j, tp := range tr {
					k, _ := makeKey(tp.p)
					if int(k[1]^k[3])%len(fs) != i { // the second and fourth byte of the client address
						continue
					}
					f.dispatch(tp.p, nanos(tp.ts), uint64(j+1), flow.FileRefOf("t"))
				}
				if f != p.main {
					f.Send()
				}
			}()
		}
		wg.Wait()
		p.Flush()
		p.Close()
		slices.Sort(got)
		return got
	}
	want := run(1)
	if len(want) < 300 {
		t.Fatalf("only %d records", len(want))
	}
	for _, n := range []int{2, 3} {
		got := run(n)
		if !slices.Equal(got, want) {
			t.Fatalf("%d feeders: %d records differ from one feeder's %d", n, len(got), len(want))
		}
	}
}

// TestTickEndsFlowsOnAQuietLink: with no packet after a flow's last one, a tick with the wall
// clock past its idle timeout ends it, before the end of input.
func TestTickEndsFlowsOnAQuietLink(t *testing.T) {
	cfg := Config{UDPTimeout: 30 * time.Second, Detectors: []flow.Detector{newLineDet()}}
	var mu sync.Mutex
	var got []*flow.Record
	p := NewParallel(cfg, 2, func(r *flow.Record) {
		mu.Lock()
		c := *r
		got = append(got, &c)
		mu.Unlock()
	})
	defer p.Close()
	c := netip.MustParseAddrPort("127.0.0.1:40000")
	s := netip.MustParseAddrPort("127.0.0.2:7")
	p.main.dispatch(pkt(c, s, decode.ProtoUDP, 0, 0, 0, "HELLO\n"), nanos(t0), 1, flow.FileRefOf("eth0"))
	p.main.Tick(t0.Add(10 * time.Second))
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("flow ended 10 s after its last packet, with a 30 s idle timeout")
	}
	p.main.Tick(t0.Add(31 * time.Second))
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n = len(got)
		mu.Unlock()
		if n == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n != 1 {
		t.Fatalf("after a tick past the idle timeout, %d flows ended; want 1 (before any flush)", n)
	}
	if r := got[0]; r.EndReason != flow.EndIdle {
		t.Errorf("flow ended as %v", r.EndReason)
	}
	if st, flows := p.LiveStats(); st.Flows != 1 || flows != 0 {
		t.Errorf("live stats: %d flows made, %d in the tables; want 1 and 0", st.Flows, flows)
	}
}

// TestWorkerHashIsSeeded: the worker a flow goes to depends on a per-engine seed, so traffic
// crafted to share one worker in one sensor does not in another; both directions of a flow
// still go to the same worker.
func TestWorkerHashIsSeeded(t *testing.T) {
	const workers = 8
	assign := func(seed maphash.Seed) []uint64 {
		var out []uint64
		for i := 0; i < 64; i++ {
			c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}), 40000)
			s := netip.MustParseAddrPort("127.0.0.2:389")
			k1, _ := makeKey(pkt(c, s, decode.ProtoTCP, ack, 1, 1, ""))
			k2, _ := makeKey(pkt(s, c, decode.ProtoTCP, ack, 1, 1, ""))
			w1, w2 := maphash.Bytes(seed, k1[:])%workers, maphash.Bytes(seed, k2[:])%workers
			if w1 != w2 {
				t.Fatalf("flow %d: the two directions go to workers %d and %d", i, w1, w2)
			}
			out = append(out, w1)
		}
		return out
	}
	a := NewParallel(Config{}, 2, func(*flow.Record) {})
	b := NewParallel(Config{}, 2, func(*flow.Record) {})
	defer a.Close()
	defer b.Close()
	if slices.Equal(assign(a.seed), assign(b.seed)) {
		t.Errorf("two engines put 64 flows on the same workers: the hash is not seeded")
	}
}
