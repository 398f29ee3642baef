package tls

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	ctls "crypto/tls"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
)

// TestDefaultPolicyOnDetectorFacts runs the default policy (rules/default.yaml) over the facts
// this detector reads from hand-made exchanges: the detector gives the policy what its rules
// look for, and nothing that raises a rule it should not.
func TestDefaultPolicyOnDetectorFacts(t *testing.T) {
	good := makeCert(t, 2048, notBefore, notAfter)
	weak := makeCert(t, 1024, time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC))
	tls12 := func(suite uint16) *ctls.Config {
		return &ctls.Config{MaxVersion: ctls.VersionTLS12, CipherSuites: []uint16{suite}}
	}
	serverFlight := func(version, suite uint16, cert []byte) []byte {
		return record(22, version, cat(hsMsg(2, serverHelloBody(version, nil, suite)), hsMsg(11, vec24(vec24(cert))), hsMsg(14, nil)))
	}
	cases := []struct {
		name   string
		chunks func() []chunk
		want   []string
	}{
		{"tls1.3", func() []chunk { return handshake(t, good, &ctls.Config{}, &ctls.Config{}) }, nil},
		{"tls1.2 ecdhe, self-signed", func() []chunk {
			return handshake(t, good, tls12(ctls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), tls12(ctls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256))
		}, []string{"tls.self-signed"}},
		{"tls1.2 rsa kex", func() []chunk {
			return handshake(t, good, tls12(ctls.TLS_RSA_WITH_AES_128_GCM_SHA256), tls12(ctls.TLS_RSA_WITH_AES_128_GCM_SHA256))
		}, []string{"tls.no-forward-secrecy", "tls.self-signed"}},
		{"ssl3 rc4, expired weak key, wrong name, then a fatal alert", func() []chunk {
			ch := record(22, 0x0300, hsMsg(1, clientHelloBody(0x0300, nil, []uint16{0x0005}, sni("www.example.org"))))
			return []chunk{{flow.FromClient, ch}, {flow.FromServer, serverFlight(0x0300, 0x0005, weak.der)},
				{flow.FromClient, record(21, 0x0300, []byte{2, 42})}}
		}, []string{"tls.obsolete-version", "tls.weak-cipher", "tls.no-forward-secrecy", "tls.cert-expired",
			"tls.self-signed", "tls.weak-key", "tls.name-mismatch"}},
		{"tls1.0 3des dhe, no sni", func() []chunk {
			ch := record(22, 0x0301, hsMsg(1, clientHelloBody(0x0301, nil, []uint16{0x0016})))
			return []chunk{{flow.FromClient, ch}, {flow.FromServer, serverFlight(0x0301, 0x0016, good.der)}}
		}, []string{"tls.obsolete-version", "tls.weak-cipher", "tls.self-signed"}},
		{"no certificate seen", func() []chunk {
			return []chunk{{flow.FromServer, record(22, 0x0303, hsMsg(2, serverHelloBody(0x0303, nil, 0xC02F)))}}
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := detectortest.New(t, New(DefaultPorts()), flow.TCP, 636)
			for _, ch := range c.chunks() {
				d.Send(ch.dir == flow.FromServer, ch.data)
			}
			if d.F.Label != flow.LDAPS {
				t.Fatalf("label %v, want ldaps", d.F.Label)
			}
			if got, want := detectortest.Findings(t, &d.F.Record), slices.Sorted(slices.Values(c.want)); !slices.Equal(got, want) {
				t.Errorf("findings %q, want %q", got, want)
			}
		})
	}
	// A cleartext LDAP flow (no TLS facts) raises none of the TLS rules.
	plain := &flow.Record{Label: flow.LDAP, Transport: flow.TCP, LDAP: &flow.LDAPFacts{Cleartext: true, Messages: 2},
		Server: netip.MustParseAddrPort("192.0.2.1:389")}
	for _, id := range detectortest.Findings(t, plain) {
		if strings.HasPrefix(id, "tls") {
			t.Errorf("a record without TLS facts raised %s", id)
		}
	}
}
