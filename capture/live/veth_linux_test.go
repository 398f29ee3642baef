//go:build linux

package live

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/internal/netnstest"
)

// backends lists the backends this build can test: afpacket, and pcap in -tags libpcap builds.
func backends() []string {
	if havePcap {
		return []string{BackendAFPacket, BackendPcap}
	}
	return []string{BackendAFPacket}
}

// workersFor is the largest worker count a backend takes in these tests.
func workersFor(backend string) int {
	if backend == BackendPcap {
		return 1
	}
	return 3
}

// collector reads every Source of c in its own goroutine until Stop, keeping what it parses.
type collector struct {
	mu     sync.Mutex
	got    []got
	other  int            // frames that are not test frames
	errs   []error        // errors other than ErrTimeout and ErrStopped
	frames map[int]uint64 // last Frame per source
	wg     sync.WaitGroup
	// pause, when set, is called before each Next (a slow consumer).
	pause func()
	// raw, when not nil, receives a copy of every frame with its source, test frame or not.
	raw *[]rawFrame
}

// rawFrame is a copy of a delivered frame.
type rawFrame struct {
	source int
	data   string
}

func collect(c *Capture, pause func()) *collector { return collectRaw(c, pause, nil) }

func collectRaw(c *Capture, pause func(), raw *[]rawFrame) *collector {
	col := &collector{frames: map[int]uint64{}, pause: pause, raw: raw}
	for i, src := range c.Sources() {
		col.wg.Add(1)
		go func() {
			defer col.wg.Done()
			var p capture.Packet
			for {
				if col.pause != nil {
					col.pause()
				}
				err := src.Next(&p)
				switch {
				case err == nil:
				case errors.Is(err, ErrTimeout):
					continue
				case errors.Is(err, ErrStopped):
					return
				default:
					col.mu.Lock()
					col.errs = append(col.errs, err)
					col.mu.Unlock()
					continue
				}
				g, ok := parse(&p)
				col.mu.Lock()
				if col.raw != nil {
					*col.raw = append(*col.raw, rawFrame{i, string(p.Data)})
					ok = true
				}
				if p.Frame != col.frames[i]+1 {
					col.errs = append(col.errs, fmt.Errorf("source %d: frame %d after %d", i, p.Frame, col.frames[i]))
				}
				col.frames[i] = p.Frame
				if ok {
					g.source = i
					col.got = append(col.got, g)
				} else {
					col.other++
				}
				col.mu.Unlock()
			}
		}()
	}
	return col
}

