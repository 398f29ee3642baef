package classify_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/racedetect"
)

// flowMemCases are the flows whose live heap TestLiveHeapPerFlow measures: the opening
// packets of a real capture of each protocol (up to its first FIN or RST, so the flow is
// still open), a UDP flow no detector claims and a TCP flow that has done its handshake and
// no more (gen makes the packets of the last two). max is the bound in bytes per flow, a
// little above the figure docs/performance.md gives, so that a regression of the struct
// diet fails.
var flowMemCases = []struct {
	name, file string
	gen        func() []decode.Packet
	label      flow.Label
	max        float64
}{
	{"ntp", "real/ntp-client.pcap", nil, flow.NTP, 740},
	{"sip", "real/sip-options-udp-5080.pcap", nil, flow.SIP, 755},
	{"ldap", "real/ldap-simple-bind.pcap", nil, flow.LDAP, 1045},
	{"ldaps", "real/ldaps-tls12.pcap", nil, flow.LDAPS, 620},
	{"unknown", "", unknownFlow, flow.Unknown, 112},
	{"handshake", "", handshakeFlow, flow.Unknown, 255},
}

// unknownFlow is a DNS query and its answer: UDP that no detector claims.
func unknownFlow() []decode.Packet {
	q := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1}
	c := [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
	s := [16]byte{10: 0xff, 11: 0xff, 12: 127, 13: 9, 15: 53}
	p := decode.Packet{Proto: decode.ProtoUDP, IPv4: true, Src: c, Dst: s, SrcPort: 40000, DstPort: 53, Payload: q, IPLen: 28 + len(q)}
	r := p
	r.Src, r.Dst, r.SrcPort, r.DstPort = s, c, 53, 40000
	return []decode.Packet{p, r, p, r}
}

// handshakeFlow is a TCP handshake to an LDAP server (SYN, SYN-ACK, ACK) and no more: a
// client that has connected and not yet sent its first request.
func handshakeFlow() []decode.Packet {
	c := [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
	s := [16]byte{10: 0xff, 11: 0xff, 12: 127, 13: 9, 15: 1}
	syn := decode.Packet{Proto: decode.ProtoTCP, IPv4: true, Src: c, Dst: s, SrcPort: 40000, DstPort: 389,
		Flags: decode.FlagSYN, Seq: 1000, IPLen: 60}
	synAck := decode.Packet{Proto: decode.ProtoTCP, IPv4: true, Src: s, Dst: c, SrcPort: 389, DstPort: 40000,
		Flags: decode.FlagSYN | decode.FlagACK, Seq: 5000, Ack: 1001, IPLen: 60}
	ack := syn
	ack.Flags, ack.Seq, ack.Ack, ack.IPLen = decode.FlagACK, 1001, 5001, 52
	return []decode.Packet{syn, synAck, ack}
}

// openingPackets decodes a capture's packets up to its first FIN or RST.
func openingPackets(tb testing.TB, name string) []decode.Packet {
	dec := decode.New(decode.Config{})
	var out []decode.Packet
	for _, f := range readAll(tb, filepath.Join("..", "testdata", filepath.FromSlash(name))) {
		var p decode.Packet
		if dec.Decode(f.data, f.p.LinkType, f.p.Timestamp, &p) != decode.OK {
			continue
		}
		if p.Proto == decode.ProtoTCP && p.Flags&(decode.FlagFIN|decode.FlagRST) != 0 {
			break
		}
		p.Payload = append([]byte(nil), p.Payload...)
		out = append(out, p)
	}
	return out
}

// liveHeapPerFlow builds n flows of pkts (each with its own client address) through an engine
// configured as the file audit is, and returns the live heap they hold, per flow, and their
// label (-1 when the engine did not hold n flows of one label).
func liveHeapPerFlow(pkts []decode.Packet, n int) (float64, flow.Label) {
	cfg := classify.DefaultConfig()
	cfg.Detectors = classify.Detectors(nil)
	cfg.SkipUnknown = true
	cfg.UDPTimeout, cfg.TCPTimeout = time.Hour, time.Hour
	var before, after runtime.MemStats
	// Two collections empty the detectors' state pools (sync.Pool keeps a victim cache across
	// one), so neither reading counts pooled states.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	label, seen := flow.Unknown, false
	e := classify.New(cfg, func(r *flow.Record) {
		if !seen {
			label, seen = r.Label, true
		}
	})
	client, cport := pkts[0].Src, pkts[0].SrcPort
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		for j := range pkts {
			p := pkts[j]
			addr := &p.Src
			if p.Src != client || p.SrcPort != cport {
				addr = &p.Dst
			}
			addr[13], addr[14], addr[15] = byte(i>>16), byte(i>>8), byte(i)
			ts = ts.Add(time.Microsecond)
			e.Handle(&p, ts, uint64(j+1), "mem.pcap")
		}
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := e.Flows()
	e.Advance(ts.Add(2 * time.Hour)) // every flow ends: the first one's label says what was built
	if st := e.Stats(); held != n || st.FlowsByLabel[label] != uint64(n) {
		return -1, label
	}
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n), label
}

