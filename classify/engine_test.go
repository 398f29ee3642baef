package classify

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// lineDet is a test protocol: a flow whose first client bytes are "HELLO" is claimed as SIP,
// and every complete line is recorded; a line "BYE" means Done, "PANIC" panics. A first
// payload of "WELCOME" from the server also claims (and reverses) the flow.
type lineDet struct {
	mu     sync.Mutex // a detector is shared by every worker
	name   string
	prefix string
	port   uint16
	lines  map[*flow.Open][]string // by flow: the Flow of a call is the engine's, reused for every flow
	calls  int
}

func newLineDet() *lineDet {
	return &lineDet{name: "line", prefix: "HELLO", port: 7, lines: map[*flow.Open][]string{}}
}

func (d *lineDet) Name() string                            { return d.name }
func (d *lineDet) Accepts(flow.Transport) bool             { return true }
func (d *lineDet) Hint(_ flow.Transport, port uint16) bool { return port == d.port }
func (d *lineDet) Inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if f.Label == flow.Unknown {
		switch {
		case len(data) < 5:
			if bytes.HasPrefix([]byte(d.prefix), data) {
				return flow.More, 0 // cannot tell yet
			}
			return flow.Reject, 0
		case bytes.HasPrefix(data, []byte(d.prefix)):
			f.Claim(flow.SIP)
		case bytes.HasPrefix(data, []byte("WELCOME")):
			f.Claim(flow.SIP)
			f.Reverse()
		default:
			return flow.Reject, 0
		}
	}
	n := 0
	for {
		i := bytes.IndexByte(data[n:], '\n')
		if i < 0 {
			return flow.More, n
		}
		line := string(data[n : n+i])
		if dir == flow.FromServer {
			line = "S:" + line
		}
		d.lines[f.Open] = append(d.lines[f.Open], line)
		n += i + 1
		switch line {
		case "BYE":
			return flow.Done, n
		case "PANIC":
			panic("hostile")
		}
	}
}

var (
	cli = netip.MustParseAddrPort("127.0.0.1:40000")
	srv = netip.MustParseAddrPort("127.0.0.2:7")
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

type harness struct {
	t     *testing.T
	e     *Engine
	det   *lineDet
	recs  []flow.Record
	frame uint64
	now   time.Time
}

func newHarness(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, det: newLineDet(), now: t0}
	cfg.Detectors = []flow.Detector{h.det}
	h.e = New(cfg, func(r *flow.Record) {
		h.recs = append(h.recs, *r)
	})
	return h
}

func pkt(from, to netip.AddrPort, proto uint8, flags uint8, seq, ack uint32, payload string) *decode.Packet {
	p := &decode.Packet{Proto: proto, SrcPort: from.Port(), DstPort: to.Port(), Flags: flags, Seq: seq, Ack: ack,
		Payload: []byte(payload), IPLen: 40 + len(payload)}
	p.Src, p.Dst = from.Addr().As16(), to.Addr().As16()
	p.IPv4 = from.Addr().Is4()
	if p.IPv4 {
		p.Src, p.Dst = netip.AddrFrom4(from.Addr().As4()).As16(), netip.AddrFrom4(to.Addr().As4()).As16()
	}
	return p
}

// handshake opens the TCP flow cli → srv: the SYN (sequence 100), the SYN-ACK (500) and the
// client's ACK, a millisecond apart.
func (h *harness) handshake() {
	T := uint8(decode.ProtoTCP)
	h.send(pkt(cli, srv, T, decode.FlagSYN, 100, 0, ""), 0)
	h.send(pkt(srv, cli, T, decode.FlagSYN|decode.FlagACK, 500, 101, ""), time.Millisecond)
	h.send(pkt(cli, srv, T, decode.FlagACK, 101, 501, ""), time.Millisecond)
}

func (h *harness) send(p *decode.Packet, after time.Duration) {
	h.frame++
	h.now = h.now.Add(after)
	h.e.Handle(p, h.now, h.frame, "test.pcap")
}

// allLines returns the lines the detector recorded (the tests follow one flow with lines).
func (h *harness) allLines() []string {
	var out []string
	for _, l := range h.det.lines {
		out = append(out, l...)
	}
	return out
}

const (
	syn    = decode.FlagSYN
	synack = decode.FlagSYN | decode.FlagACK
	ack    = decode.FlagACK
	fin    = decode.FlagFIN | decode.FlagACK
	rst    = decode.FlagRST
)

