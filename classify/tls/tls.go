// Package tls recognises TLS and SSL handshakes and reads, from the part that travels in the
// clear, the facts the policy needs: the negotiated version and cipher suite, the key
// exchange, the ClientHello's offer (SNI, suites, ALPN, highest version, JA4 fingerprint),
// the server's leaf certificate (TLS ≤ 1.2: names, validity, key, self-signature, match with
// the SNI) and cleartext alerts.
//
// Session is the shared parser: the TLS Detector keeps one per flow, and a detector whose
// protocol upgrades to TLS in the middle of a flow (LDAP StartTLS) embeds one and hands it
// the bytes that follow the upgrade. Records are read with bounds-checked cryptobyte
// readers; handshake messages are reassembled across records in a bounded per-direction
// buffer.
//
// The Detector claims a TCP flow whose first payload is a handshake record holding a
// ClientHello (or a ServerHello, for a capture that started late) and labels it by the
// server port: the protocol inside TLS cannot be seen, so a port that is not in its table
// (an HTTPS flow) is rejected without claiming and the flow stays unknown.
package tls

import (
	"sync"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// DefaultPorts returns the TLS ports of the protocols the auditor knows: LDAPS (636, and
// 3269 for the Global Catalog) and SIP over TLS (5061).
func DefaultPorts() map[uint16]flow.Label {
	return map[uint16]flow.Label{636: flow.LDAPS, 3269: flow.LDAPS, 5061: flow.SIPTLS}
}

// Detector recognises TLS over TCP on the ports of its table. It keeps no mutable state:
// per-flow state (a *Session) lives in Flow.State.
type Detector struct {
	ports map[uint16]flow.Label
}

// New returns a TLS detector labelling flows by their server port as ports says (a copy is
// kept). DefaultPorts is the usual table.
func New(ports map[uint16]flow.Label) *Detector {
	p := make(map[uint16]flow.Label, len(ports))
	for k, v := range ports {
		p[k] = v
	}
	return &Detector{ports: p}
}

// sessionPool keeps the Sessions of ended flows, with their reassembly buffers, for new
// ones (flow.StateReuser).
var sessionPool = sync.Pool{New: func() any { return new(Session) }}

// PutState implements flow.StateReuser.
func (*Detector) PutState(s any) {
	if x, ok := s.(*Session); ok {
		x.reset()
		sessionPool.Put(x)
	}
}

// Name implements flow.Detector.
func (*Detector) Name() string { return "tls" }

// Accepts implements flow.Detector: TLS over TCP only (DTLS is not parsed).
func (*Detector) Accepts(t flow.Transport) bool { return t == flow.TCP }

// Hint implements flow.Detector: the ports of the table.
func (d *Detector) Hint(t flow.Transport, port uint16) bool {
	_, ok := d.ports[port]
	return t == flow.TCP && ok
}

// What the first bytes of a flow look like.
const (
	sniffNo = iota
	sniffMore
	sniffClientHello
	sniffServerHello
)

// Inspect implements flow.Detector.
func (d *Detector) Inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	if s, ok := f.State.(*Session); ok {
		return s.Inspect(f, dir, data)
	}
	kind := sniff(data)
	switch kind {
	case sniffNo:
		return flow.Reject, 0
	case sniffMore:
		return flow.More, 0
	}
	// The sender of a ClientHello is the client; the server port is the other end.
	sender, receiver := f.Client, f.Server
	if dir == flow.FromServer {
		sender, receiver = receiver, sender
	}
	port, reverse := receiver.Port(), dir == flow.FromServer
	if kind == sniffServerHello {
		port, reverse = sender.Port(), dir == flow.FromClient
	}
	label, ok := d.ports[port]
	if !ok {
		return flow.Reject, 0
	}
	f.Claim(label)
	f.Certain = true // record and handshake headers agree (sniff)
	s := sessionPool.Get().(*Session)
	f.State = s
	if reverse {
		f.Reverse()
	}
	v, n := s.Inspect(f, dir, data)
	if reverse && !f.ClientKnown {
		s.swap() // the engine swaps the directions after this call
	}
	return v, n
}

