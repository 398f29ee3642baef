package classify

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/lookalike"
)

var (
	lookCli = netip.MustParseAddr("127.0.0.1")
	lookSrv = netip.MustParseAddr("127.0.0.2")
)

// lookalikeFlow returns a fresh flow from the client to port on the server.
func lookalikeFlow(tr flow.Transport, port uint16) *flow.Flow {
	f := flow.New()
	f.Transport = tr
	f.Client, f.Server = netip.AddrPortFrom(lookCli, 40123), netip.AddrPortFrom(lookSrv, port)
	return f
}

// TestLookalikesRejectedByEveryDetector offers each look-alike payload (DNS, DTLS, QUIC, STUN,
// RTP, RTCP, WireGuard, Kerberos, RADIUS, SNMP, HTTP, RTSP, short datagrams; see package
// lookalike for why each is not ours) to every detector on the port it would mislead, and on
// the port of each detector: none may claim it.
func TestLookalikesRejectedByEveryDetector(t *testing.T) {
	forEachLookalike(func(p lookalike.Payload, tr flow.Transport, d flow.Detector) {
		for _, port := range []uint16{p.Port, 123, 5060, 5061, 389, 636} {
			f := lookalikeFlow(tr, port)
			dir := flow.FromClient
			if p.Reply {
				dir = flow.FromServer
			}
			v, _ := d.Inspect(f, dir, p.Data)
			if f.Label != flow.Unknown || v == flow.Done {
				t.Errorf("%s: %s on port %d claimed it as %v (%v)", p.Name, d.Name(), port, f.Label, v)
			}
		}
	})
}

// forEachLookalike calls fn with every look-alike and every detector that accepts its
// transport.
func forEachLookalike(fn func(p lookalike.Payload, tr flow.Transport, d flow.Detector)) {
	for _, p := range append(lookalike.UDP(), lookalike.TCP()...) {
		tr := flow.UDP
		if p.TCP {
			tr = flow.TCP
		}
		for _, d := range Detectors(nil) {
			if d.Accepts(tr) {
				fn(p, tr, d)
			}
		}
	}
}

// lookEngine runs the real detectors in an engine and collects the records.
type lookEngine struct {
	e     *Engine
	recs  []flow.Record
	frame uint64
	now   time.Time
}

func newLookEngine() *lookEngine {
	l := &lookEngine{now: t0}
	cfg := DefaultConfig()
	cfg.Detectors = Detectors(nil)
	l.e = New(cfg, func(r *flow.Record) { l.recs = append(l.recs, *r) })
	return l
}

// udp sends a datagram between the client port 40123 and the server port, from the server
// when reply is true.
func (l *lookEngine) udp(port uint16, reply bool, data []byte) {
	c, s := netip.AddrPortFrom(lookCli, 40123), netip.AddrPortFrom(lookSrv, port)
	from, to := c, s
	if reply {
		from, to = s, c
	}
	p := pkt(from, to, decode.ProtoUDP, 0, 0, 0, string(data))
	l.frame++
	l.now = l.now.Add(10 * time.Millisecond)
	l.e.Handle(p, l.now, l.frame, "test.pcap")
}

func (l *lookEngine) done(t *testing.T) flow.Record {
	t.Helper()
	l.e.Flush()
	if len(l.recs) != 1 {
		t.Fatalf("%d records, want 1", len(l.recs))
	}
	return l.recs[0]
}

// TestLookalikeExchangesThroughTheEngine sends the look-alikes as the flows they come in,
// through the engine with the real detectors: the port hint (123, 5060, 389) may order the
// detectors but never turns these into a claim.
func TestLookalikeExchangesThroughTheEngine(t *testing.T) {
	for _, c := range []struct {
		name string
		port uint16
		msgs []lookalike.Payload
	}{
		{"dns query and REFUSED reply, ID 0xE6..", 53, []lookalike.Payload{{Data: lookalike.DNSQueryE6}, {Reply: true, Data: lookalike.DNSRefusedE6}}},
		{"the same on port 123", 123, []lookalike.Payload{{Data: lookalike.DNSQueryE6}, {Reply: true, Data: lookalike.DNSRefusedE6}}},
		{"dns reply alone (query not captured)", 53, []lookalike.Payload{{Reply: true, Data: lookalike.DNSRefusedE6}}},
		{"dtls 0x0100 hello and hello verify", 443, []lookalike.Payload{{Data: lookalike.DTLS0100ClientHello}, {Reply: true, Data: lookalike.DTLS0100HelloVerify}}},
		{"dtls 0x0100 hello verify alone", 443, []lookalike.Payload{{Reply: true, Data: lookalike.DTLS0100HelloVerify}}},
		{"quic on 123", 123, []lookalike.Payload{{Data: lookalike.QUICInitial}, {Reply: true, Data: lookalike.QUICShort}, {Reply: true, Data: lookalike.QUICShort}}},
		{"rtp and rtcp on 123", 123, []lookalike.Payload{{Data: lookalike.RTPWithCSRC}, {Data: lookalike.RTCPReceiverReport}, {Data: lookalike.RTPWithCSRC}}},
		{"short datagrams on 123", 123, []lookalike.Payload{{Data: []byte{0x1b}}, {Data: []byte{0x16, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}}}},
		{"stun and wireguard on 5060", 5060, []lookalike.Payload{{Data: lookalike.STUNBinding}, {Data: lookalike.WireGuardInit}}},
		{"kerberos, radius and snmp on 389", 389, []lookalike.Payload{{Data: lookalike.KerberosASReqUDP}, {Data: lookalike.RADIUSAccessRequest}, {Data: lookalike.SNMPGetRequest}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLookEngine()
			for _, m := range c.msgs {
				l.udp(c.port, m.Reply, m.Data)
			}
			if r := l.done(t); r.Label != flow.Unknown || r.NTP != nil {
				t.Errorf("labelled %v (client %v)", r.Label, r.Client)
			}
		})
	}
}

