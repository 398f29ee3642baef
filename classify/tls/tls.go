// Package tls reads TLS handshakes for the protocols pcapaudit audits: LDAPS and SIP-TLS (a
// TLS flow labelled by its server port) and LDAP after StartTLS (the LDAP detector hands the
// upgraded stream to a Session). It reads the ClientHello (offered versions, SNI, ALPN,
// cipher count, JA4), the ServerHello (the negotiated version — for TLS 1.3 only in the
// supported_versions extension — and cipher suite), the server certificate when it is visible
// (TLS 1.2 and older, parsed with crypto/x509), and fatal alerts.
package tls

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/cryptobyte"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Errors counted on a flow.
var (
	errRecord      = errors.New("tls: malformed record")
	errHandshake   = errors.New("tls: malformed handshake message")
	errTooLarge    = errors.New("tls: handshake message larger than the inspection limit")
	errCertificate = errors.New("tls: certificate does not parse")
)

const (
	maxRecord    = 1<<14 + 2048
	maxHandshake = 64 << 10
)

// Detector labels a TLS flow by its server port. It keeps no state of its own.
type Detector struct {
	ports map[uint16]flow.Label
}

// DefaultPorts are the TLS ports of the audited protocols.
func DefaultPorts() map[uint16]flow.Label {
	return map[uint16]flow.Label{636: flow.LDAPS, 3269: flow.LDAPS, 5061: flow.SIPTLS}
}

// New returns a detector that labels a TLS flow whose server port is in ports.
func New(ports map[uint16]flow.Label) *Detector {
	if ports == nil {
		ports = DefaultPorts()
	}
	return &Detector{ports: ports}
}

// Name implements flow.Detector.
func (*Detector) Name() string { return "tls" }

// Accepts implements flow.Detector.
func (*Detector) Accepts(t flow.Transport) bool { return t == flow.TCP }

// Hint implements flow.Detector.
func (d *Detector) Hint(t flow.Transport, port uint16) bool {
	_, ok := d.ports[port]
	return t == flow.TCP && ok
}

// IsHandshake reports whether b starts with a TLS handshake record carrying a ClientHello
// (hello 1) or a ServerHello (2), and which.
func IsHandshake(b []byte) (msg uint8, ok bool) {
	if len(b) < 6 || b[0] != 22 || b[1] != 3 || b[2] > 4 {
		return 0, false
	}
	if l := int(binary.BigEndian.Uint16(b[3:5])); l == 0 || l > maxRecord {
		return 0, false
	}
	if b[5] != 1 && b[5] != 2 {
		return 0, false
	}
	return b[5], true
}

// Inspect implements flow.Detector.
func (d *Detector) Inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	if f.Label == flow.Unknown {
		msg, ok := IsHandshake(data)
		if !ok {
			if len(data) < 6 && len(data) > 0 && data[0] == 22 {
				return flow.More, 0
			}
			return flow.Reject, 0
		}
		server := f.Server.Port()
		if msg == 2 {
			server = f.Client.Port() // a ServerHello first: the sender is the server
		}
		label, ok := d.ports[server]
		if !ok {
			return flow.Reject, 0
		}
		f.Claim(label)
		s := &Session{}
		f.State = s
		if msg == 2 {
			f.Reverse()
			dir = flow.FromServer
		}
	}
	s, _ := f.State.(*Session)
	if s == nil {
		return flow.Reject, 0
	}
	return s.Inspect(f, dir, data)
}

// Session parses the TLS records of one flow in both directions and fills f.TLS. The zero
// value is ready; the LDAP detector keeps one in its per-flow state after StartTLS.
type Session struct {
	hs        [2][]byte // handshake bytes not yet parsed, by direction
	sawServer bool      // ServerHello parsed
	tls13     bool
	done      bool
	sni       string
}