// waitFor waits until n test frames were collected or d passed, and returns how many were.
func (col *collector) waitFor(n int, d time.Duration) int {
	end := time.Now().Add(d)
	for {
		col.mu.Lock()
		k := len(col.got)
		col.mu.Unlock()
		if k >= n || time.Now().After(end) {
			return k
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// count is the number of test frames collected so far.
func (col *collector) count() int {
	col.mu.Lock()
	defer col.mu.Unlock()
	return len(col.got)
}

// waitQuiet waits until no frame arrived for quiet (or max passed).
func (col *collector) waitQuiet(quiet, max time.Duration) {
	end := time.Now().Add(max)
	last, since := col.count(), time.Now()
	for time.Now().Before(end) && time.Since(since) < quiet {
		time.Sleep(5 * time.Millisecond)
		if n := col.count(); n != last {
			last, since = n, time.Now()
		}
	}
}

// finish stops the capture, waits for the readers, closes, and checks there was no error.
func (col *collector) finish(t *testing.T, c *Capture) []got {
	t.Helper()
	c.Stop()
	col.wg.Wait()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, err := range col.errs {
		t.Errorf("reader: %v", err)
	}
	if col.other > 0 {
		t.Errorf("%d frames that the test did not send", col.other)
	}
	return col.got
}

// open opens a capture on v.A from inside the namespace.
func open(t *testing.T, v *netnstest.Veth, cfg Config) *Capture {
	t.Helper()
	cfg.Interface = v.A
	var c *Capture
	if err := v.Do(func() (err error) { c, err = Open(cfg); return err }); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestFanoutEachPacketOnceFlowsTogether: 40 UDP flows, both directions interleaved, sent into
// the pair: every packet comes out exactly once, with its timestamp, length, interface name
// and per-source frame number, both directions of each flow come out of the same Source, and
// the flows are spread over more than one Source.
func TestFanoutEachPacketOnceFlowsTogether(t *testing.T) {
	for _, backend := range backends() {
		t.Run(backend, func(t *testing.T) {
			v := netnstest.New(t)
			c := open(t, v, Config{Backend: backend, Workers: workersFor(backend), Promiscuous: true, PollTimeout: 50 * time.Millisecond})
			if n := len(c.Sources()); n != workersFor(backend) {
				t.Fatalf("%d sources, want %d", n, workersFor(backend))
			}
			if n := promiscuity(t, v); n != workersFor(backend) {
				t.Errorf("promiscuity %d while open, want one per socket: %d", n, workersFor(backend))
			}
			col := collect(c, nil)
			w := v.Writer(t, v.B)
			const flows, perDir = 40, 10
			var sent []spec
			start := time.Now()
			for range perDir {
				for f := range flows {
					client := addr(fmt.Sprintf("127.0.%d.%d", f/200+1, f%200+1), uint16(40000+f))
					server := addr("127.0.0.1", 123)
					for _, s := range []spec{{src: client, dst: server}, {src: server, dst: client}} {
						s.vlan, s.size, s.id = -1, 40+f, uint32(len(sent))
						if err := w.Write(s.frame(t)); err != nil {
							t.Fatal(err)
						}
						sent = append(sent, s)
					}
				}
			}
			if n := col.waitFor(len(sent), 10*time.Second); n != len(sent) {
				t.Errorf("received %d of %d packets", n, len(sent))
			}
			st := sum(c.Stats())
			gots := col.finish(t, c)
			if n := promiscuity(t, v); n != 0 {
				t.Errorf("promiscuity %d after Close, want 0", n)
			}

			seen := make([]int, len(sent))
			flowSource := map[[2]netip.AddrPort]int{}
			sources := map[int]bool{}
			for _, g := range gots {
				if int(g.id) >= len(sent) {
					t.Fatalf("unknown id %d", g.id)
				}
				seen[g.id]++
				s := sent[g.id]
				if g.src != s.src || g.dst != s.dst {
					t.Errorf("id %d: %v -> %v, sent %v -> %v", g.id, g.src, g.dst, s.src, s.dst)
				}
				p := g.pkt
				if p.File != v.A || p.LinkType != layers.LinkTypeEthernet || p.HasVLAN {
					t.Errorf("id %d: file %q link type %v VLAN %v", g.id, p.File, p.LinkType, p.HasVLAN)
				}
				if want := 14 + 20 + 8 + s.size; p.Length != want {
					t.Errorf("id %d: length %d, want %d", g.id, p.Length, want)
				}
				if p.Timestamp.Before(start.Add(-time.Second)) || p.Timestamp.After(time.Now()) {
					t.Errorf("id %d: timestamp %v outside the test", g.id, p.Timestamp)
				}
				key := [2]netip.AddrPort{s.src, s.dst}
				if s.dst.Port() != 123 {
					key = [2]netip.AddrPort{s.dst, s.src}
				}
				if src, ok := flowSource[key]; ok && src != g.source {
					t.Errorf("flow %v: on sources %d and %d", key, src, g.source)
				}
				flowSource[key] = g.source
				sources[g.source] = true
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("id %d received %d times", id, n)
				}
			}
			if want := min(workersFor(backend), 2); len(sources) < want {
				t.Errorf("flows on %d sources, want at least %d", len(sources), want)
			}
			t.Logf("per source: %+v", c.Stats())
			if st.Delivered != uint64(len(sent)) || st.Packets != uint64(len(sent)) || st.Drops != 0 {
				t.Errorf("stats %+v, want %d packets delivered, none dropped", st, len(sent))
			}
		})
	}
}

// TestVLAN: tagged frames written into the pair come out with their VLAN id: in Packet.VLAN
// and without the tag in Data (afpacket), or with the tag in Data (pcap, where libpcap puts
// it back). Untagged frames have none.
func TestVLAN(t *testing.T) {
	for _, backend := range backends() {
		t.Run(backend, func(t *testing.T) {
			v := netnstest.New(t)
			c := open(t, v, Config{Backend: backend, Workers: 1, PollTimeout: 50 * time.Millisecond})
			col := collect(c, nil)
			w := v.Writer(t, v.B)
			vlans := []int{-1, 0, 5, 100, 4094, -1, 7}
			for i, vl := range vlans {
				s := spec{src: addr("127.0.0.2", 5060), dst: addr("127.0.0.1", 5060), vlan: vl, id: uint32(i), size: 100}
				if err := w.Write(s.frame(t)); err != nil {
					t.Fatal(err)
				}
			}
			col.waitFor(len(vlans), 5*time.Second)
			gots := col.finish(t, c)
			if len(gots) != len(vlans) {
				t.Fatalf("received %d of %d frames", len(gots), len(vlans))
			}
			for _, g := range gots {
				want := vlans[g.id]
				p := g.pkt
				switch {
				case backend == BackendPcap && (p.HasVLAN || g.inTag != want):
					t.Errorf("frame %d: pcap: tag in frame %d, metadata %v/%d; want %d in the frame", g.id, g.inTag, p.HasVLAN, p.VLAN, want)
				case backend == BackendAFPacket && want < 0 && (p.HasVLAN || g.inTag >= 0):
					t.Errorf("frame %d: untagged, got VLAN %v/%d (tag in frame %d)", g.id, p.HasVLAN, p.VLAN, g.inTag)
				case backend == BackendAFPacket && want >= 0 && (!p.HasVLAN || int(p.VLAN) != want || g.inTag >= 0):
					t.Errorf("frame %d: got VLAN %v/%d (tag in frame %d), want %d in the metadata", g.id, p.HasVLAN, p.VLAN, g.inTag, want)
				}
				wire := 14 + 20 + 8 + 100
				if want >= 0 {
					wire += 4
				}
				if p.Length != wire {
					t.Errorf("frame %d: length %d, want %d (the tag counts, as on the wire)", g.id, p.Length, wire)
				}
			}
		})
	}
}

// TestStopDrainsWhatWasCaptured: packets that reached the rings before Stop are all delivered
// after it, then ErrStopped; packets sent after Stop are neither delivered nor counted.
func TestStopDrainsWhatWasCaptured(t *testing.T) {
	for _, backend := range backends() {
		t.Run(backend, func(t *testing.T) {
			v := netnstest.New(t)
			c := open(t, v, Config{Backend: backend, Workers: workersFor(backend), PollTimeout: 50 * time.Millisecond})
			w := v.Writer(t, v.B)
			send := func(from, n int) {
				for i := from; i < from+n; i++ {
					s := spec{src: addr("127.0.0.2", uint16(1000+i%97)), dst: addr("127.0.0.1", 53), vlan: -1, id: uint32(i), size: 200}
					if err := w.Write(s.frame(t)); err != nil {
						t.Fatal(err)
					}
				}
			}
			const before = 500
			send(0, before)
			time.Sleep(time.Millisecond) // the last frame out of the veth's backlog
			c.Stop()
			send(before, 100)
			col := collect(c, nil) // readers start only now
			col.wg.Wait()          // they end by themselves, with ErrStopped
			st := sum(c.Stats())
			gots := col.finish(t, c)
			ids := map[uint32]bool{}
			for _, g := range gots {
				if g.id >= before {
					t.Errorf("frame %d, sent after Stop, delivered", g.id)
				}
				ids[g.id] = true
			}
			if len(ids) != before || len(gots) != before {
				t.Errorf("delivered %d frames (%d distinct), want the %d sent before Stop", len(gots), len(ids), before)
			}
			if backend == BackendAFPacket && st.Packets != before {
				t.Errorf("kernel counted %d packets, want %d", st.Packets, before)
			}
			var p capture.Packet
			for _, src := range c.Sources() {
				if err := src.Next(&p); !errors.Is(err, ErrStopped) {
					t.Errorf("Next after Close: %v, want ErrStopped", err)
				}
			}
		})
	}
}

// TestStopAndCloseWithBlockedReaders: readers waiting in Next on a silent link (poll timeout
// of 20 s) return ErrStopped soon after Stop, without waiting for the poll timeout; Close with
// readers still blocked (no Stop first) waits for them and does not crash; both are
// idempotent.
func TestStopAndCloseWithBlockedReaders(t *testing.T) {
	const poll = 20 * time.Second
	for _, backend := range backends() {
		for _, how := range []string{"stop-then-close", "close-only"} {
			t.Run(backend+"/"+how, func(t *testing.T) {
				v := netnstest.New(t)
				c := open(t, v, Config{Backend: backend, Workers: workersFor(backend), PollTimeout: poll})
				errc := make(chan error, len(c.Sources()))
				for _, src := range c.Sources() {
					go func() {
						var p capture.Packet
						errc <- src.Next(&p)
					}()
				}
				time.Sleep(100 * time.Millisecond) // the readers are in poll
				start := time.Now()
				closed := make(chan error, 1)
				if how == "stop-then-close" {
					c.Stop()
					c.Stop()
				} else {
					go func() { closed <- c.Close() }()
				}
				for range c.Sources() {
					if err := <-errc; !errors.Is(err, ErrStopped) {
						t.Errorf("Next: %v, want ErrStopped", err)
					}
				}
				if how == "close-only" {
					if err := <-closed; err != nil {
						t.Errorf("Close: %v", err)
					}
				}
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if d := time.Since(start); d > poll/2 {
					t.Errorf("readers returned after %v: Stop waited for the poll timeout", d)
				}
				if st := c.Stats(); len(st) != len(c.Sources()) {
					t.Errorf("Stats after Close: %d entries", len(st))
				}
			})
		}
	}
}

// TestTinyRingDropCount: a 2 x 64 KiB ring and a slow reader under a burst: the drop counter
// equals exactly the packets sent that the reader did not see, and the kernel's packet count
// equals what was sent.
func TestTinyRingDropCount(t *testing.T) {
	for _, backend := range backends() {
		t.Run(backend, func(t *testing.T) {
			v := netnstest.New(t)
			c := open(t, v, Config{Backend: backend, Workers: 1, BlockSize: MinBlockSize, NumBlocks: MinNumBlocks,
				PollTimeout: 200 * time.Millisecond})
			var n int
			col := collect(c, func() {
				if n++; n%16 == 0 {
					time.Sleep(time.Millisecond)
				}
			})
			// Stats read all along, concurrently with the reader: the kernel resets its
			// counters on each read, so only a sum kept across reads comes out right.
			polled := make(chan struct{})
			pollStop := make(chan struct{})
			go func() {
				defer close(polled)
				for {
					select {
					case <-pollStop:
						return
					case <-time.After(2 * time.Millisecond):
						c.Stats()
					}
				}
			}()
			w := v.Writer(t, v.B)
			const sent = 4000
			for i := range sent {
				s := spec{src: addr("127.0.0.2", uint16(2000+i%300)), dst: addr("127.0.0.1", 389), vlan: -1, id: uint32(i), size: 1000}
				if err := w.Write(s.frame(t)); err != nil {
					t.Fatal(err)
				}
			}
			col.waitQuiet(300*time.Millisecond, 10*time.Second) // what is left in the ring
			close(pollStop)
			<-polled
			st := sum(c.Stats())
			gots := col.finish(t, c)
			received := uint64(len(gots))
			t.Logf("%s: sent %d, received %d, stats %+v", backend, sent, received, st)
			if st.Drops == 0 {
				t.Fatalf("no drop: the ring was not overrun (received %d of %d)", received, sent)
			}
			if st.Packets != sent {
				t.Errorf("kernel counted %d packets, sent %d", st.Packets, sent)
			}
			if st.Drops != sent-received {
				t.Errorf("drops %d, want sent - received = %d", st.Drops, sent-received)
			}
			if backend == BackendAFPacket && st.QueueFreezes == 0 {
				t.Errorf("no queue freeze counted on an overrun ring")
			}
		})
	}
}

// TestOpenErrors: an unknown interface and a missing permission are one line naming the
// interface, and nothing is left open.
func TestOpenErrors(t *testing.T) {
	for _, backend := range backends() {
		t.Run(backend, func(t *testing.T) {
			_, err := Open(Config{Backend: backend, Interface: "nope0"})
			if err == nil || !strings.Contains(err.Error(), `"nope0"`) || strings.Contains(err.Error(), "\n") {
				t.Errorf("unknown interface: %v", err)
			}
			v := netnstest.New(t)
			err = v.Do(func() error {
				if err := dropCapNetRaw(); err != nil {
					return fmt.Errorf("dropping CAP_NET_RAW: %w", err)
				}
				_, err := Open(Config{Backend: backend, Interface: v.A})
				if err == nil {
					return errors.New("Open without CAP_NET_RAW succeeded")
				}
				msg := err.Error()
				if !strings.Contains(msg, v.A) || strings.Contains(msg, "\n") {
					return fmt.Errorf("error does not name %s in one line: %q", v.A, msg)
				}
				if backend == BackendAFPacket && !strings.Contains(msg, "CAP_NET_RAW") {
					return fmt.Errorf("error does not say what is missing: %q", msg)
				}
				t.Logf("without CAP_NET_RAW: %v", err)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// TestFilterFromFirstPacket: while frames to ports 5000 and 5001 stream into the pair, a
// capture opened with a filter for port 5000 never delivers a frame to 5001, from the first
// packet on (repeated, to hit the moment the sockets are set up while traffic flows).
func TestFilterFromFirstPacket(t *testing.T) {
	prog, err := ReadFilterFile("testdata/udp-dst-5000.bpf")
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range backends() {
		for _, kind := range []string{"program", "expression"} {
			t.Run(backend+"/"+kind, func(t *testing.T) {
				if _, err := exec.LookPath("tcpdump"); err != nil && kind == "expression" && !havePcap {
					t.Skip("tcpdump is not installed")
				}
				v := netnstest.New(t)
				w := v.Writer(t, v.B)
				frames := [2][]byte{
					spec{src: addr("127.0.0.2", 999), dst: addr("127.0.0.1", 5000), vlan: -1, id: 1}.frame(t),
					spec{src: addr("127.0.0.2", 999), dst: addr("127.0.0.1", 5001), vlan: -1, id: 2}.frame(t),
				}
				stop := make(chan struct{})
				sent := make(chan int)
				go func() {
					n := 0
					for {
						select {
						case <-stop:
							sent <- n
							return
						default:
						}
						if w.Write(frames[n%2]) == nil {
							n++
						}
					}
				}()
				var wanted, unwanted int
				for range 3 {
					cfg := Config{Backend: backend, Workers: workersFor(backend), PollTimeout: 20 * time.Millisecond}
					if kind == "program" {
						cfg.Filter = prog
					} else {
						cfg.FilterExpr = "udp dst port 5000"
					}
					c := open(t, v, cfg)
					col := collect(c, nil)
					col.waitFor(100, 2*time.Second)
					for _, g := range col.finish(t, c) {
						if g.dst.Port() == 5000 {
							wanted++
						} else {
							unwanted++
						}
					}
				}
				close(stop)
				n := <-sent
				t.Logf("sent %d frames while capturing; delivered %d to port 5000, %d to 5001", n, wanted, unwanted)
				if unwanted > 0 || wanted == 0 {
					t.Errorf("delivered %d frames the filter rejects and %d it accepts", unwanted, wanted)
				}
			})
		}
	}
}

// TestNoAllocPerPacket: reading VLAN-tagged frames costs no allocation per packet (gopacket's
// afpacket allocates an AncillaryVLAN for each).
func TestNoAllocPerPacket(t *testing.T) {
	v := netnstest.New(t)
	c := open(t, v, Config{Workers: 1, PollTimeout: 50 * time.Millisecond})
	w := v.Writer(t, v.B)
	const n = 3000
	for i := range n {
		s := spec{src: addr("127.0.0.2", 5060), dst: addr("127.0.0.1", 5060), vlan: 100 + i%50, id: uint32(i), size: 300}
		if err := w.Write(s.frame(t)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * blockTimeout) // the last block is handed over
	src := c.Sources()[0]
	var p capture.Packet
	var tagged, errs int
	allocs := testing.AllocsPerRun(n-100, func() {
		if err := src.Next(&p); err != nil {
			errs++
		} else if p.HasVLAN && p.VLAN >= 100 {
			tagged++
		}
	})
	if errs > 0 || tagged != n-100+1 {
		t.Fatalf("%d errors, %d tagged frames of %d read", errs, tagged, n-100+1)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
}

// TestTwoCapturesDoNotShareAGroup: two captures on one interface with the default fanout
// group each get every packet (two sensors never collide); two with the same explicit group
// share them.
func TestTwoCapturesDoNotShareAGroup(t *testing.T) {
	for _, group := range []uint16{0, 4242} {
		t.Run(fmt.Sprint("group ", group), func(t *testing.T) {
			v := netnstest.New(t)
			cfg := Config{Workers: 2, FanoutGroup: group, PollTimeout: 20 * time.Millisecond}
			c1, c2 := open(t, v, cfg), open(t, v, cfg)
			col1, col2 := collect(c1, nil), collect(c2, nil)
			w := v.Writer(t, v.B)
			const n = 300
			for i := range n {
				s := spec{src: addr("127.0.0.2", uint16(1000+i)), dst: addr("127.0.0.1", 53), vlan: -1, id: uint32(i)}
				if err := w.Write(s.frame(t)); err != nil {
					t.Fatal(err)
				}
			}
			want := 2 * n // each gets every packet
			if group != 0 {
				want = n // they share them
			}
			for end := time.Now().Add(5 * time.Second); col1.count()+col2.count() < want && time.Now().Before(end); {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // and no more
			n1, n2 := len(col1.finish(t, c1)), len(col2.finish(t, c2))
			if group == 0 && (n1 != n || n2 != n) {
				t.Errorf("default groups: captures got %d and %d packets, want %d each", n1, n2, n)
			}
			if group != 0 && (n1+n2 != n || n1 == 0 || n2 == 0) {
				t.Errorf("shared group %d: captures got %d and %d packets, want %d between them", group, n1, n2, n)
			}
		})
	}
}

// TestFragmentsArriveReassembled documents what the fanout's defrag flag does: the kernel
// reassembles IPv4 fragments before choosing a socket, so a datagram sent in two fragments is
// delivered as one frame holding the whole datagram (and counted once), on the Source of its
// flow; a datagram whose fragments never complete is not delivered at all.
func TestFragmentsArriveReassembled(t *testing.T) {
	v := netnstest.New(t)
	c := open(t, v, Config{Workers: 3, PollTimeout: 20 * time.Millisecond})
	col := collect(c, nil)
	w := v.Writer(t, v.B)
	const size = 3000
	whole := spec{src: addr("127.0.0.2", 7000), dst: addr("127.0.0.1", 7001), vlan: -1, id: 42, size: size}.frame(t)
	for i, part := range fragment(t, whole, 1480) {
		if err := w.Write(part); err != nil {
			t.Fatal(err)
		}
		if i == 0 { // a lone first fragment of another datagram: never completed
			lone := fragment(t, spec{src: addr("127.0.0.3", 7000), dst: addr("127.0.0.1", 7001), vlan: -1, id: 43, size: size}.frame(t), 1480)[0]
			if err := w.Write(lone); err != nil {
				t.Fatal(err)
			}
		}
	}
	col.waitFor(1, 2*time.Second)
	time.Sleep(50 * time.Millisecond)
	st := sum(c.Stats())
	gots := col.finish(t, c)
	if len(gots) != 1 || gots[0].id != 42 {
		t.Fatalf("got %d frames (%+v), want the one reassembled datagram", len(gots), gots)
	}
	if n := gots[0].pkt.Length; n != len(whole) {
		t.Errorf("reassembled frame of %d bytes, want %d", n, len(whole))
	}
	if st.Packets != 1 {
		t.Errorf("kernel counted %d packets, want 1", st.Packets)
	}
}

// fragment splits an untagged Ethernet+IPv4 frame into IPv4 fragments of at most mtu bytes of
// IP packet (payload cut on 8-byte boundaries).
func fragment(t *testing.T, frame []byte, mtu int) [][]byte {
	t.Helper()
	eth, ip := frame[:14], frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	hdr, payload := ip[:ihl], ip[ihl:]
	step := (mtu - ihl) &^ 7
	var out [][]byte
	for off := 0; off < len(payload); off += step {
		end := min(off+step, len(payload))
		h := slices.Clone(hdr)
		binary.BigEndian.PutUint16(h[2:], uint16(ihl+end-off))
		binary.BigEndian.PutUint16(h[4:], 0x1234)
		flags := uint16(off / 8)
		if end < len(payload) {
			flags |= 0x2000 // more fragments
		}
		binary.BigEndian.PutUint16(h[6:], flags)
		h[10], h[11] = 0, 0
		var sum uint32
		for i := 0; i < len(h); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(h[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
		f := slices.Concat(eth, h, payload[off:end])
		out = append(out, f)
	}
	return out
}

// TestVLANFilter: "vlan 100" compiled for the live interface (tcpdump -i IF, or libpcap on the
// open handle) reads the tag from the kernel's metadata, where it is once stripped from the
// frame: only VLAN 100 comes through. (Code compiled for a capture file, tcpdump -r F -ddd,
// looks for ethertype 0x8100 in the frame instead, which is no longer there.)
func TestVLANFilter(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil && !havePcap {
		t.Skip("tcpdump is not installed")
	}
	for _, backend := range backends() {
		t.Run(backend, func(t *testing.T) {
			v := netnstest.New(t)
			c := open(t, v, Config{Backend: backend, Workers: workersFor(backend), FilterExpr: "vlan 100", PollTimeout: 20 * time.Millisecond})
			col := collect(c, nil)
			w := v.Writer(t, v.B)
			vlans := []int{100, 200, -1, 100, 0, 100}
			for i, vl := range vlans {
				s := spec{src: addr("127.0.0.2", 5060), dst: addr("127.0.0.1", 5060), vlan: vl, id: uint32(i)}
				if err := w.Write(s.frame(t)); err != nil {
					t.Fatal(err)
				}
			}
			col.waitFor(3, 2*time.Second)
			col.waitQuiet(100*time.Millisecond, time.Second)
			var ids []uint32
			for _, g := range col.finish(t, c) {
				ids = append(ids, g.id)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, []uint32{0, 3, 5}) {
				t.Errorf("frames %v came through, want those of VLAN 100: [0 3 5]", ids)
			}
		})
	}
}

// TestFanoutGroupZero: the kernel numbers the groups it chooses from 0 up, across the whole
// system, and wraps: when it picks 0 for the first socket, the others must still join that
// group (0 is not "no group yet"), or each packet reaches two sockets. The test drives the
// kernel's counter to 65535 with throwaway groups, so that the capture's group is 0.
func TestFanoutGroupZero(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates up to 65536 fanout groups (about 6 s)")
	}
	if havePcap {
		t.Skip("afpacket only: the default build's tests run it")
	}
	v := netnstest.New(t)
	var c *Capture
	err := v.Do(func() error {
		ifc, err := net.InterfaceByName(v.A)
		if err != nil {
			return err
		}
		for range 1 << 16 {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			var id int
			err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
			if err == nil {
				err = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(fanoutFlags|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16)
			}
			if err == nil {
				id, err = unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
			}
			unix.Close(fd)
			if err != nil {
				return err
			}
			if uint16(id) == 0xffff {
				c, err = Open(Config{Interface: v.A, Workers: 3, PollTimeout: 20 * time.Millisecond})
				return err
			}
		}
		return errors.New("the kernel never chose group 65535")
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	col := collect(c, nil)
	w := v.Writer(t, v.B)
	const n = 200
	for i := range n {
		s := spec{src: addr("127.0.0.2", uint16(1000+i)), dst: addr("127.0.0.1", 53), vlan: -1, id: uint32(i)}
		if err := w.Write(s.frame(t)); err != nil {
			t.Fatal(err)
		}
	}
	col.waitFor(n, 2*time.Second)
	col.waitQuiet(50*time.Millisecond, time.Second)
	st := sum(c.Stats())
	if got := len(col.finish(t, c)); got != n || st.Packets != n {
		t.Errorf("%d packets sent, %d delivered, %d counted by the kernel: want each once", n, got, st.Packets)
	}
}

// promiscuity is the promiscuous-mode count of v.A (ip -d link).
func promiscuity(t *testing.T, v *netnstest.Veth) int {
	t.Helper()
	out, err := v.Command(context.Background(), "ip", "-d", "link", "show", v.A).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -d link show: %v: %s", err, out)
	}
	f := strings.Fields(string(out))
	for i, w := range f[:len(f)-1] {
		if w == "promiscuity" {
			n, err := strconv.Atoi(f[i+1])
			if err != nil {
				t.Fatalf("ip -d link show: %q", out)
			}
			return n
		}
	}
	t.Fatalf("no promiscuity in %q", out)
	return 0
}
