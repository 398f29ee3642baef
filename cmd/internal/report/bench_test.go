package report

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
	"github.com/pcapaudit/pcapaudit/rules"
)

// ldapBindFlow returns a typical flow to report: the LDAP flow of the repository's
// testdata/real/ldap-simple-bind.pcap (a simple bind with a password, in cleartext), classified
// by the engine, with the findings the default policy raises on it (ldap.cleartext-password
// and ldap.cleartext).
func ldapBindFlow(tb testing.TB) (*flow.Record, []*rules.Finding) {
	tb.Helper()
	src, err := capture.Open(filepath.Join(corpustest.Root(tb), "testdata", "real", "ldap-simple-bind.pcap"))
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	var recs []flow.Record
	cfg := classify.DefaultConfig()
	cfg.Detectors = classify.Detectors(nil)
	e := classify.New(cfg, func(r *flow.Record) { recs = append(recs, *r) })
	for {
		var p capture.Packet
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		e.Packet(&p)
	}
	e.Flush()
	if len(recs) != 1 || recs[0].Label != flow.LDAP || recs[0].LDAP == nil {
		tb.Fatalf("%d records, want one LDAP flow", len(recs))
	}
	rec := &recs[0]
	rec.File = flow.FileRefOf("ldap-simple-bind.pcap")
	var findings []*rules.Finding
	rules.Default().NewChecker().Check(rec, func(f *rules.Finding) {
		c := *f
		findings = append(findings, &c)
	})
	ids := map[string]bool{}
	for _, f := range findings {
		ids[f.Rule.ID] = true
	}
	if !ids["ldap.cleartext-password"] {
		tb.Fatalf("findings %v, want ldap.cleartext-password among them", ids)
	}
	return rec, findings
}

// BenchmarkJSON is the cost of writing one flow and its findings as ECS NDJSON (one flow
// document and one document per finding), buffered output included.
func BenchmarkJSON(b *testing.B) {
	rec, findings := ldapBindFlow(b)
	var out countWriter
	j := NewJSON(&out, false, "default")
	b.ReportAllocs()
	for b.Loop() {
		j.Flow(rec, findings)
	}
	if err := j.Close(&Summary{}); err != nil {
		b.Fatal(err)
	}
	if out.n == 0 {
		b.Fatal("nothing written")
	}
	b.SetBytes(out.n / int64(b.N))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// BenchmarkText is the cost of one flow and its findings in the report for people: Flow, and
// the flow's share of Close (the sort by severity and the writing of every finding). The
// report is closed and started again every 1000 flows, so memory stays bounded.
func BenchmarkText(b *testing.B) {
	rec, findings := ldapBindFlow(b)
	const batch = 1000
	var out countWriter
	sum := &Summary{Files: []FileSummary{{Name: rec.File.String(), Packets: rec.Packets[0] + rec.Packets[1],
		Bytes: rec.Bytes[0] + rec.Bytes[1], First: rec.Start.Time(), Last: rec.End.Time()}}, Policy: "default"}
	sum.Stats.FlowsByLabel[flow.LDAP] = batch
	t := NewText(&out, false, false, 20)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		t.Flow(rec, findings)
		if n++; n == batch {
			if err := t.Close(sum); err != nil {
				b.Fatal(err)
			}
			t, n = NewText(&out, false, false, 20), 0
		}
	}
	if err := t.Close(sum); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(out.n / int64(b.N))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// The benchmarks' flow is reported as the goldens show it: both findings and the bind's DN,
// one NDJSON line per document.
func TestBenchmarkFlowReports(t *testing.T) {
	rec, findings := ldapBindFlow(t)
	var js, txt bytes.Buffer
	j := NewJSON(&js, false, "default")
	j.Flow(rec, findings)
	if err := j.Close(&Summary{}); err != nil {
		t.Fatal(err)
	}
	x := NewText(&txt, false, false, 20)
	x.Flow(rec, findings)
	if err := x.Close(&Summary{Policy: "default"}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string][]byte{"json": js.Bytes(), "text": txt.Bytes()} {
		for _, want := range []string{"ldap.cleartext-password", "ldap.cleartext", "cn=admin,dc=example,dc=org"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("%s output lacks %q:\n%s", name, want, out)
			}
		}
	}
	if n := bytes.Count(js.Bytes(), []byte("\n")); n != 2+len(findings) {
		t.Errorf("%d NDJSON lines, want the flow, %d findings and the summary", n, len(findings))
	}
}

// countWriter counts what is written and keeps nothing.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