func TestTCPReassemblyDeliversInOrder(t *testing.T) {
	h := newHarness(t, Config{})
	T := uint8(decode.ProtoTCP)
	h.handshake()
	// "HELLO\nfirst line\nsecond line\n" in four segments: one out of order, one
	// retransmitted, one overlapping its predecessor.
	msg := "HELLO\nfirst line\nsecond line\n"
	h.send(pkt(cli, srv, T, ack, 101, 501, msg[:8]), time.Millisecond)     // "HELLO\nfi"
	h.send(pkt(cli, srv, T, ack, 101+16, 501, msg[16:]), time.Millisecond) // out of order
	h.send(pkt(cli, srv, T, ack, 101, 501, msg[:8]), time.Millisecond)     // retransmission
	h.send(pkt(cli, srv, T, ack, 101+5, 501, msg[5:16]), time.Millisecond) // overlaps by 3
	h.send(pkt(srv, cli, T, ack, 501, 101+uint32(len(msg)), "ok\n"), time.Millisecond)
	h.e.Flush()

	if len(h.recs) != 1 {
		t.Fatalf("got %d records, want 1", len(h.recs))
	}
	r := h.recs[0]
	if r.Label != flow.SIP || r.Client != cli || r.Server != srv || !r.ClientKnown {
		t.Errorf("record: label %v client %v server %v known %v", r.Label, r.Client, r.Server, r.ClientKnown)
	}
	want := []string{"HELLO", "first line", "second line", "S:ok"}
	if got := h.allLines(); !equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	st := h.e.Stats()
	if st.TCPOutOfOrder != 1 || st.TCPRetransmits != 1 || st.TCPOverlaps != 1 || st.TCPGaps != 0 {
		t.Errorf("stats: ooo %d retrans %d overlaps %d gaps %d", st.TCPOutOfOrder, st.TCPRetransmits, st.TCPOverlaps, st.TCPGaps)
	}
	if r.Packets != [2]uint64{6, 2} || r.FirstFrame != 1 || r.EndReason != flow.EndEOF {
		t.Errorf("packets %v first frame %d end %v", r.Packets, r.FirstFrame, r.EndReason)
	}
}