// TestLiveHeapPerFlow measures the live heap a flow holds while it is open, per protocol and
// for an unknown flow, and holds it under a bound (the figures are in docs/performance.md).
func TestLiveHeapPerFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 20,000 flows per protocol")
	}
	const n = 20000
	for _, c := range flowMemCases {
		var pkts []decode.Packet
		if c.gen != nil {
			pkts = c.gen()
		} else {
			pkts = openingPackets(t, c.file)
		}
		per, label := liveHeapPerFlow(pkts, n)
		if per < 0 {
			t.Fatalf("%s: the engine does not hold %d flows", c.name, n)
		}
		if label != c.label {
			t.Fatalf("%s: the flow is labelled %v", c.name, label)
		}
		t.Logf("%-8s %6.0f bytes of live heap per open flow (bound %.0f)", c.name, per, c.max)
		if per > c.max {
			t.Errorf("%s: %.0f bytes of live heap per open flow, want at most %.0f", c.name, per, c.max)
		}
	}
}

// TestNoAllocationPerFlowOncePoolsAreWarm: a new flow takes its engine entry, its flow.Open
// and its TCP reassembly state from the engine's pools, its detector's per-flow state from the
// detector's pool (flow.StateReuser: NTP's requests, SIP's parser state and SDP parsers, LDAP's
// message state, TLS's Session with its reassembly buffers), and its protocol facts from the
// facts' pools (flow.NewNTPFacts...), to which the audit gives them back once the last sink
// is done with the flow's record (flow.Record.ReleaseFacts; the test releases them as the
// audit does). The strings the facts hold that repeat from flow to flow — an NTP server's
// reference id, a JA4 fingerprint, a SIP phone's URI, From, To and User-Agent, an LDAP bind DN
// and search base — are shared (classify/internal/intern). So once the pools are warm a flow
// allocates nothing from its first packet to its end, unknown or classified, except what is
// new about it: a SIP request with a Call-ID never seen makes that one string (the
// "sip-new-call-id" case rewrites the Call-ID of every flow). An LDAP search's attribute
// names are a block shared by the searches that name the same (classify/ldap/searchnames.go).
func TestNoAllocationPerFlowOncePoolsAreWarm(t *testing.T) {
	if racedetect.Enabled {
		t.Skip("the race detector's sync.Pool drops pooled values at random")
	}
	cases := []struct {
		name, file string
		max        float64
		newCallID  bool
	}{
		{"unknown", "", 0, false},
		{"ntp", "real/ntp-client.pcap", 0, false},
		{"sip", "real/sip-options-udp-5080.pcap", 0, false},
		{"sip-new-call-id", "real/sip-options-udp-5080.pcap", 1, true},
		{"ldap", "real/ldap-simple-bind.pcap", 0, false},
		{"ldaps", "real/ldaps-tls12.pcap", 0, false},
	}
	for _, c := range cases {
		pkts := unknownFlow()
		if c.file != "" {
			pkts = openingPackets(t, c.file)
		}
		cfg := classify.DefaultConfig()
		cfg.Detectors = classify.Detectors(nil)
		cfg.SkipUnknown = true
		cfg.UDPTimeout, cfg.TCPTimeout = time.Second, time.Second
		// The facts go back to their pools as the audit's pipeline gives them back: once
		// the last consumer of the final record is done with it.
		e := classify.New(cfg, func(r *flow.Record) {
			if !r.Interim {
				r.ReleaseFacts()
			}
		})
		ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		cport := pkts[0].SrcPort // the client's port: each flow gets its own
		// With newCallID, each flow's request and reply carry a Call-ID of their own: its
		// first digits are the flow's number (the payloads are copied once, outside the count).
		var callIDs [][]byte
		if c.newCallID {
			for j := range pkts {
				pkts[j].Payload = bytes.Clone(pkts[j].Payload)
				if k := bytes.Index(pkts[j].Payload, []byte("Call-ID: ")); k >= 0 {
					callIDs = append(callIDs, pkts[j].Payload[k+len("Call-ID: "):][:6])
				}
			}
			if len(callIDs) != 2 {
				t.Fatalf("%s: %d Call-ID headers, want the request's and the reply's", c.name, len(callIDs))
			}
		}
		i := 0
		one := func() {
			i++
			ts = ts.Add(3 * time.Second) // the previous flow has ended: it goes back to the pools
			port := uint16(20000 + i%1000)
			for _, id := range callIDs {
				for d, n := len(id)-1, i; d >= 0; d, n = d-1, n/10 {
					id[d] = byte('0' + n%10)
				}
			}
			for j := range pkts {
				p := pkts[j]
				if p.SrcPort == cport {
					p.SrcPort = port
				} else if p.DstPort == cport {
					p.DstPort = port
				}
				e.Handle(&p, ts.Add(time.Duration(j)*time.Microsecond), uint64(j+1), "pool.pcap")
			}
		}
		for k := 0; k < 2000; k++ {
			one() // warm the pools and the table
		}
		got := testing.AllocsPerRun(1000, one)
		st := e.Stats()
		t.Logf("%-8s %.1f allocations per flow (%d flows)", c.name, got, st.Flows)
		if st.Flows < 3000 {
			t.Fatalf("%s: only %d flows were made", c.name, st.Flows)
		}
		var label flow.Label
		for l, n := range st.FlowsByLabel {
			if n > 0 {
				label = flow.Label(l)
			}
		}
		if name, _, _ := strings.Cut(c.name, "-"); label.String() != name {
			t.Fatalf("%s: the flows were labelled %v", c.name, label)
		}
		if got > c.max {
			t.Errorf("%s: %.1f allocations per flow once the pools are warm, want at most %v", c.name, got, c.max)
		}
	}
}