// Inspect consumes complete TLS records of data (sent in direction dir) and returns the
// number of bytes consumed; an incomplete record is left for the next call.
func (s *Session) Inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	if f.TLS == nil {
		f.TLS = &flow.TLSFacts{}
	}
	n := 0
	for !s.done {
		rest := data[n:]
		if len(rest) < 5 {
			break
		}
		typ, l := rest[0], int(binary.BigEndian.Uint16(rest[3:5]))
		if typ < 20 || typ > 24 || rest[1] != 3 || l > maxRecord {
			f.Fail(errRecord)
			return flow.Reject, n
		}
		if len(rest) < 5+l {
			break
		}
		body := rest[5 : 5+l]
		n += 5 + l
		switch typ {
		case 21: // alert
			if len(body) >= 2 && body[0] == 2 && f.TLS.Alert == "" {
				f.TLS.Alert = alertName(body[1])
			}
		case 22:
			if s.tls13 && dir == flow.FromServer {
				continue // encrypted handshake in TLS 1.3
			}
			if len(s.hs[dir])+len(body) > maxHandshake {
				f.Fail(errTooLarge)
				return flow.Reject, n
			}
			s.hs[dir] = append(s.hs[dir], body...)
			if !s.handshake(f, dir) {
				return flow.Reject, n
			}
		case 23: // application data: the handshake is over
			f.TLS.Established = f.TLS.Version != ""
			if s.sawServer {
				s.done = true
			}
		case 20:
			if s.tls13 && s.sawServer {
				f.TLS.Established = true
				s.done = true
			}
		}
	}
	if s.done {
		s.hs = [2][]byte{}
		return flow.Done, n
	}
	return flow.More, n
}

// handshake parses the complete handshake messages buffered for dir.
func (s *Session) handshake(f *flow.Flow, dir flow.Dir) bool {
	b := s.hs[dir]
	for len(b) >= 4 {
		l := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if l > maxHandshake {
			f.Fail(errTooLarge)
			return false
		}
		if len(b) < 4+l {
			break
		}
		typ, msg := b[0], b[4:4+l]
		b = b[4+l:]
		var ok = true
		switch typ {
		case 1:
			if f.TLS.ClientHello.Frame == 0 {
				ok = s.clientHello(f, msg)
			}
		case 2:
			ok = s.serverHello(f, msg)
		case 11:
			s.certificate(f, msg)
		case 14: // ServerHelloDone: nothing more to see in clear from the server
			if s.sawServer {
				s.done = true
			}
		}
		if !ok {
			f.Fail(errHandshake)
			return false
		}
	}
	s.hs[dir] = append(s.hs[dir][:0], b...)
	return true
}

func (s *Session) clientHello(f *flow.Flow, msg []byte) bool {
	in := cryptobyte.String(msg)
	var legacy uint16
	var random, sid, suites, comp, exts cryptobyte.String
	if !in.ReadUint16(&legacy) || !in.ReadBytes((*[]byte)(&random), 32) || !in.ReadUint8LengthPrefixed(&sid) ||
		!in.ReadUint16LengthPrefixed(&suites) || !in.ReadUint8LengthPrefixed(&comp) {
		return false
	}
	t := f.TLS
	t.ClientHello = f.Now()
	vmax := legacy
	var ja ja4
	ja.version = legacy
	for !suites.Empty() {
		var c uint16
		if !suites.ReadUint16(&c) {
			return false
		}
		if !grease(c) {
			ja.ciphers = append(ja.ciphers, c)
		}
	}
	t.Client.Ciphers = len(ja.ciphers)
	if !in.Empty() {
		if !in.ReadUint16LengthPrefixed(&exts) {
			return false
		}
		for !exts.Empty() {
			var typ uint16
			var body cryptobyte.String
			if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&body) {
				return false
			}
			if !grease(typ) {
				ja.exts = append(ja.exts, typ)
			}
			switch typ {
			case 0: // server_name
				var list, name cryptobyte.String
				var nt uint8
				if body.ReadUint16LengthPrefixed(&list) && list.ReadUint8(&nt) && nt == 0 && list.ReadUint16LengthPrefixed(&name) && len(name) <= 255 {
					s.sni = string(name)
					t.Client.ServerName = s.sni
					ja.sni = true
				}
			case 16: // ALPN
				var list cryptobyte.String
				if body.ReadUint16LengthPrefixed(&list) {
					for !list.Empty() && len(t.Client.ALPN) < 8 {
						var p cryptobyte.String
						if !list.ReadUint8LengthPrefixed(&p) {
							break
						}
						t.Client.ALPN = append(t.Client.ALPN, string(p))
					}
				}
			case 43: // supported_versions
				var list cryptobyte.String
				if body.ReadUint8LengthPrefixed(&list) {
					for !list.Empty() {
						var v uint16
						if !list.ReadUint16(&v) {
							break
						}
						if !grease(v) && v > vmax && v <= 0x0304 {
							vmax = v
						}
					}
				}
			case 13: // signature_algorithms
				var list cryptobyte.String
				if body.ReadUint16LengthPrefixed(&list) {
					for !list.Empty() {
						var a uint16
						if !list.ReadUint16(&a) {
							break
						}
						ja.sigalgs = append(ja.sigalgs, a)
					}
				}
			}
		}
	}
	ja.version = vmax
	ja.alpn = t.Client.ALPN
	t.Client.VersionMax, _ = versionName(vmax)
	t.Client.JA4 = ja.String()
	return true
}