// Segments that arrive in reverse order wait in the queue sorted by sequence number, and are
// delivered in order once the first one comes; then the queue is let go.
func TestTCPSegmentsQueuedInReverseOrderAreDeliveredInOrder(t *testing.T) {
	h := newHarness(t, Config{})
	T := uint8(decode.ProtoTCP)
	h.handshake()
	msg := "HELLO\none\ntwo\nthree\n"
	cuts := []int{0, 6, 10, 14, len(msg)}
	for i := len(cuts) - 2; i >= 1; i-- { // the last segment first, the first one not yet
		h.send(pkt(cli, srv, T, ack, 101+uint32(cuts[i]), 501, msg[cuts[i]:cuts[i+1]]), time.Millisecond)
	}
	var en *entry
	h.e.flows.all(func(x *entry) { en = x })
	if en == nil || en.tcp == nil || en.tcp.s[0].waiting() != 3 {
		t.Fatalf("three segments should wait out of order")
	}
	h.send(pkt(cli, srv, T, ack, 101, 501, msg[:cuts[1]]), time.Millisecond)
	if en.tcp == nil || en.tcp.s[0].ooo != nil {
		t.Errorf("the drained queue is still held")
	}
	h.e.Flush()
	want := []string{"HELLO", "one", "two", "three"}
	if got := h.allLines(); !equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	if st := h.e.Stats(); st.TCPOutOfOrder != 3 || st.TCPGaps != 0 {
		t.Errorf("stats: out of order %d gaps %d, want 3 and 0", st.TCPOutOfOrder, st.TCPGaps)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTCPGapAckedButNotCapturedStopsInspection(t *testing.T) {
	h := newHarness(t, Config{})
	T := uint8(decode.ProtoTCP)
	h.send(pkt(cli, srv, T, syn, 100, 0, ""), 0)
	h.send(pkt(srv, cli, T, synack, 500, 101, ""), 0)
	h.send(pkt(cli, srv, T, ack, 101, 501, "HELLO\n"), 0)
	// 10 bytes at 107 were never captured, but the server acknowledges them.
	h.send(pkt(srv, cli, T, ack, 501, 117, ""), 0)
	h.send(pkt(cli, srv, T, ack, 117, 501, "after gap\n"), 0)
	h.e.Flush()
	r := h.recs[0]
	if r.Gaps != 1 || h.e.Stats().TCPGapBytes != 10 {
		t.Errorf("gaps %d gap bytes %d, want 1 and 10", r.Gaps, h.e.Stats().TCPGapBytes)
	}
	if got := h.allLines(); !equal(got, []string{"HELLO"}) {
		t.Errorf("lines after a gap = %q: a claimed flow must stop being inspected", got)
	}
}

func TestMessageAcrossSegmentsAndSeveralInOne(t *testing.T) {
	h := newHarness(t, Config{})
	T := uint8(decode.ProtoTCP)
	seq := uint32(1)
	for _, s := range []string{"HEL", "LO\nab", "c\nd\ne\n", "f"} {
		h.send(pkt(cli, srv, T, ack, seq, 1, s), 0)
		seq += uint32(len(s))
	}
	h.e.Flush()
	if got := h.allLines(); !equal(got, []string{"HELLO", "abc", "d", "e"}) {
		t.Errorf("lines = %q", got)
	}
	if h.recs[0].ClientKnown {
		t.Error("client known without a SYN")
	}
}

func TestSynAckFirstFixesClient(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(pkt(srv, cli, decode.ProtoTCP, synack, 500, 101, ""), 0)
	h.e.Flush()
	if r := h.recs[0]; r.Client != cli || r.Server != srv || !r.ClientKnown {
		t.Errorf("client %v server %v known %v", r.Client, r.Server, r.ClientKnown)
	}
}

func TestDetectorReverseOnResponseFirst(t *testing.T) {
	h := newHarness(t, Config{})
	// UDP: the server's "WELCOME" is the first packet seen.
	h.send(pkt(srv, cli, decode.ProtoUDP, 0, 0, 0, "WELCOME\n"), 0)
	h.send(pkt(cli, srv, decode.ProtoUDP, 0, 0, 0, "req\n"), 0)
	h.e.Flush()
	r := h.recs[0]
	if r.Client != cli || r.Server != srv {
		t.Errorf("after Reverse: client %v server %v, want %v %v", r.Client, r.Server, cli, srv)
	}
	if r.Packets != [2]uint64{1, 1} || r.Payload != [2]uint64{4, 8} {
		t.Errorf("counters not swapped with the endpoints: packets %v payload %v", r.Packets, r.Payload)
	}
	// Within the claiming call dir is still the old orientation; later calls see the new one.
	if got := h.allLines(); !equal(got, []string{"WELCOME", "req"}) {
		t.Errorf("lines = %q", got)
	}
}

func TestUndecidedBecomesUnknown(t *testing.T) {
	h := newHarness(t, Config{MaxUndecided: 3})
	for i := 0; i < 10; i++ {
		h.send(pkt(cli, srv, decode.ProtoUDP, 0, 0, 0, "HEL"), 0) // never decides
	}
	h.e.Flush()
	if h.recs[0].Label != flow.Unknown || h.det.calls != 3 {
		t.Errorf("label %v after %d calls; want unknown after 3", h.recs[0].Label, h.det.calls)
	}
}

func TestRejectedStreamIsNotInspectedAgain(t *testing.T) {
	h := newHarness(t, Config{})
	T := uint8(decode.ProtoTCP)
	h.send(pkt(cli, srv, T, syn, 1, 0, ""), 0)
	h.send(pkt(cli, srv, T, ack, 2, 1, "GET / HTTP/1.1\r\n"), 0)
	h.send(pkt(cli, srv, T, ack, 18, 1, "HELLO\n"), 0)
	h.e.Flush()
	if h.recs[0].Label != flow.Unknown || h.det.calls != 1 {
		t.Errorf("label %v calls %d: a rejection of a stream's first bytes is final", h.recs[0].Label, h.det.calls)
	}
}

func TestKeepAlivesAndMidStreamDoNotHideTheProtocol(t *testing.T) {
	// UDP: keep-alive datagrams before the first message.
	h := newHarness(t, Config{})
	for i := 0; i < 8; i++ {
		h.send(pkt(cli, srv, decode.ProtoUDP, 0, 0, 0, "hello"), 0)
	}
	h.send(pkt(cli, srv, decode.ProtoUDP, 0, 0, 0, "HELLO\n"), 0)
	// TCP picked up mid-stream: the first bytes are the tail of a message.
	c2 := netip.MustParseAddrPort("127.0.0.1:40001")
	h.send(pkt(c2, srv, decode.ProtoTCP, ack, 100, 1, "tail of something\n"), 0)
	h.send(pkt(c2, srv, decode.ProtoTCP, ack, 118, 1, "HELLO\n"), 0)
	h.e.Flush()
	for _, r := range h.recs {
		if r.Label != flow.SIP {
			t.Errorf("%v: label %v, want the protocol found after the noise", r.Client, r.Label)
		}
	}
}

func TestRejectedDatagramsOnAnUnhintedPortStopInspection(t *testing.T) {
	// Port 53 hints at no detector: after MaxRejected datagrams that every detector rejected,
	// the flow is unknown and its later packets are only counted.
	h := newHarness(t, Config{MaxRejected: 3})
	dns := netip.MustParseAddrPort("127.0.0.2:53")
	for i := 0; i < 10; i++ {
		h.send(pkt(cli, dns, decode.ProtoUDP, 0, 0, 0, "query"), 0)
	}
	h.send(pkt(cli, dns, decode.ProtoUDP, 0, 0, 0, "HELLO\n"), 0)
	h.e.Flush()
	if len(h.recs) != 1 || h.recs[0].Label != flow.Unknown || h.det.calls != 3 {
		t.Fatalf("%d records, label %v after %d calls; want one unknown flow after 3 calls", len(h.recs), h.recs[0].Label, h.det.calls)
	}
	if h.recs[0].Packets[flow.FromClient] != 11 {
		t.Errorf("packets %d, want all 11 counted", h.recs[0].Packets[flow.FromClient])
	}
}

func TestUnreportedUnknownFlowsAreStillFollowed(t *testing.T) {
	// With SkipUnknown, a flow found to be unknown keeps only its table entry: its later
	// packets must not start new flows, and its end is still counted.
	h := newHarness(t, Config{SkipUnknown: true, MaxRejected: 2})
	dns := netip.MustParseAddrPort("127.0.0.2:53")
	for i := 0; i < 6; i++ {
		h.send(pkt(cli, dns, decode.ProtoUDP, 0, 0, 0, "query"), time.Millisecond)
		h.send(pkt(dns, cli, decode.ProtoUDP, 0, 0, 0, "answer"), time.Millisecond)
	}
	web := netip.MustParseAddrPort("127.0.0.2:80")
	T := uint8(decode.ProtoTCP)
	h.send(pkt(cli, web, T, syn, 1, 0, ""), 0)
	h.send(pkt(web, cli, T, syn|ack, 9, 2, ""), 0)
	h.send(pkt(cli, web, T, ack, 2, 10, "GET / HTTP/1.1\r\n"), 0)
	h.send(pkt(web, cli, T, ack, 10, 18, "HTTP/1.1 200 OK\r\n"), 0)
	h.send(pkt(cli, web, T, fin|ack, 18, 27, ""), 0)
	h.send(pkt(web, cli, T, fin|ack, 27, 19, ""), 0)
	h.send(pkt(cli, web, T, ack, 19, 28, ""), 0) // late ACK: same closed flow
	h.e.Flush()
	st := h.e.Stats()
	if len(h.recs) != 0 {
		t.Errorf("%d records, want none (unknown flows are not reported)", len(h.recs))
	}
	if st.Flows != 2 || st.FlowsByLabel[flow.Unknown] != 2 {
		t.Errorf("flows %d, unknown %d; want 2 and 2", st.Flows, st.FlowsByLabel[flow.Unknown])
	}
	if st.EndReasons[flow.EndFIN] != 1 || st.EndReasons[flow.EndEOF] != 1 {
		t.Errorf("end reasons %v, want one fin and one eof", st.EndReasons)
	}
}

func TestDetectorPanicIsRecovered(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(pkt(cli, srv, decode.ProtoUDP, 0, 0, 0, "HELLO\nPANIC\n"), 0)
	h.send(pkt(cli, srv, decode.ProtoUDP, 0, 0, 0, "more\n"), 0)
	h.e.Flush()
	r := h.recs[0]
	if h.e.Stats().Panics != 1 || r.ParseErrors != 1 || r.Label != flow.SIP || r.Packets[0] != 2 {
		t.Errorf("panics %d parse errors %d label %v packets %v", h.e.Stats().Panics, r.ParseErrors, r.Label, r.Packets)
	}
}

func TestIdleExpiryOnPacketTime(t *testing.T) {
	h := newHarness(t, Config{UDPTimeout: time.Minute})
	other := netip.MustParseAddrPort("127.0.0.3:9")
	h.send(pkt(cli, srv, decode.ProtoUDP, 0, 0, 0, "x"), 0)
	h.send(pkt(cli, other, decode.ProtoUDP, 0, 0, 0, "x"), 30*time.Second)
	if len(h.recs) != 0 {
		t.Fatal("flow expired too early")
	}
	h.send(pkt(cli, other, decode.ProtoUDP, 0, 0, 0, "x"), 31*time.Second)
	if len(h.recs) != 1 || h.recs[0].Server != srv || h.recs[0].EndReason != flow.EndIdle {
		t.Fatalf("want the idle flow to %v expired, got %+v", srv, h.recs)
	}
	// Packet time, not the wall clock: a burst replayed much later expires the same way.
	h.e.Flush()
	if len(h.recs) != 2 || h.recs[1].EndReason != flow.EndEOF {
		t.Errorf("flush: %d records", len(h.recs))
	}
}

func TestFinBothSidesThenClosedTimeout(t *testing.T) {
	h := newHarness(t, Config{TCPClosedTimeout: time.Second})
	T := uint8(decode.ProtoTCP)
	h.send(pkt(cli, srv, T, syn, 1, 0, ""), 0)
	h.send(pkt(cli, srv, T, fin, 2, 1, ""), 0)
	h.send(pkt(srv, cli, T, fin, 1, 3, ""), 0)
	h.send(pkt(cli, srv, T, ack, 3, 2, ""), 100*time.Millisecond) // late ACK: same flow
	if len(h.recs) != 0 {
		t.Fatal("closed flow emitted before the closed timeout")
	}
	h.send(pkt(cli, netip.MustParseAddrPort("127.0.0.9:1"), decode.ProtoUDP, 0, 0, 0, "x"), 2*time.Second)
	if len(h.recs) != 1 || h.recs[0].EndReason != flow.EndFIN || h.recs[0].Packets[0] != 3 {
		t.Fatalf("records %+v", h.recs)
	}
}

func TestRstAndPortReuse(t *testing.T) {
	h := newHarness(t, Config{})
	T := uint8(decode.ProtoTCP)
	h.send(pkt(cli, srv, T, syn, 1, 0, ""), 0)
	h.send(pkt(srv, cli, T, rst, 0, 2, ""), 0)
	h.send(pkt(cli, srv, T, syn, 1000, 0, ""), 0) // a new connection on the same ports
	if len(h.recs) != 1 || h.recs[0].EndReason != flow.EndRST {
		t.Fatalf("records %+v", h.recs)
	}
	h.e.Flush()
	if len(h.recs) != 2 || h.recs[1].FirstFrame != 3 {
		t.Errorf("second connection: %+v", h.recs)
	}
}

func TestEvictionWhenFull(t *testing.T) {
	h := newHarness(t, Config{MaxFlows: 10})
	for i := 0; i < 25; i++ {
		c := netip.AddrPortFrom(cli.Addr(), uint16(1000+i))
		h.send(pkt(c, srv, decode.ProtoUDP, 0, 0, 0, "x"), time.Millisecond)
	}
	st := h.e.Stats()
	if h.e.Flows() > 10 || st.Evicted != 15 || len(h.recs) != 15 {
		t.Errorf("flows %d evicted %d emitted %d", h.e.Flows(), st.Evicted, len(h.recs))
	}
	if h.recs[0].Client.Port() != 1000 || h.recs[0].EndReason != flow.EndEvicted {
		t.Errorf("first evicted %v (%v), want the oldest", h.recs[0].Client, h.recs[0].EndReason)
	}
	if st.Emergencies == 0 {
		t.Error("a full table should enter emergency mode")
	}
}

func TestFlushOrderIsByFirstFrame(t *testing.T) {
	for run := 0; run < 3; run++ {
		h := newHarness(t, Config{})
		for i := 0; i < 200; i++ {
			c := netip.AddrPortFrom(cli.Addr(), uint16(5000-i))
			h.send(pkt(c, srv, decode.ProtoUDP, 0, 0, 0, "x"), 0)
		}
		h.e.Flush()
		for i := range h.recs {
			if h.recs[i].FirstFrame != uint64(i+1) {
				t.Fatalf("record %d has first frame %d", i, h.recs[i].FirstFrame)
			}
		}
	}
}

// TestDetectorSeesThePacketOfItsFlow: the engine lends every detector call one Flow, set to
// the flow and the packet being inspected. Two UDP flows interleave, from two capture files
// merged in packet time; each claim must record the frame, time and file of the packet that
// made it (its file named only when it is not the flow's first), never those of the other
// flow's latest packet, and each flow's lines must reach its own state.
func TestDetectorSeesThePacketOfItsFlow(t *testing.T) {
	h := newHarness(t, Config{})
	a, b := cli, netip.AddrPortFrom(cli.Addr(), cli.Port()+1)
	send := func(from netip.AddrPort, payload string, frame uint64, file string) {
		h.now = h.now.Add(time.Millisecond)
		h.e.Handle(pkt(from, srv, decode.ProtoUDP, 0, 0, 0, payload), h.now, frame, file)
	}
	send(a, "HEL", 1, "one.pcap")     // a: cannot tell yet
	send(b, "HEL", 2, "one.pcap")     // b: cannot tell yet
	send(b, "HELLO\n", 1, "two.pcap") // b is claimed by a packet of the other file
	send(a, "HELLO\n", 3, "one.pcap") // a is claimed by a packet of its own file
	h.e.Flush()
	type event struct {
		Frame uint64
		Time  flow.Time
		File  string
	}
	want := map[netip.AddrPort]event{
		b: {1, flow.TimeOf(t0.Add(3 * time.Millisecond)), "two.pcap"},
		a: {3, flow.TimeOf(t0.Add(4 * time.Millisecond)), ""},
	}
	if len(h.recs) != 2 {
		t.Fatalf("%d records, want 2", len(h.recs))
	}
	for _, r := range h.recs {
		got := event{r.ProtoFrame, r.ProtoTime, r.ProtoFile.String()}
		if r.Label != flow.SIP || got != want[r.Client] {
			t.Errorf("flow from %v: %v claimed at %+v, want %+v", r.Client, r.Label, got, want[r.Client])
		}
	}
	if len(h.det.lines) != 2 {
		t.Errorf("the detector saw lines of %d flows, want 2", len(h.det.lines))
	}
	for _, l := range h.det.lines {
		if !equal(l, []string{"HELLO"}) {
			t.Errorf("a flow's lines: %q, want its own HELLO", l)
		}
	}
}

func TestPortHintOrdersCandidates(t *testing.T) {
	a, b := newLineDet(), newLineDet()
	a.port, b.port = 1, 7
	a.prefix, b.prefix = "HELLO", "HELLO"
	var got []flow.Label
	e := New(Config{Detectors: []flow.Detector{a, b}}, func(r *flow.Record) { got = append(got, r.Label) })
	e.Handle(pkt(cli, srv, decode.ProtoUDP, 0, 0, 0, "HELLO\n"), t0, 1, "x")
	e.Flush()
	if a.calls != 0 || b.calls != 1 {
		t.Errorf("calls: unhinted %d, hinted %d; the detector hinted by port 7 must go first", a.calls, b.calls)
	}
}

func TestZeroAllocsPerPacketOnEstablishedFlows(t *testing.T) {
	h := newHarness(t, Config{})
	T := uint8(decode.ProtoTCP)
	h.send(pkt(cli, srv, T, syn, 1, 0, ""), 0)
	h.send(pkt(srv, cli, T, synack, 1, 2, ""), 0)
	h.send(pkt(cli, srv, T, ack, 2, 2, "HELLO\nBYE\n"), 0) // Done: bulk bytes follow
	bulk := pkt(cli, srv, T, ack, 12, 2, string(make([]byte, 1400)))
	udp := pkt(cli, netip.MustParseAddrPort("127.0.0.5:7"), decode.ProtoUDP, 0, 0, 0, "HELLO\n")
	h.send(udp, 0)
	udpMore := pkt(cli, netip.MustParseAddrPort("127.0.0.5:7"), decode.ProtoUDP, 0, 0, 0, "another line\n")
	ts := t0.Add(time.Second)
	n := h.e.Flows()
	allocs := testing.AllocsPerRun(1000, func() {
		ts = ts.Add(time.Microsecond)
		bulk.Seq += 1400
		h.e.Handle(bulk, ts, 10, "test.pcap")
		h.e.Handle(udpMore, ts, 11, "test.pcap")
	})
	// The line detector itself allocates a string per line; measure the engine alone on the
	// Done flow, and allow the detector's own allocation on the UDP flow.
	if allocs > 2 {
		t.Errorf("%.1f allocations per packet pair, want at most the detector's own 2", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		ts = ts.Add(time.Microsecond)
		bulk.Seq += 1400
		h.e.Handle(bulk, ts, 10, "test.pcap")
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet on an established flow, want 0", allocs)
	}
	if h.e.Flows() != n {
		t.Errorf("flows changed: %d → %d", n, h.e.Flows())
	}
}

func TestHalfOpenFlows(t *testing.T) {
	h := newHarness(t, Config{})
	T := uint8(decode.ProtoTCP)
	scan := netip.MustParseAddrPort("127.0.0.9:5555")
	// A SYN, its retransmission, then nothing: one unknown flow of two packets, expired after
	// the half-open timeout.
	h.send(pkt(scan, srv, T, syn, 10, 0, ""), 0)
	h.send(pkt(scan, srv, T, syn, 10, 0, ""), time.Second)
	// A SYN answered: promoted to a full flow with the SYN's packets counted.
	h.send(pkt(cli, srv, T, syn, 100, 0, ""), 0)
	h.send(pkt(srv, cli, T, synack, 500, 101, ""), 0)
	h.send(pkt(cli, srv, T, ack, 101, 501, "HELLO\n"), 0)
	if n := len(h.e.half); n != 1 {
		t.Fatalf("%d half-open flows, want 1", n)
	}
	h.send(pkt(cli, srv, T, ack, 107, 501, "x\n"), 31*time.Second)
	if len(h.recs) != 1 {
		t.Fatalf("%d records after the half-open timeout, want 1", len(h.recs))
	}
	r := h.recs[0]
	if r.Client != scan || r.Label != flow.Unknown || r.Packets[0] != 2 || r.EndReason != flow.EndIdle || !r.ClientKnown {
		t.Errorf("half-open record: %+v", r)
	}
	h.e.Flush()
	r = h.recs[1]
	if r.Client != cli || r.Label != flow.SIP || r.Packets != [2]uint64{3, 1} || r.FirstFrame != 3 {
		t.Errorf("promoted flow: client %v label %v packets %v first frame %d", r.Client, r.Label, r.Packets, r.FirstFrame)
	}
}

func TestSynFloodStaysBounded(t *testing.T) {
	h := newHarness(t, Config{MaxFlows: 1000, SkipUnknown: true})
	T := uint8(decode.ProtoTCP)
	// A conversation that started before the flood goes on during it.
	h.send(pkt(cli, srv, T, syn, 100, 0, ""), 0)
	h.send(pkt(srv, cli, T, synack, 500, 101, ""), 0)
	h.send(pkt(cli, srv, T, ack, 101, 501, "HELLO\n"), 0)
	for i := 0; i < 20000; i++ {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, byte(i >> 8), byte(i)}), uint16(1024+i%50000))
		h.send(pkt(src, srv, T, syn, uint32(i), 0, ""), time.Microsecond)
		if i%1000 == 0 {
			h.send(pkt(cli, srv, T, ack, 107+uint32(i/1000)*2, 501, "x\n"), 0)
		}
	}
	st := h.e.Stats()
	// SYN-only flows hold at most an eighth of the table; the rest stays for flows that talk.
	if len(h.e.half) > 1000/8 || st.Evicted < 19000 || st.HalfOpenEvicted != st.Evicted || st.Emergencies == 0 {
		t.Errorf("half-open %d evicted %d (half-open %d) emergencies %d", len(h.e.half), st.Evicted, st.HalfOpenEvicted, st.Emergencies)
	}
	if h.e.flows.n != 1 {
		t.Errorf("%d full flows during the flood, want the one conversation", h.e.flows.n)
	}
	if len(h.recs) != 0 {
		t.Errorf("%d records emitted for unknown flows with SkipUnknown", len(h.recs))
	}
	if len(h.e.hoQueue)-h.e.hoHead > 2*1000+4096 {
		t.Errorf("half-open queue holds %d items for 1000 flows", len(h.e.hoQueue)-h.e.hoHead)
	}
	h.e.Flush()
	if got := h.e.Stats().FlowsByLabel[flow.Unknown]; got != 20000 {
		t.Errorf("%d unknown flows counted, want 20000", got)
	}
}