// sniffLen is what sniff needs to decide: the record header (5), the handshake header (4),
// the hello's version (2), random (32) and session ID length (1), and the 2 bytes after the
// session ID (a ClientHello's cipher suites length) when the ID is empty.
const sniffLen = 5 + 4 + 2 + 32 + 1 + 2

// sniff reports whether data starts with a handshake record holding a ClientHello or a
// ServerHello, or an SSL 2.0 compatible CLIENT-HELLO. The record header, the handshake header
// and the hello must agree: record version SSL 3.0 to TLS 1.2 (TLS 1.3 keeps 1.2 there),
// hello version 3.0 to 3.3, a record length that holds the hello's fixed part, a handshake
// length within the bounds, a session ID of at most 32 bytes and, for a ClientHello, an even,
// non-empty list of cipher suites within the hello. DTLS (version 0xFEFF, 0xFEFD or 0x0100)
// and random bytes do not pass. It does not allocate.
func sniff(b []byte) int {
	if len(b) == 0 {
		return sniffMore
	}
	if b[0]&0x80 != 0 {
		return sniffSSLv2(b)
	}
	// Record header: type 22, version 3.x (x ≤ 3), length.
	want := [...]struct{ lo, hi byte }{{22, 22}, {3, 3}, {0, 3}}
	for i := 0; i < len(want) && i < len(b); i++ {
		if b[i] < want[i].lo || b[i] > want[i].hi {
			return sniffNo
		}
	}
	if len(b) < 11 {
		return sniffMore
	}
	rl := int(b[3])<<8 | int(b[4])
	hl := int(b[6])<<16 | int(b[7])<<8 | int(b[8])
	if rl < 4+38 || rl > maxRecord || hl < 38 || hl > maxHandshake || b[9] != 3 || b[10] > 3 {
		return sniffNo
	}
	kind := sniffNo
	switch b[5] {
	case hsClientHello:
		kind = sniffClientHello
	case hsServerHello:
		kind = sniffServerHello
	}
	if kind == sniffNo {
		return sniffNo
	}
	if len(b) < sniffLen-2 {
		return sniffMore
	}
	sid := int(b[43])
	if sid > 32 {
		return sniffNo
	}
	if kind == sniffServerHello {
		return kind
	}
	// The cipher suites length, when the record holds it.
	at := 44 + sid
	if at+2 > 5+rl {
		return kind // a ClientHello split across records: the next record has the rest
	}
	if len(b) < at+2 {
		return sniffMore
	}
	cs := int(b[at])<<8 | int(b[at+1])
	if cs == 0 || cs%2 != 0 || 4+2+32+1+sid+2+cs > 4+hl {
		return sniffNo
	}
	return kind
}

// sniffSSLv2 recognises an SSL 2.0 record holding a CLIENT-HELLO (RFC 6101 Appendix E.2):
// 2-byte length with the high bit set, type 1, version, then the cipher spec, session ID
// and challenge lengths, which must add up to the record length.
func sniffSSLv2(b []byte) int {
	if len(b) < 11 {
		return sniffMore
	}
	l := int(b[0]&0x7f)<<8 | int(b[1])
	cs := int(b[5])<<8 | int(b[6])
	sid := int(b[7])<<8 | int(b[8])
	ch := int(b[9])<<8 | int(b[10])
	okVersion := b[3] == 0 && b[4] == 2 || b[3] == 3 && b[4] <= 3
	if b[2] != hsClientHello || !okVersion || cs == 0 || cs%3 != 0 || (sid != 0 && sid != 16) ||
		ch < 16 || ch > 32 || l != 9+cs+sid+ch {
		return sniffNo
	}
	return sniffClientHello
}