// The bounds the README and docs/performance.md print are the ones TestLiveHeapPerFlow
// holds: a row "| NTP | … | 1,165 B |" ends with the case's bound.
func TestHeapTablesShowTheTestBounds(t *testing.T) {
	rows := map[string]string{"ntp": "NTP", "sip": "SIP (UDP)", "ldap": "LDAP (TCP)", "ldaps": "LDAPS", "unknown": "unknown",
		"handshake": "TCP, handshake only"}
	for _, page := range []string{"../README.md", "../docs/performance.md"} {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range flowMemCases {
			want := fmt.Sprintf(" %s B |", humanize(int(c.max)))
			found := false
			for line := range strings.Lines(string(data)) {
				if strings.HasPrefix(line, "| "+rows[c.name]+" |") {
					found = true
					if !strings.HasSuffix(strings.TrimSpace(line), strings.TrimSpace(want)) {
						t.Errorf("%s: row %q does not end with the test's bound %s", page, strings.TrimSpace(line), strings.TrimSpace(want))
					}
				}
			}
			if !found {
				t.Errorf("%s: no heap-per-flow row for %s", page, rows[c.name])
			}
		}
	}
}

// humanize writes n with thousands separators, as the tables do (1260 → "1,260").
func humanize(n int) string {
	s := strconv.Itoa(n)
	if len(s) > 3 {
		s = s[:len(s)-3] + "," + s[len(s)-3:]
	}
	return s
}