// A message longer than the inspection window is not buffered without end: the flow is cut,
// counted, and no longer inspected, while its packets are still counted.
func TestInspectWindowCutsAFlow(t *testing.T) {
	h := newHarness(t, Config{InspectWindow: 512})
	T := uint8(decode.ProtoTCP)
	h.send(pkt(cli, srv, T, syn, 100, 0, ""), 0)
	h.send(pkt(srv, cli, T, synack, 500, 101, ""), 0)
	h.send(pkt(cli, srv, T, ack, 101, 501, "HELLO\nfirst\n"), 0)
	seq := uint32(101 + 12)
	long := strings.Repeat("x", 200) // a line that never ends, 200 bytes at a time
	for i := 0; i < 10; i++ {
		h.send(pkt(cli, srv, T, ack, seq, 501, long), 0)
		seq += 200
	}
	h.send(pkt(cli, srv, T, ack, seq, 501, "\nlater\n"), 0)
	h.e.Flush()
	r := h.recs[0]
	if !r.Cut || h.e.Stats().Cut != 1 {
		t.Errorf("cut %v, stats %d; want the flow cut once", r.Cut, h.e.Stats().Cut)
	}
	if got, want := h.allLines(), []string{"HELLO", "first"}; !equal(got, want) {
		t.Errorf("lines %q, want %q: nothing after the cut", got, want)
	}
	if r.Packets[0] != 13 {
		t.Errorf("%d client packets counted, want 13", r.Packets[0])
	}
}

