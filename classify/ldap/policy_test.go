package ldap

import (
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// proposedRules are the conditions README.md proposes for the policy. A rule with each
// "ldap.binds" holds when its condition holds for one bind, bound as it.
var proposedRules = []struct{ id, each, when string }{
	{"ldap.cleartext-password", "ldap.binds", `it.auth == "simple" && it.password_present`},
	{"ldap.sasl-plain-cleartext", "ldap.binds", `it.auth == "sasl" && it.reusable_password`},
	{"ldap.anonymous-bind", "ldap.binds", `it.kind in ["anonymous", "unauthenticated"]`},
	{"ldap.cleartext-session", "", `ldap.cleartext && !ldap.cldap && ldap.messages > 0`},
	{"ldap.starttls-failed", "", `ldap.starttls_failed && !ldap.upgraded`},
	{"ldap.deprecated-sasl", "ldap.binds", `it.mechanism in ["DIGEST-MD5", "CRAM-MD5"]`},
	{"ldap.cldap-amplification", "", `ldap.cldap && (ldap.amplification >= 10 || ldap.request_bytes == 0 && ldap.response_bytes >= 1000)`},
	{"ldap.bind-failures", "", `ldap.failed_binds >= 3`},
	{"ldap.cleartext-on-tls-port", "", `ldap.tls_port`},
	{"ldap.password-modify-cleartext", "", `ldap.password_modify && ldap.cleartext`},
	{"ldap.spn-search", "", `ldap.spn_search`},
}

// findings evaluates the proposed rules over a flow record, as the policy would.
func findings(t *testing.T, r flow.Record) []string {
	t.Helper()
	var out []string
	for _, rule := range proposedRules {
		src := rule.when
		if rule.each != "" {
			src = "any(" + rule.each + ", " + strings.ReplaceAll(rule.when, "it.", "#.") + ")"
		}
		p, err := expr.Compile(src, expr.Env(flow.Record{}), expr.AsBool())
		if err != nil {
			t.Fatalf("%s: %v", rule.id, err)
		}
		v, err := expr.Run(p, r)
		if err != nil {
			t.Fatalf("%s: %v", rule.id, err)
		}
		if v.(bool) {
			out = append(out, rule.id)
		}
	}
	return out
}

func TestProposedRules(t *testing.T) {
	rootDSE := entry(1, "", "supportedCapabilities", []byte(strings.Repeat("1.2.840.113556.1.4.800;", 80)))
	cases := []struct {
		name string
		tr   flow.Transport
		port uint16
		run  func(s *session)
		want []string
	}{
		{"password bind refused", flow.TCP, 389, func(s *session) {
			s.Client(pwBind)
			s.Server(bindResponse(1, 49, "data 52e"))
		}, []string{"ldap.cleartext-password", "ldap.cleartext-session"}},
		{"anonymous search", flow.TCP, 389, func(s *session) {
			s.Client(anonBind)
			s.Server(bindOK)
			s.Client(search(2, "dc=example,dc=org", 2, spnFilter(), "cn"))
		}, []string{"ldap.anonymous-bind", "ldap.cleartext-session", "ldap.spn-search"}},
		{"StartTLS then bind inside TLS", flow.TCP, 389, func(s *session) {
			s.Client(startTLS)
			s.Server(extendedResponse(1, 0, "", ""))
			s.Client(clientHello)
		}, nil},
		{"StartTLS refused", flow.TCP, 389, func(s *session) {
			s.Client(startTLS)
			s.Server(extendedResponse(1, 2, "unsupported extended operation", ""))
			s.Client(simpleBind(2, "", ""))
		}, []string{"ldap.anonymous-bind", "ldap.cleartext-session", "ldap.starttls-failed"}},
		{"SASL PLAIN", flow.TCP, 389, func(s *session) {
			s.Client(saslBind(1, "", "PLAIN", []byte("\x00alice\x00alicepass")))
		}, []string{"ldap.sasl-plain-cleartext", "ldap.cleartext-session"}},
		{"DIGEST-MD5 with a security layer", flow.TCP, 389, func(s *session) {
			s.Client(saslBind(1, "", "DIGEST-MD5", nil))
			s.Server(bindResponse(1, 14, ""))
			s.Client(saslBind(2, "", "DIGEST-MD5", []byte("response=abc")))
			s.Server(bindResponse(2, 0, ""))
			s.Client([]byte{0, 0, 0, 0x20, 1, 2, 3, 4})
		}, []string{"ldap.cleartext-session", "ldap.deprecated-sasl"}},
		{"repeated failures", flow.TCP, 389, func(s *session) {
			for i := byte(1); i <= 3; i++ {
				s.Client(simpleBind(i, "uid=alice", "guess"))
				s.Server(bindResponse(i, 49, ""))
			}
		}, []string{"ldap.cleartext-password", "ldap.cleartext-session", "ldap.bind-failures"}},
		{"cleartext on 636", flow.TCP, 636, func(s *session) {
			s.Client(anonBind)
		}, []string{"ldap.anonymous-bind", "ldap.cleartext-session", "ldap.cleartext-on-tls-port"}},
		{"password modify", flow.TCP, 389, func(s *session) {
			s.Client(msg(1, tlv(0x77, tlv(0x80, []byte(oidPasswordModify)), tlv(0x81, tlv(0x30, tlv(0x82, []byte("newpw")))))))
		}, []string{"ldap.cleartext-session", "ldap.password-modify-cleartext"}},
		{"CLDAP rootDSE reflection", flow.UDP, 389, func(s *session) {
			s.Client(search(1, "", 0, tlv(0x87, []byte("objectClass"))))
			s.Server(cat(rootDSE, searchDone(1, 0)))
		}, []string{"ldap.cldap-amplification"}},
		{"CLDAP netlogon", flow.UDP, 389, func(s *session) {
			s.Client(search(1, "", 0, tlv(0xa3, str("NtVer"), str("\x06\x00\x00\x00")), "Netlogon"))
			s.Server(cat(entry(1, "", "Netlogon", make([]byte, 150)), searchDone(1, 0)))
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSession(t, c.tr, c.port)
			c.run(s)
			s.facts()
			got := findings(t, s.F.Record)
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("findings %v, want %v", got, want)
			}
		})
	}
}
