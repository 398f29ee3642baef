package ldap

import (
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
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

// session drives the detector as the engine does (see internal/detectortest).
type session struct{ *detectortest.Driver }

var t0 = detectortest.T0

func newSession(t *testing.T, tr flow.Transport, serverPort uint16) *session {
	return &session{detectortest.New(t, New(), tr, serverPort)}
}

// facts returns the LDAP facts, failing the test if the flow was not claimed as LDAP.
func (s *session) facts() *flow.LDAPFacts {
	s.T.Helper()
	if s.F.Label != flow.LDAP || s.F.LDAP == nil {
		s.T.Fatalf("flow not claimed as LDAP (label %v)", s.F.Label)
	}
	return s.F.LDAP
}