// ntpRequest is a client request (NTPv4, mode 3) with the given transmit timestamp, and
// ntpReply a server reply (stratum 2, mode 4) whose origin timestamp is origin.
func ntpRequest(transmit uint64) []byte {
	b := make([]byte, 48)
	b[0], b[2], b[3] = 0x23, 6, 0xec
	binary.BigEndian.PutUint64(b[40:], transmit)
	return b
}

func ntpReply(origin uint64) []byte {
	b := make([]byte, 48)
	b[0], b[1], b[2], b[3] = 0x24, 2, 6, 0xe9
	binary.BigEndian.PutUint32(b[4:], 0x00000120)                   // root delay
	binary.BigEndian.PutUint32(b[8:], 0x00000340)                   // root dispersion
	copy(b[12:], []byte{192, 0, 2, 7})                              // reference id
	stamp := uint64(0xED1C_2300) << 32                              // 2026
	binary.BigEndian.PutUint64(b[16:], stamp-64<<32)                // reference
	binary.BigEndian.PutUint64(b[24:], origin)                      // origin
	binary.BigEndian.PutUint64(b[32:], stamp)                       // receive
	binary.BigEndian.PutUint64(b[40:], stamp+0x0000_0000_0010_0000) // transmit
	return b
}

// TestShortNTPExchange: one client request and the server reply that answers it — most real
// NTP flows — are labelled, on 123 and off it, and the label is certain.
func TestShortNTPExchange(t *testing.T) {
	const xmt = 0xED1C_2300_8000_0000
	for _, port := range []uint16{123, 1123} {
		l := newLookEngine()
		l.udp(port, false, ntpRequest(xmt))
		l.udp(port, true, ntpReply(xmt))
		r := l.done(t)
		if r.Label != flow.NTP || !r.Certain || r.NTP == nil || r.NTP.Messages != 2 || r.Server.Port() != port {
			t.Errorf("port %d: label %v certain %v server %v", port, r.Label, r.Certain, r.Server)
		}
	}
}

// TestNTPReplyThatDoesNotAnswer: a request that looks like NTP followed by a reply that is
// neither sane on its own nor echoes the request's transmit timestamp is not an NTP
// exchange: the claim is withdrawn, also on port 123.
func TestNTPReplyThatDoesNotAnswer(t *testing.T) {
	const xmt = 0xED1C_2300_8000_0000
	bad := ntpReply(xmt + 1)
	binary.BigEndian.PutUint64(bad[32:], 0x7000_0000_0000_0000) // receive timestamp in 1959: not a time
	for _, reply := range [][]byte{bad, lookalike.QUICShort, lookalike.DNSRefusedE6} {
		l := newLookEngine()
		l.udp(123, false, ntpRequest(xmt))
		l.udp(123, true, reply)
		if r := l.done(t); r.Label != flow.Unknown || r.NTP != nil || r.ParseErrors != 0 {
			t.Errorf("reply % x...: label %v parse errors %d", reply[:4], r.Label, r.ParseErrors)
		}
	}
}

// TestLoneControlRequestIsNotCertain: a single mode 7 monlist request (what a scan leaves in a
// capture) is labelled, but one short message does not make the label certain.
func TestLoneControlRequestIsNotCertain(t *testing.T) {
	monlist := make([]byte, 48)
	monlist[0], monlist[2], monlist[3] = 0x17, 3, 42 // VN 2 mode 7, XNTPD, MON_GETLIST_1
	l := newLookEngine()
	l.udp(1123, false, monlist)
	if r := l.done(t); r.Label != flow.NTP || r.Certain {
		t.Errorf("label %v certain %v", r.Label, r.Certain)
	}
}

// TestLookalikeRejectsDoNotAllocate: turning a look-alike down costs no allocation.
func TestLookalikeRejectsDoNotAllocate(t *testing.T) {
	forEachLookalike(func(p lookalike.Payload, tr flow.Transport, d flow.Detector) {
		f := lookalikeFlow(tr, p.Port)
		var v flow.Verdict
		if n := testing.AllocsPerRun(20, func() { v, _ = d.Inspect(f, flow.FromClient, p.Data) }); n != 0 && v == flow.Reject {
			t.Errorf("%s: %s allocates %.0f times to reject it", p.Name, d.Name(), n)
		}
	})
}

// TestNTPAfterTheOtherSideSpoke: when the other side spoke first and was not NTP, a sane NTP
// reply is no answer to anything and does not claim the flow; junk from the client before its
// own request does not hide an exchange.
func TestNTPAfterTheOtherSideSpoke(t *testing.T) {
	const xmt = 0xED1C_2300_8000_0000
	l := newLookEngine()
	l.udp(123, false, lookalike.QUICInitial)
	l.udp(123, true, ntpReply(xmt))
	if r := l.done(t); r.Label != flow.Unknown {
		t.Errorf("a reply after another protocol's request: labelled %v", r.Label)
	}
	l = newLookEngine()
	l.udp(123, false, []byte("\r\n"))
	l.udp(123, false, ntpRequest(xmt))
	l.udp(123, true, ntpReply(xmt))
	if r := l.done(t); r.Label != flow.NTP || !r.Certain {
		t.Errorf("junk, request, reply: labelled %v certain %v", r.Label, r.Certain)
	}
}
