package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report/internal/jsontest"
	"github.com/pcapaudit/pcapaudit/internal/racedetect"
	"github.com/pcapaudit/pcapaudit/rules"
)

// The reference encoding: the documents as structs, marshalled by encoding/json (how the
// NDJSON was written before it was written field by field). The writer must produce the
// same bytes for every record and finding.
type (
	refEndpoint struct {
		IP      string `json:"ip"`
		Port    uint16 `json:"port"`
		Packets uint64 `json:"packets"`
		Bytes   uint64 `json:"bytes"`
	}
	refNetwork struct {
		Transport   string `json:"transport"`
		Type        string `json:"type"`
		Protocol    string `json:"protocol"`
		CommunityID string `json:"community_id"`
		Packets     uint64 `json:"packets"`
		Bytes       uint64 `json:"bytes"`
		VLAN        *refID `json:"vlan,omitempty"`
		Inner       *struct {
			VLAN refID `json:"vlan"`
		} `json:"inner,omitempty"`
	}
	refID struct {
		ID string `json:"id"`
	}
	refTunnel struct {
		Type        string  `json:"type"`
		Source      string  `json:"source,omitempty"`
		Destination string  `json:"destination,omitempty"`
		ID          *uint32 `json:"id,omitempty"`
		VLAN        *uint16 `json:"vlan,omitempty"`
	}
	refRule struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Category    string `json:"category,omitempty"`
		Reference   string `json:"reference,omitempty"`
		Ruleset     string `json:"ruleset"`
	}
	refFlowInfo struct {
		File         string      `json:"file"`
		Frame        uint64      `json:"frame"`
		Tunnel       []refTunnel `json:"tunnel,omitempty"`
		EndReason    string      `json:"end_reason,omitempty"`
		Interim      bool        `json:"interim,omitempty"`
		FactsPending bool        `json:"facts_pending,omitempty"`
		ClientKnown  bool        `json:"client_known"`
		PayloadBytes struct {
			Client uint64 `json:"client"`
			Server uint64 `json:"server"`
		} `json:"payload_bytes"`
		ParseErrors uint32 `json:"parse_errors,omitempty"`
		ParseError  string `json:"parse_error,omitempty"`
		Gaps        uint32 `json:"gaps,omitempty"`
		Cut         bool   `json:"cut,omitempty"`
	}
	refFindingInfo struct {
		File       string            `json:"file"`
		Frame      uint64            `json:"frame"`
		FlowFrame  uint64            `json:"flow_frame"`
		FlowFile   string            `json:"flow_file,omitempty"`
		Filter     string            `json:"display_filter"`
		Tunnel     []refTunnel       `json:"tunnel,omitempty"`
		Severity   string            `json:"severity"`
		Remedy     string            `json:"remedy,omitempty"`
		Count      int               `json:"count"`
		Suppressed uint64            `json:"suppressed,omitempty"`
		Observed   map[string]string `json:"observed,omitempty"`
	}
	refFlowDoc struct {
		Timestamp   string          `json:"@timestamp"`
		Event       ecsEvent        `json:"event"`
		Observer    *observerDoc    `json:"observer,omitempty"`
		Source      refEndpoint     `json:"source"`
		Destination refEndpoint     `json:"destination"`
		Network     refNetwork      `json:"network"`
		NTP         *flow.NTPFacts  `json:"ntp,omitempty"`
		SIP         *flow.SIPFacts  `json:"sip,omitempty"`
		LDAP        *flow.LDAPFacts `json:"ldap,omitempty"`
		TLS         *flow.TLSFacts  `json:"tls,omitempty"`
		PcapAudit   refFlowInfo     `json:"pcapaudit"`
	}
	refFindingDoc struct {
		Timestamp   string         `json:"@timestamp"`
		Event       ecsEvent       `json:"event"`
		Observer    *observerDoc   `json:"observer,omitempty"`
		Rule        refRule        `json:"rule"`
		Message     string         `json:"message"`
		Source      refEndpoint    `json:"source"`
		Destination refEndpoint    `json:"destination"`
		Network     refNetwork     `json:"network"`
		PcapAudit   refFindingInfo `json:"pcapaudit"`
	}
)