func (s *Session) serverHello(f *flow.Flow, msg []byte) bool {
	in := cryptobyte.String(msg)
	var legacy, suite uint16
	var random, sid cryptobyte.String
	var comp uint8
	if !in.ReadUint16(&legacy) || !in.ReadBytes((*[]byte)(&random), 32) || !in.ReadUint8LengthPrefixed(&sid) ||
		!in.ReadUint16(&suite) || !in.ReadUint8(&comp) {
		return false
	}
	v := legacy
	if !in.Empty() {
		var exts cryptobyte.String
		if !in.ReadUint16LengthPrefixed(&exts) {
			return false
		}
		for !exts.Empty() {
			var typ uint16
			var body cryptobyte.String
			if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&body) {
				return false
			}
			if typ == 43 {
				var sv uint16
				if body.ReadUint16(&sv) {
					v = sv
				}
			}
		}
	}
	t := f.TLS
	t.ServerHello = f.Now()
	t.Version, t.VersionProtocol = versionName(v)
	t.Cipher = cipherName(suite)
	t.Kex = kex(suite, v)
	s.sawServer = true
	s.tls13 = v == 0x0304
	return true
}

// certificate parses the leaf certificate of a (TLS ≤ 1.2) Certificate message.
func (s *Session) certificate(f *flow.Flow, msg []byte) {
	in := cryptobyte.String(msg)
	var list, leaf cryptobyte.String
	if !in.ReadUint24LengthPrefixed(&list) || !list.ReadUint24LengthPrefixed(&leaf) {
		f.Fail(errCertificate)
		return
	}
	srv := &f.TLS.Server
	srv.Certificate = f.Now()
	cert, err := x509.ParseCertificate(leaf)
	if err != nil {
		srv.CertError = "certificate does not parse"
		f.Fail(errCertificate)
		return
	}
	srv.Subject = cert.Subject.String()
	srv.Issuer = cert.Issuer.String()
	srv.NotBefore, srv.NotAfter = cert.NotBefore.UTC(), cert.NotAfter.UTC()
	srv.SelfSigned = cert.Subject.String() == cert.Issuer.String() && cert.CheckSignatureFrom(cert) == nil
	srv.Names = append(srv.Names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		srv.Names = append(srv.Names, ip.String())
	}
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		srv.KeyAlgorithm, srv.KeyBits = "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		srv.KeyAlgorithm, srv.KeyBits = "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		srv.KeyAlgorithm, srv.KeyBits = "Ed25519", 256
	default:
		srv.KeyAlgorithm = cert.PublicKeyAlgorithm.String()
	}
	srv.NameMatches = s.sni == "" || cert.VerifyHostname(s.sni) == nil
}

func grease(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

func versionName(v uint16) (version, protocol string) {
	switch v {
	case 0x0300:
		return "3.0", "ssl"
	case 0x0301:
		return "1.0", "tls"
	case 0x0302:
		return "1.1", "tls"
	case 0x0303:
		return "1.2", "tls"
	case 0x0304:
		return "1.3", "tls"
	case 0x0002:
		return "2.0", "ssl"
	}
	return "unknown", "tls"
}

var alerts = map[uint8]string{0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
	42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
	46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 50: "decode_error", 51: "decrypt_error",
	70: "protocol_version", 71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
	90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
	116: "certificate_required", 120: "no_application_protocol"}

func alertName(d uint8) string {
	if s, ok := alerts[d]; ok {
		return s
	}
	return "unknown"
}
