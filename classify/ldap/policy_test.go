package ldap

import (
	"slices"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
)

// TestDefaultPolicyOnDetectorFacts runs the default policy (rules/default.yaml) over the facts
// this detector reads from hand-made exchanges: the detector gives the policy what its rules
// look for, and nothing that raises a rule it should not.
func TestDefaultPolicyOnDetectorFacts(t *testing.T) {
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
		}, []string{"ldap.cleartext-password", "ldap.cleartext"}},
		{"anonymous search", flow.TCP, 389, func(s *session) {
			s.Client(anonBind)
			s.Server(bindOK)
			s.Client(search(2, "dc=example,dc=org", 2, spnFilter(), "cn"))
		}, []string{"ldap.anonymous-bind", "ldap.cleartext", "ldap.spn-search"}},
		{"StartTLS then bind inside TLS", flow.TCP, 389, func(s *session) {
			s.Client(startTLS)
			s.Server(extendedResponse(1, 0, "", ""))
			s.Client(clientHello)
		}, nil},
		{"StartTLS refused", flow.TCP, 389, func(s *session) {
			s.Client(startTLS)
			s.Server(extendedResponse(1, 2, "unsupported extended operation", ""))
			s.Client(simpleBind(2, "", ""))
		}, []string{"ldap.anonymous-bind", "ldap.cleartext", "ldap.starttls-failed"}},
		{"SASL PLAIN", flow.TCP, 389, func(s *session) {
			s.Client(saslBind(1, "", "PLAIN", []byte("\x00alice\x00alicepass")))
		}, []string{"ldap.cleartext-sasl-password", "ldap.cleartext"}},
		{"DIGEST-MD5 with a security layer", flow.TCP, 389, func(s *session) {
			s.Client(saslBind(1, "", "DIGEST-MD5", nil))
			s.Server(bindResponse(1, 14, ""))
			s.Client(saslBind(2, "", "DIGEST-MD5", []byte("response=abc")))
			s.Server(bindResponse(2, 0, ""))
			s.Client([]byte{0, 0, 0, 0x20, 1, 2, 3, 4})
		}, []string{"ldap.cleartext", "ldap.deprecated-sasl"}},
		{"repeated failures", flow.TCP, 389, func(s *session) {
			for i := byte(1); i <= 5; i++ {
				s.Client(simpleBind(i, "uid=alice", "guess"))
				s.Server(bindResponse(i, 49, ""))
			}
		}, []string{"ldap.cleartext-password", "ldap.cleartext", "ldap.bind-failures"}},
		{"cleartext on 636", flow.TCP, 636, func(s *session) {
			s.Client(anonBind)
		}, []string{"ldap.anonymous-bind", "ldap.cleartext", "tls-port.cleartext"}},
		{"password modify", flow.TCP, 389, func(s *session) {
			s.Client(msg(1, tlv(0x77, tlv(0x80, []byte(oidPasswordModify)), tlv(0x81, tlv(0x30, tlv(0x82, []byte("newpw")))))))
		}, []string{"ldap.cleartext", "ldap.password-modify-cleartext"}},
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
			got := detectortest.Findings(t, &s.F.Record)
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("findings %v, want %v", got, want)
			}
		})
	}
}