func refEncode(t *testing.T, r *flow.Record, findings []*rules.Finding, ruleset string, obs *observerDoc) []byte {
	t.Helper()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	start, end := ts(r.Start.Time()), ts(r.End.Time())
	typ := "ipv6"
	if r.Client.Addr().Is4() {
		typ = "ipv4"
	}
	nw := refNetwork{Transport: r.Transport.String(), Type: typ, Protocol: r.Label.String(),
		CommunityID: string(appendCommunityID(nil, r.Client, r.Server, r.Transport)), Packets: r.Packets[0] + r.Packets[1], Bytes: r.Bytes[0] + r.Bytes[1]}
	if r.NVLAN > 0 {
		nw.VLAN = &refID{strconv.Itoa(int(r.VLAN[0]))}
	}
	if r.NVLAN > 1 {
		nw.Inner = &struct {
			VLAN refID `json:"vlan"`
		}{refID{strconv.Itoa(int(r.VLAN[1]))}}
	}
	var tun []refTunnel
	for _, l := range r.TunnelLayers() {
		rt := refTunnel{Type: l.Type}
		if l.Source.IsValid() {
			rt.Source, rt.Destination = l.Source.String(), l.Destination.String()
		}
		if l.HasID {
			rt.ID = &l.ID
		}
		if l.HasVLAN {
			rt.VLAN = &l.VLAN
		}
		tun = append(tun, rt)
	}
	src := refEndpoint{IP: r.Client.Addr().String(), Port: r.Client.Port(), Packets: r.Packets[0], Bytes: r.Bytes[0]}
	dst := refEndpoint{IP: r.Server.Addr().String(), Port: r.Server.Port(), Packets: r.Packets[1], Bytes: r.Bytes[1]}
	reason := r.EndReason.String()
	if r.Interim {
		reason = ""
	}
	d := refFlowDoc{Timestamp: start,
		Event: ecsEvent{Kind: "event", Category: []string{"network"}, Type: []string{"connection"}, Module: "pcapaudit",
			Dataset: "pcapaudit.flow", Start: start, End: end, Duration: int64(r.End.Sub(r.Start)), Reason: reason},
		Observer: obs, Source: src, Destination: dst, Network: nw, NTP: r.NTP, SIP: r.SIP, LDAP: r.LDAP, TLS: r.TLS,
		PcapAudit: refFlowInfo{File: r.File.String(), Frame: r.FirstFrame, Tunnel: tun, EndReason: reason, Interim: r.Interim,
			FactsPending: r.Interim && r.FactsPending, ClientKnown: r.ClientKnown,
			ParseErrors: r.ParseErrors, ParseError: r.ParseError.String(), Gaps: r.Gaps, Cut: r.Cut}}
	d.PcapAudit.PayloadBytes.Client, d.PcapAudit.PayloadBytes.Server = r.Payload[0], r.Payload[1]
	if err := enc.Encode(&d); err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		fd := refFindingDoc{Timestamp: ts(f.Evidence.Time.Time()),
			Event: ecsEvent{Kind: "alert", Category: []string{"network"}, Type: []string{"info"}, Module: "pcapaudit",
				Dataset: "pcapaudit.finding", Start: start, End: end, Duration: int64(r.End.Sub(r.Start)), Severity: f.Rule.Severity.Score()},
			Observer: obs,
			Rule: refRule{ID: f.Rule.ID, Name: f.Rule.Name, Description: f.Rule.Description, Category: r.Label.String(),
				Reference: joinRefs(f.Rule.References), Ruleset: ruleset},
			Message: f.Message, Source: src, Destination: dst, Network: nw,
			PcapAudit: refFindingInfo{File: r.File.String(), Frame: f.Evidence.Frame, FlowFrame: r.FirstFrame, Filter: refDisplayFilter(r), Tunnel: tun,
				Severity: f.Rule.Severity.String(), Remedy: f.Rule.Remedy, Count: f.Count, Suppressed: f.Suppressed}}
		if ef := f.Evidence.File.String(); ef != "" && ef != r.File.String() {
			fd.PcapAudit.File, fd.PcapAudit.FlowFile = ef, r.File.String()
		}
		if len(f.Observed) > 0 {
			fd.PcapAudit.Observed = map[string]string{}
			for _, kv := range f.Observed {
				fd.PcapAudit.Observed[kv.Key] = kv.Value
			}
		}
		if err := enc.Encode(&fd); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// hostileStrings are texts that come off the wire or from a policy: quotes, backslashes,
// control characters, invalid UTF-8, line separators, HTML, non-ASCII.
var hostileStrings = []string{"", "plain", `a"quote`, `back\slash`, "tab\there", "nl\ncr\r", "nul\x00x", "\x1f\x7f",
	"bad\xffutf8\xc3", "\u2028\u2029", "<html>&amp;", "héllo wörld ✓", strings.Repeat("long ", 40), "\xed\xa0\x80"}

// The NDJSON writer's documents are byte for byte the reference encoding's, for records and
// findings that exercise every optional field and every kind of string.
func TestNDJSONMatchesReferenceEncoding(t *testing.T) {
	rec, findings := ldapBindFlow(t)
	rng := rand.New(rand.NewPCG(7, 9))
	pick := func() string { return hostileStrings[rng.IntN(len(hostileStrings))] }
	rs := rules.Default().Rules
	var cases []struct {
		r  flow.Record
		fs []*rules.Finding
	}
	cases = append(cases, struct {
		r  flow.Record
		fs []*rules.Finding
	}{*rec, findings})
	for i := range 200 {
		r := *rec
		r.File = flow.FileRefOf(pick())
		r.ParseErrors, r.ParseError = uint32(i%3), flow.TextOf(pick())
		r.Gaps, r.Cut = uint32(i%2), i%4 == 0
		r.EndReason = flow.End(i % 5)
		r.ClientKnown = i%2 == 0
		r.Interim, r.FactsPending = i%5 == 1, i%10 == 1
		r.Label = flow.Label(i % int(flow.NumLabels))
		start := time.Unix(int64(1_700_000_000+i), int64(i*7919))
		r.Start = flow.TimeOf(start)
		r.End = flow.TimeOf(start.Add(time.Duration(i) * time.Millisecond))
		r.NVLAN, r.VLAN = uint8(i%3), [2]uint16{uint16(i), uint16(4095 - i)}
		types := []string{"vxlan", "mpls", "gre", "erspan"}
		var tun []flow.Tunnel
		for k := range i % 3 {
			l := flow.Tunnel{Type: types[(i+k)%4], ID: uint32(i * 1000), HasID: (i+k)%2 == 0, VLAN: uint16(k), HasVLAN: i%5 == 0}
			if l.Type != "mpls" {
				l.Source, l.Destination = netip.MustParseAddr("127.0.100.1"), netip.MustParseAddr("2001:db8::7")
			}
			tun = append(tun, l)
		}
		if tun != nil {
			r.Tunnel = &flow.Tunnels{Layers: tun}
		}
		if i%3 == 0 {
			r.Client = netip.MustParseAddrPort("[2001:db8::1]:5060")
			r.Server = netip.MustParseAddrPort("[::ffff:192.0.2.7]:5061")
			r.Transport = flow.UDP
		}
		var fs []*rules.Finding
		for k := range i % 4 {
			f := &rules.Finding{Rule: rs[(i+k)%len(rs)], Message: pick(), Count: i + k, Suppressed: uint64(i % 3),
				Evidence: flow.Event{Frame: uint64(i * k), Time: flow.TimeOf(start.Add(time.Second))}}
			for range k {
				f.Observed = append(f.Observed, rules.KV{Key: pick(), Value: pick()})
			}
			if k == 3 { // a key given twice keeps its last value
				f.Observed = append(f.Observed, rules.KV{Key: f.Observed[0].Key, Value: "last"})
			}
			fs = append(fs, f)
		}
		cases = append(cases, struct {
			r  flow.Record
			fs []*rules.Finding
		}{r, fs})
	}
	for i, c := range cases {
		for _, ruleset := range []string{"default", pick()} {
			var got bytes.Buffer
			j := NewJSON(&got, true, ruleset)
			var obs *observerDoc
			if i%4 == 1 { // a sensor's documents
				o := Observer{Hostname: pick(), Version: pick()}
				if i%8 == 1 {
					o.Interface = pick()
				}
				j.SetObserver(o)
				obs = newObserverDoc(o)
			}
			j.Flow(&c.r, c.fs)
			if err := j.w.Flush(); err != nil {
				t.Fatal(err)
			}
			want := refEncode(t, &c.r, c.fs, ruleset, obs)
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("case %d: the writer wrote\n%s\nthe reference encoding\n%s", i, got.Bytes(), want)
			}
		}
	}
}

