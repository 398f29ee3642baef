package rules

import (
	"flag"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

var benchVM = flag.Bool("vm", false, "BenchmarkCheck: run every condition on expr's VM, not compiled")

// BenchmarkCheck runs the default policy over typical records: a quiet one (an NTP client
// exchange: seven rules evaluated, no finding), and one that raises findings (a cleartext
// LDAP session with a simple bind: three findings with their messages).
//
// With -vm, every condition runs on expr's VM instead of its compiled form (fast.go): the
// figure that says whether fast.go still pays.
func BenchmarkCheck(b *testing.B) {
	for _, c := range []struct {
		name string
		rec  *flow.Record
	}{
		{"ntp-quiet", safeNTP()},
		{"ldaps-quiet", safeLDAPS()},
		{"ldap-simple-bind", cleartextLDAP(simpleBind(4, "cn=admin,dc=example,dc=org", 9))},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := Default()
			if *benchVM {
				q := *p
				q.Rules = make([]*Rule, len(p.Rules))
				for i, r := range p.Rules {
					rc := *r
					rc.fast = nil
					q.Rules[i] = &rc
				}
				p = &q
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
