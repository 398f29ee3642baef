package summary

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func rec(l flow.Label, client, server string, at time.Time) *flow.Record {
	return &flow.Record{
		Label: l, Transport: flow.TCP, Start: flow.TimeOf(at), End: flow.TimeOf(at.Add(time.Second)),
		Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server),
		Bytes: [2]uint64{100, 200},
	}
}

// Past the bounds, hosts and servers are not listed but their flows are still counted, and
// the report says how many were left out.
func TestBounds(t *testing.T) {
	a := New(Limits{Hosts: 2, Servers: 1})
	high := &rules.Rule{ID: "x", Severity: rules.High}
	a.Flow(rec(flow.LDAP, "10.0.0.1:1000", "10.0.0.2:389", t0), []*rules.Finding{{Rule: high}})
	a.Flow(rec(flow.LDAP, "10.0.0.3:1000", "10.0.0.2:389", t0), nil) // a third host
	a.Flow(rec(flow.NTP, "10.0.0.1:1001", "10.0.0.4:123", t0), nil)  // a fourth host, a second server
	r := a.Finish(nil)
	var hosts []string
	for _, h := range r.Hosts {
		hosts = append(hosts, h.Addr.String())
	}
	if !slices.Equal(hosts, []string{"10.0.0.1", "10.0.0.2"}) {
		t.Errorf("hosts %v, want the first two seen", hosts)
	}
	if r.Dropped.HostFlows != 2 || r.Dropped.ServerFlows != 1 || len(r.Servers) != 1 || r.Servers[0].Flows != 2 {
		t.Errorf("dropped %+v, servers %d (flows %d)", r.Dropped, len(r.Servers), r.Servers[0].Flows)
	}
	if r.Flows != 3 || r.Bytes != 900 || r.Findings.Of(rules.High) != 1 || r.Hosts[0].Findings.Of(rules.High) != 1 || r.Hosts[1].Findings.Of(rules.High) != 1 {
		t.Errorf("totals: %d flows, %d bytes, findings %v", r.Flows, r.Bytes, r.Findings)
	}
	if r.Servers[0].Clients != 2 {
		t.Errorf("clients of the LDAP server: %d, want 2", r.Servers[0].Clients)
	}
	var text bytes.Buffer
	if err := WriteText(&text, r); err != nil || !strings.Contains(text.String(), "past 2 hosts / 1 servers") {
		t.Errorf("the text does not say the bound was reached: %v\n%s", err, text.String())
	}
}

// A certificate seen on several flows is one entry; whether it had expired is judged at the
// packet time of each flow, not today.
func TestCertificates(t *testing.T) {
	a := New(Limits{})
	cert := flow.TLSServerFacts{Subject: "CN=a", Issuer: "CN=a", SelfIssued: true,
		NotBefore: flow.DateOf(t0.AddDate(-1, 0, 0)), NotAfter: flow.DateOf(t0.Add(time.Hour))}
	for _, at := range []time.Time{t0, t0.Add(2 * time.Hour)} {
		r := rec(flow.LDAPS, "10.0.0.1:1000", "10.0.0.2:636", at)
		r.TLS = &flow.TLSFacts{Version: "1.2", VersionProtocol: "tls", Cipher: "TLS_X", Server: &cert}
		a.Flow(r, nil)
	}
	r := a.Finish(nil)
	c := r.Servers[0].Certificates
	if len(c) != 1 || c[0].Flows != 2 || !c[0].SelfSigned || !c[0].Expired {
		t.Errorf("certificates %+v, want one, on 2 flows, self-signed, expired when the second flow saw it", c)
	}
	a = New(Limits{})
	a.Flow(func() *flow.Record {
		r := rec(flow.LDAPS, "10.0.0.1:1000", "10.0.0.2:636", t0)
		r.TLS = &flow.TLSFacts{Server: &cert}
		return r
	}(), nil)
	if c := a.Finish(nil).Servers[0].Certificates; c[0].Expired {
		t.Errorf("a certificate within its validity at the packet time is reported expired")
	}
}

// The timeline keeps its bucket count whatever the span, counts every flow, and gives the
// same buckets whatever order the times arrive in.
func TestTimeline(t *testing.T) {
	for _, span := range []time.Duration{50 * time.Millisecond, 90 * time.Second, 5 * time.Hour, 40 * 24 * time.Hour} {
		rng := rand.New(rand.NewPCG(1, uint64(span)))
		times := make([]time.Time, 500)
		for i := range times {
			times[i] = t0.Add(time.Duration(rng.Int64N(int64(span))))
		}
		var a, b timeline
		for _, at := range times {
			a.add(at, 1, false)
		}
		for _, i := range rng.Perm(len(times)) {
			b.add(times[i], 1, false)
		}
		ta, tb := a.buckets(), b.buckets()
		var n uint64
		for _, v := range ta.Flows {
			n += v
		}
		if n != 500 || len(ta.Flows) > timelineBuckets || !slices.Equal(ta.Flows, tb.Flows) || !ta.Start.Equal(tb.Start) || ta.Width != tb.Width {
			t.Errorf("span %v: %d counted in %d buckets of %v; other order: %d buckets of %v from %v (vs %v)",
				span, n, len(ta.Flows), ta.Width, len(tb.Flows), tb.Width, tb.Start, ta.Start)
		}
		if span/ta.Width > timelineBuckets || ta.Width > span {
			t.Errorf("span %v drawn with buckets of %v", span, ta.Width)
		}
	}
}

// A value off the wire that a spreadsheet would run as a formula is defused in the CSV.
func TestCSVFormula(t *testing.T) {
	a := New(Limits{})
	r := rec(flow.SIP, "10.0.0.1:5060", "10.0.0.2:5060", t0)
	r.SIP = &flow.SIPFacts{UserAgent: "=HYPERLINK(\"http://x\")", Methods: flow.SIPMethods{Register: 1}}
	a.Flow(r, nil)
	var out bytes.Buffer
	if err := WriteCSV(&out, a.Finish(&report.Summary{Policy: "default"})); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		for _, c := range row {
			if strings.HasPrefix(c, "=") {
				t.Errorf("cell %q starts a formula", c)
			}
		}
	}
	if !strings.Contains(out.String(), "'=HYPERLINK") && !slices.ContainsFunc(rows, func(r []string) bool { return slices.Contains(r, `'=HYPERLINK("http://x")`) }) {
		t.Errorf("the user agent is missing:\n%v", rows)
	}
}
