package sip

import (
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// proposedRules are the conditions README.md proposes for the policy. A rule with each holds
// when its condition holds for one list element, bound as it.
var proposedRules = []struct{ id, each, when string }{
	{"sip.cleartext-signalling", "", `sip.messages > 0`},
	{"sip.digest-cleartext", "sip.credentials", `it.scheme == "Digest" && it.response && it.response_len > 0`},
	{"sip.basic-credentials", "sip.credentials", `it.scheme == "Basic"`},
	{"sip.sdes-cleartext", "", `sip.sdes_keys`},
	{"sip.unencrypted-media", "", `sip.unencrypted_media`},
	{"sip.scanner", "", `sip.scanner`},
	{"sip.register-bruteforce", "", `sip.methods.register >= 10 && any(sip.codes, .code in [401, 403, 407] && .count >= 10)`},
	{"sip.cleartext-on-tls-port", "", `sip.tls_port`},
}

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
	cases := []struct {
		name string
		tr   flow.Transport
		port uint16
		msgs [][]byte
		want []string
	}{
		{"digest register", flow.UDP, 5060, [][]byte{register1, challenge401, registerDigest, ok200Register},
			[]string{"sip.cleartext-signalling", "sip.digest-cleartext"}},
		{"challenge only", flow.UDP, 5060, [][]byte{register1, challenge401}, []string{"sip.cleartext-signalling"}},
		{"basic", flow.TCP, 5060, [][]byte{basicAuth}, []string{"sip.cleartext-signalling", "sip.basic-credentials"}},
		{"sdes", flow.UDP, 5060, [][]byte{inviteSAVP}, []string{"sip.cleartext-signalling", "sip.sdes-cleartext"}},
		{"rtp/avp", flow.TCP, 5061, [][]byte{inviteAVP}, []string{"sip.cleartext-signalling", "sip.unencrypted-media", "sip.cleartext-on-tls-port"}},
		{"scanner", flow.UDP, 5060, [][]byte{optionsScanner}, []string{"sip.cleartext-signalling", "sip.scanner"}},
	}
	for _, c := range cases {
		s := newSession(t, c.tr, c.port)
		for _, m := range c.msgs {
			if bytes0(m) == 'S' {
				s.Server(m)
			} else {
				s.Client(m)
			}
		}
		s.facts()
		if got := findings(t, s.F.Record); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func bytes0(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
