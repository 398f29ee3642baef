package sip

import (
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
)

// crlf turns a readable fixture (lines ending in \n) into wire form (CR LF).
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// withBody appends a body and sets its Content-Length in the fixture's "Content-Length: %d".
func withBody(head, body string) []byte {
	h := strings.Replace(head, "%d", itoa(len(crlf(body))), 1)
	return append(crlf(h), crlf(body)...)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// session drives the detector as the engine does (see internal/detectortest).
type session struct{ *detectortest.Driver }

var t0 = detectortest.T0

func newSession(t *testing.T, tr flow.Transport, serverPort uint16) *session {
	return &session{detectortest.New(t, New(), tr, serverPort)}
}

// facts returns the SIP facts, failing the test if the flow was not claimed as SIP.
func (s *session) facts() *flow.SIPFacts {
	s.T.Helper()
	if s.F.Label != flow.SIP || s.F.SIP == nil {
		s.T.Fatalf("flow not claimed as SIP (label %v)", s.F.Label)
	}
	return s.F.SIP
}