// TestEntryFitsItsSizeClass: every flow, an unknown one too, has an entry in the table's
// slab, at most 96 bytes (TestLiveHeapPerFlow measures the whole).
func TestEntryFitsItsSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s > 96 {
		t.Errorf("entry is %d bytes, want at most 96", s)
	}
}

// TestHalfOpenQueueHoldsWhatTheTableHolds: SYNs answered at once (most connections) leave
// nothing in the half-open table, and their items in the expiry queue are dropped rather than
// kept for the half-open timeout, so the queue stays near the size of the table.
func TestHalfOpenQueueHoldsWhatTheTableHolds(t *testing.T) {
	h := newHarness(t, Config{MaxFlows: 1 << 20})
	T := uint8(decode.ProtoTCP)
	const flows = 50000
	for i := 0; i < flows; i++ {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
		h.send(pkt(c, srv, T, syn, 100, 0, ""), time.Microsecond)
		h.send(pkt(srv, c, T, synack, 500, 101, ""), 0)
	}
	if got := h.e.Flows(); got != flows {
		t.Fatalf("%d flows followed, want %d", got, flows)
	}
	if len(h.e.half) != 0 {
		t.Fatalf("%d flows still half-open after their SYN-ACK", len(h.e.half))
	}
	if q := len(h.e.hoQueue) - h.e.hoHead; q > 4096 {
		t.Errorf("%d items in the half-open queue for an empty half-open table, want at most 4096", q)
	}
}

