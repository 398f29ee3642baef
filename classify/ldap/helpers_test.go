package ldap

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// tlv encodes one BER element with a minimal definite length.
func tlv(tag byte, parts ...[]byte) []byte {
	var c []byte
	for _, p := range parts {
		c = append(c, p...)
	}
	out := []byte{tag}
	switch n := len(c); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, c...)
}

// tlv4 encodes one BER element with the 4-octet long form Active Directory uses.
func tlv4(tag byte, parts ...[]byte) []byte {
	var c []byte
	for _, p := range parts {
		c = append(c, p...)
	}
	n := len(c)
	out := []byte{tag, 0x84, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	return append(out, c...)
}

func str(s string) []byte              { return tlv(0x04, []byte(s)) }
func integer(v byte) []byte            { return []byte{0x02, 0x01, v} }
func enum(v byte) []byte               { return []byte{0x0a, 0x01, v} }
func msg(id byte, op ...[]byte) []byte { return tlv(0x30, append([][]byte{integer(id)}, op...)...) }
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func simpleBind(id byte, dn, pw string) []byte {
	return msg(id, tlv(0x60, integer(3), str(dn), tlv(0x80, []byte(pw))))
}

func saslBind(id byte, dn, mech string, creds []byte) []byte {
	sc := [][]byte{str(mech)}
	if creds != nil {
		sc = append(sc, tlv(0x04, creds))
	}
	return msg(id, tlv(0x60, integer(3), str(dn), tlv(0xa3, sc...)))
}

func bindResponse(id, code byte, diag string, extra ...[]byte) []byte {
	return msg(id, tlv(0x61, append([][]byte{enum(code), str(""), str(diag)}, extra...)...))
}

func startTLSRequest(id byte) []byte {
	return msg(id, tlv(0x77, tlv(0x80, []byte(oidStartTLS))))
}

func extendedResponse(id, code byte, diag string, name string) []byte {
	parts := [][]byte{enum(code), str(""), str(diag)}
	if name != "" {
		parts = append(parts, tlv(0x8a, []byte(name)))
	}
	return msg(id, tlv(0x78, parts...))
}

func unbind(id byte) []byte { return msg(id, []byte{0x42, 0x00}) }

func search(id byte, base string, scope byte, filter []byte, attrs ...string) []byte {
	var as [][]byte
	for _, a := range attrs {
		as = append(as, str(a))
	}
	return msg(id, tlv(0x63, str(base), enum(scope), enum(0), integer(0), integer(0),
		[]byte{0x01, 0x01, 0x00}, filter, tlv(0x30, as...)))
}

func entry(id byte, dn string, attr string, vals ...[]byte) []byte {
	var vs [][]byte
	for _, v := range vals {
		vs = append(vs, tlv(0x04, v))
	}
	return msg(id, tlv(0x64, str(dn), tlv(0x30, tlv(0x30, str(attr), tlv(0x31, vs...)))))
}

func searchDone(id, code byte) []byte {
	return msg(id, tlv(0x65, enum(code), str(""), str("")))
}

// session drives the detector as the engine does: per direction, bytes not consumed are
// presented again in front of the next ones; before the claim, a rejection drops the bytes
// (a flow picked up without its SYN) and More keeps the whole undecided prefix.
type session struct {
	t       *testing.T
	d       *Detector
	f       *flow.Flow
	pend    [2][]byte
	swapped bool
	stopped bool
	last    flow.Verdict
	// hard makes a rejection before the claim final, as for a TCP flow whose SYN was seen.
	hard bool
	// frame, when set, is the frame number of the next packet (corpus captures).
	frame uint64
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

// facts returns the LDAP facts, failing the test if the flow was not claimed as LDAP.
func (s *session) facts() *flow.LDAPFacts {
	s.t.Helper()
	if s.f.Label != flow.LDAP || s.f.LDAP == nil {
		s.t.Fatalf("flow not claimed as LDAP (label %v)", s.f.Label)
	}
	return s.f.LDAP
}
