package sip

import (
	"slices"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
)

// TestDefaultPolicyOnDetectorFacts runs the default policy (rules/default.yaml) over the facts
// this detector reads from hand-made exchanges: the detector gives the policy what its rules
// look for, and nothing that raises a rule it should not.
func TestDefaultPolicyOnDetectorFacts(t *testing.T) {
	cases := []struct {
		name string
		tr   flow.Transport
		port uint16
		msgs [][]byte
		want []string
	}{
		{"digest register", flow.UDP, 5060, [][]byte{register1, challenge401, registerDigest, ok200Register},
			[]string{"sip.cleartext", "sip.digest-cleartext"}},
		{"challenge only", flow.UDP, 5060, [][]byte{register1, challenge401}, []string{"sip.cleartext"}},
		{"basic", flow.TCP, 5060, [][]byte{basicAuth}, []string{"sip.cleartext", "sip.basic-credentials"}},
		{"sdes", flow.UDP, 5060, [][]byte{inviteSAVP}, []string{"sip.cleartext", "sip.sdes-cleartext"}},
		{"rtp/avp", flow.TCP, 5061, [][]byte{inviteAVP}, []string{"sip.cleartext", "sip.unencrypted-media", "tls-port.cleartext"}},
		{"scanner", flow.UDP, 5060, [][]byte{optionsScanner}, []string{"sip.cleartext", "sip.scanner"}},
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
		if got, want := detectortest.Findings(t, &s.F.Record), slices.Sorted(slices.Values(c.want)); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", c.name, got, want)
		}
	}
}

func bytes0(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