// TestInterimRecordsEveryInterval: a live sensor's flow that stays open is reported once per
// Config.Interim after its start, at the first scan past each whole interval, so the records
// do not drift later when the scans come late; a flow that started between two scans counts
// its intervals from its own start.
func TestInterimRecordsEveryInterval(t *testing.T) {
	h := newHarness(t, Config{Interim: 20 * time.Second, UDPTimeout: time.Hour})
	U := uint8(decode.ProtoUDP)
	late := netip.MustParseAddrPort("127.0.0.3:40000")
	// A scan every 9 s (the clock moves only with packets here): each interval's record
	// comes up to 8 s late.
	for i := 0; i <= 10; i++ {
		after := 9 * time.Second
		if i == 0 {
			after = 0
		}
		h.send(pkt(cli, srv, U, 0, 0, 0, "HELLO\n"), after)
		if i == 4 { // 36 s
			h.send(pkt(late, srv, U, 0, 0, 0, "HELLO\n"), 0)
		}
		h.e.Advance(h.now)
	}
	got := map[string][]time.Duration{}
	for _, r := range h.recs {
		if !r.Interim {
			t.Fatalf("a final record of a flow still open: %+v", r)
		}
		got[r.Client.String()] = append(got[r.Client.String()], r.EmitAt.Time().Sub(t0))
	}
	s := time.Second
	want := map[string][]time.Duration{
		cli.String():  {27 * s, 45 * s, 63 * s, 81 * s}, // start 0: 20, 40, 60, 80 s
		late.String(): {63 * s, 81 * s},                 // start 36 s: 56, 76 s (96 is past the end)
	}
	for c, w := range want {
		if !slices.Equal(got[c], w) {
			t.Errorf("%s: interim records at %v, want %v", c, got[c], w)
		}
	}
}

// TestSYNsPlaceTheFirstBytes: the initial sequence numbers of a captured handshake place each
// direction's first bytes, so first segments that arrive out of order wait for the bytes
// before them (instead of the stream being picked up mid-way at the first one that came).
// The client's SYN is kept in the half-open table until the SYN-ACK; the server's comes on
// the SYN-ACK itself.
func TestSYNsPlaceTheFirstBytes(t *testing.T) {
	h := newHarness(t, Config{})
	T := uint8(decode.ProtoTCP)
	h.handshake()
	h.send(pkt(cli, srv, T, ack, 107, 501, "b\n"), time.Millisecond) // ahead of its turn
	h.send(pkt(cli, srv, T, ack, 101, 501, "HELLO\n"), time.Millisecond)
	h.send(pkt(srv, cli, T, ack, 503, 109, "y\n"), time.Millisecond) // ahead of its turn
	h.send(pkt(srv, cli, T, ack, 501, 109, "x\n"), time.Millisecond)
	if got, want := h.allLines(), []string{"HELLO", "b", "S:x", "S:y"}; !equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
}