// Writing a flow and its findings allocates nothing once the writer has seen the rule: the
// LDAP flow of the benchmarks, and a flow of each protocol with every fact set (every list
// two long, every optional part present, strings that need escaping).
func TestNDJSONFlowAllocations(t *testing.T) {
	if racedetect.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	rec, findings := ldapBindFlow(t)
	// How it arrived: QinQ inside VXLAN on a tagged carrier.
	rec.VLAN, rec.NVLAN = [2]uint16{30, 40}, 2
	rec.Tunnel = &flow.Tunnels{Layers: []flow.Tunnel{{Type: "vxlan", Source: netip.MustParseAddr("127.0.100.1"), Destination: netip.MustParseAddr("127.0.100.2"),
		ID: 8, HasID: true, VLAN: 5, HasVLAN: true}, {Type: "mpls", ID: 100, HasID: true}}}
	recs := map[string]*flow.Record{"ldap-simple-bind": rec}
	for name, r := range factsRecords(rec, &jsontest.Filler{Rand: rand.New(rand.NewPCG(1, 2))}) {
		recs[name] = r
	}
	recs["ldap"].LDAP.Binds[0].DN = "cn=M\u00fcller\\, \"Q\",dc=example\n" // escapes
	for name, r := range recs {
		var out countWriter
		j := NewJSON(&out, false, "default")
		j.Flow(r, findings)
		if n := testing.AllocsPerRun(100, func() { j.Flow(r, findings) }); n != 0 {
			t.Errorf("%s: %v allocations per flow", name, n)
		}
	}
}

// The Community ID of the specification's example flow (TCP 128.232.110.120:34855 ->
// 66.35.250.204:80, seed 0), in either direction.
func TestCommunityID(t *testing.T) {
	a := netip.MustParseAddrPort("128.232.110.120:34855")
	b := netip.MustParseAddrPort("66.35.250.204:80")
	const want = "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
	for _, got := range []string{string(appendCommunityID(nil, a, b, flow.TCP)), string(appendCommunityID(nil, b, a, flow.TCP))} {
		if got != want {
			t.Errorf("community id %s, want %s", got, want)
		}
	}
}

// refDisplayFilter is the Wireshark display filter of r's flow, spelt out: each address with
// its own family's field.
func refDisplayFilter(r *flow.Record) string {
	field := func(a netip.Addr) string {
		if a.Unmap().Is4() {
			return "ip.addr==" + a.Unmap().String()
		}
		return "ipv6.addr==" + a.String()
	}
	tp := r.Transport.String()
	return fmt.Sprintf("%s && %s && %s.port==%d && %s.port==%d", field(r.Client.Addr()), field(r.Server.Addr()),
		tp, r.Client.Port(), tp, r.Server.Port())
}
