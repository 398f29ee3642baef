package tls

import (
	"slices"
	"testing"
	"time"

	ctls "crypto/tls"

	"github.com/expr-lang/expr"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// proposedRules are the conditions README.md proposes for the policy, evaluated here over
// the records this package produces, as the policy would.
var proposedRules = []struct{ id, when string }{
	{"tls.obsolete-version", `tls != nil && (tls.version_protocol == "ssl" || tls.version in ["1.0", "1.1"])`},
	{"tls.weak-cipher", `tls != nil && tls.cipher matches "NULL|EXPORT|anon|RC4|3DES|_DES_|_DES40_"`},
	{"tls.no-forward-secrecy", `tls != nil && tls.kex in ["rsa", "dh", "ecdh"]`},
	{"tls.certificate-expired", `tls != nil && tls.certificate.frame > 0 && !tls.server.not_after.IsZero() &&
		(tls.server.not_after < tls.certificate.time || tls.server.not_before > tls.certificate.time)`},
	{"tls.self-signed", `tls != nil && tls.server.self_signed`},
	{"tls.weak-key", `tls != nil && tls.server.x509.public_key_algorithm == "RSA" && tls.server.x509.public_key_size < 2048`},
	{"tls.name-mismatch", `tls != nil && tls.name_matches_sni == false`},
	{"tls.handshake-failed", `tls != nil && any(tls.alerts, .level == "fatal")`},
}

func findings(t *testing.T, r flow.Record) []string {
	t.Helper()
	var out []string
	for _, rule := range proposedRules {
		p, err := expr.Compile(rule.when, expr.Env(flow.Record{}), expr.AsBool())
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
		}, []string{"tls.obsolete-version", "tls.weak-cipher", "tls.no-forward-secrecy", "tls.certificate-expired",
			"tls.self-signed", "tls.weak-key", "tls.name-mismatch", "tls.handshake-failed"}},
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
			f, _ := replay(t, 636, c.chunks())
			if got := findings(t, f.Record); !slices.Equal(got, c.want) {
				t.Errorf("findings %q, want %q", got, c.want)
			}
		})
	}
	if got := findings(t, flow.Record{Label: flow.LDAP}); got != nil {
		t.Errorf("a record without TLS facts: %q", got)
	}
}
