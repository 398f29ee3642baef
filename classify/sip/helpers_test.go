package sip

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
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

// session drives the detector as the engine does: per direction, bytes not consumed are
// presented again in front of the next ones (TCP); before the claim, a rejection drops the
// bytes and More keeps the whole undecided prefix.
type session struct {
	t       *testing.T
	d       *Detector
	f       *flow.Flow
	pend    [2][]byte
	swapped bool
	stopped bool
	last    flow.Verdict
	hard    bool   // a rejection before the claim is final (TCP flow whose SYN was seen)
	frame   uint64 // when set, the frame number of the next packet (corpus captures)
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func newSession(t *testing.T, tr flow.Transport, serverPort uint16) *session {
	f := &flow.Flow{}
	f.Transport = tr
	f.Client = netip.MustParseAddrPort("192.0.2.10:50000")
	f.Server = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), serverPort)
	return &session{t: t, d: New(), f: f}
}

// send delivers data sent by the client (fromServer false) or the server, as one packet.
func (s *session) send(fromServer bool, data []byte) flow.Verdict {
	s.t.Helper()
	if s.stopped {
		return s.last
	}
	if s.frame != 0 {
		s.f.Frame = s.frame
	} else {
		s.f.Frame++
		s.f.Time = t0.Add(time.Duration(s.f.Frame) * time.Millisecond)
	}
	dir := flow.FromClient
	if fromServer != s.swapped {
		dir = flow.FromServer
	}
	stream := s.f.Transport == flow.TCP
	buf := data
	if stream {
		buf = append(append([]byte(nil), s.pend[dir]...), data...)
	}
	claimed := s.f.Label != flow.Unknown
	v, n := s.d.Inspect(s.f, dir, buf)
	s.last = v
	if !claimed && s.f.Label == flow.Unknown {
		if s.f.SIP != nil || s.f.State != nil {
			s.t.Fatalf("detector changed the flow without claiming it")
		}
		if v == flow.Reject && s.hard {
			s.stopped = true
		}
		if v == flow.More && stream {
			s.pend[dir] = buf
		} else {
			s.pend[dir] = nil
		}
		return v
	}
	if !claimed && s.f.TakeReverse() && !s.f.ClientKnown {
		s.swapped = !s.swapped
		s.f.Client, s.f.Server = s.f.Server, s.f.Client
		s.pend[0], s.pend[1] = s.pend[1], s.pend[0]
		dir = 1 - dir
	}
	if v != flow.More {
		s.stopped = true
		return v
	}
	if stream {
		if n < 0 || n > len(buf) {
			s.t.Fatalf("Inspect consumed %d of %d bytes", n, len(buf))
		}
		s.pend[dir] = append([]byte(nil), buf[n:]...)
	}
	return v
}

func (s *session) client(data ...[]byte) flow.Verdict {
	var v flow.Verdict
	for _, d := range data {
		v = s.send(false, d)
	}
	return v
}

func (s *session) server(data ...[]byte) flow.Verdict {
	var v flow.Verdict
	for _, d := range data {
		v = s.send(true, d)
	}
	return v
}

// facts returns the SIP facts, failing the test if the flow was not claimed as SIP.
func (s *session) facts() *flow.SIPFacts {
	s.t.Helper()
	if s.f.Label != flow.SIP || s.f.SIP == nil {
		s.t.Fatalf("flow not claimed as SIP (label %v)", s.f.Label)
	}
	return s.f.SIP
}
