package rules

import (
	"flag"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

var benchVM = flag.Bool("vm", false, "BenchmarkCheck: run every expression on expr's VM, not compiled")

// benchRecords are typical records of each protocol: quiet ones (the default policy raises
// nothing) and ones that raise findings (with their messages).
func benchRecords() []struct {
	name string
	rec  *flow.Record
} {
	return []struct {
		name string
		rec  *flow.Record
	}{
		{"ntp-quiet", safeNTP()},
		{"ntp-unauthenticated", with(safeNTP(), func(r *flow.Record) {
			r.NTP.Auth, r.NTP.AuthenticatedResponses, r.NTP.UnauthenticatedResponses = "none", 0, 1
		})},
		{"sip-quiet", with(cleartextSIP(), func(r *flow.Record) {
			r.SIP.Messages, r.SIP.Requests, r.SIP.Responses, r.SIP.Methods = 0, 0, 0, flow.SIPMethods{}
		})},
		{"sip-cleartext", cleartextSIP()},
		{"sip-tls-quiet", safeSIPTLS()},
		{"ldap-quiet", safeLDAP()},
		{"ldap-simple-bind", cleartextLDAP(simpleBind(4, "cn=admin,dc=example,dc=org", 9))},
		{"ldaps-quiet", safeLDAPS()},
		{"ldaps-tls1.0", with(safeLDAPS(), func(r *flow.Record) { r.TLS.Version = "1.0" })},
	}
}

// onVM returns a copy of p whose every expression runs on expr's VM: conditions, message
// placeholders, evidence and threshold expressions.
func onVM(p *Policy) *Policy {
	q := *p
	q.Rules = make([]*Rule, len(p.Rules))
	for i, r := range p.Rules {
		rc := *r
		rc.fast = nil
		rc.message = append([]part(nil), r.message...)
		for j := range rc.message {
			rc.message[j].render = nil
		}
		if r.evidence != nil {
			ev := *r.evidence
			ev.fast = nil
			rc.evidence = &ev
		}
		if r.thresh != nil {
			th := *r.thresh
			th.byR, th.distinctR, th.weightF = nil, nil, nil
			rc.thresh = &th
		}
		q.Rules[i] = &rc
	}
	return &q
}

// BenchmarkCheck runs the default policy over typical records of each protocol, quiet ones
// and ones that raise findings.
//
// With -vm, every expression runs on expr's VM instead of its compiled form (fast.go,
// render.go): the figure that says whether the compiled forms still pay.
func BenchmarkCheck(b *testing.B) {
	for _, c := range benchRecords() {
		b.Run(c.name, func(b *testing.B) {
			p := Default()
			if *benchVM {
				p = onVM(p)
			}
			ch := p.NewChecker()
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				ch.Check(c.rec, func(*Finding) { n++ })
			}
			b.ReportMetric(float64(n)/float64(b.N), "findings/record")
		})
	}
}

// BenchmarkLoadDefault is the cost of compiling the default policy (once per audit).
func BenchmarkLoadDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Default()
	}
}
