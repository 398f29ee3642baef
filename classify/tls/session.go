package tls

import (
	"errors"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Parse errors counted on the flow (flow.Fail). They never stop the audit.
var (
	ErrRecord        = errors.New("tls: malformed record header")
	ErrHandshakeSize = errors.New("tls: handshake message over the size limit")
	ErrClientHello   = errors.New("tls: malformed ClientHello")
	ErrServerHello   = errors.New("tls: malformed ServerHello")
	ErrCertificate   = errors.New("tls: malformed Certificate message or leaf certificate")
	ErrAlert         = errors.New("tls: malformed alert")
	ErrUnexpected    = errors.New("tls: record before any hello")
)

// Limits.
const (
	// maxRecord is the largest record body accepted: 2^14 plus the 2048 bytes of expansion
	// that TLS ≤ 1.2 allows for compression and encryption (RFC 5246 §6.2.3).
	maxRecord = 1<<14 + 2048
	// maxHandshake bounds one reassembled handshake message (a certificate chain can be
	// large, a ClientHello with post-quantum key shares too).
	maxHandshake = 64 << 10
	// maxAlerts bounds the alerts kept per flow.
	maxAlerts = 4
	// maxEncrypted bounds the encrypted TLS 1.3 records looked at after the ServerHello
	// while waiting for a sign that the handshake completed.
	maxEncrypted = 16
)

// Record content types (RFC 8446 §5.1).
const (
	recChangeCipherSpec = 20
	recAlert            = 21
	recHandshake        = 22
	recApplicationData  = 23
	recHeartbeat        = 24
)

// Handshake message types.
const (
	hsClientHello       = 1
	hsServerHello       = 2
	hsCertificate       = 11
	hsServerKeyExchange = 12
	hsServerHelloDone   = 14
)

// dirState is the parser state of one direction.
type dirState struct {
	buf     []byte // an incomplete handshake message, reassembled across records
	started bool   // a record was seen: an SSL 2.0 header can only come first
	ccs     bool   // ChangeCipherSpec sent: the direction is encrypted from here (TLS ≤ 1.2)
}

// Session parses the TLS records of one flow, in both directions, and fills f.TLS. The zero
// value is ready. It is not safe for concurrent use; keep one per flow (in Flow.State, or
// inside another detector's per-flow state after StartTLS).
type Session struct {
	dirs [2]dirState

	clientDir flow.Dir // the direction that sent the ClientHello
	roles     bool     // clientDir is known

	clientHello bool
	serverHello bool // the final ServerHello (not a HelloRetryRequest)
	hrr         bool
	tls13       bool
	certSeen    bool // a server Certificate, ServerKeyExchange or ServerHelloDone: a full handshake
	done        bool

	sid    [32]byte // the session ID the client offered
	sidLen uint8

	clientEnc, serverEnc int // encrypted TLS 1.3 records since the ServerHello
}

// keptBuf bounds the reassembly buffer a pooled Session keeps for its next flow: most
// handshake messages split across records fit; a larger one (a long certificate chain)
// lets its buffer go.
const keptBuf = 16 << 10

// reset makes s the zero Session again, keeping its reassembly buffers (emptied) when they
// are not large, for the next flow.
func (s *Session) reset() {
	var bufs [2][]byte
	for i := range s.dirs {
		if b := s.dirs[i].buf; cap(b) <= keptBuf {
			bufs[i] = b[:0]
		}
	}
	*s = Session{}
	s.dirs[0].buf, s.dirs[1].buf = bufs[0], bufs[1]
}

// Inspect parses the complete records at the start of data, sent in direction dir, and
// returns the count of bytes consumed with More, or Done once nothing more is visible in the
// clear (the handshake completed or failed), or Reject when data is not TLS. It allocates
// f.TLS on first use.
func (s *Session) Inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	if s.done {
		return flow.Done, len(data)
	}
	if f.TLS == nil {
		f.TLS = flow.NewTLSFacts()
	}
	dir &= 1
	d := &s.dirs[dir]
	n := 0
	for n < len(data) {
		b := data[n:]
		if !d.started && b[0]&0x80 != 0 {
			k, ok := sslv2Length(b)
			if !ok {
				f.Fail(ErrRecord)
				s.done = true
				return flow.Reject, n
			}
			if len(b) < k {
				return flow.More, n
			}
			d.started = true
			n += k
			if v := s.sslv2(f, dir, b[2:k]); v != flow.More {
				s.done = true
				return v, len(data)
			}
			continue
		}
		if len(b) < 5 {
			return flow.More, n
		}
		typ := b[0]
		l := int(b[3])<<8 | int(b[4])
		if typ < recChangeCipherSpec || typ > recHeartbeat || b[1] != 3 || b[2] > 4 || l > maxRecord {
			f.Fail(ErrRecord)
			s.done = true
			return flow.Reject, n
		}
		if len(b) < 5+l {
			return flow.More, n
		}
		d.started = true
		n += 5 + l
		if v := s.record(f, dir, typ, b[5:5+l]); v != flow.More {
			s.done = true
			return v, len(data)
		}
	}
	return flow.More, n
}

// swap exchanges the per-direction state, for a flow the engine has just reversed.
func (s *Session) swap() {
	s.dirs[0], s.dirs[1] = s.dirs[1], s.dirs[0]
	s.clientDir = 1 - s.clientDir
}

// isClient reports whether dir is the client's direction (by the hellos, else by the engine).
func (s *Session) isClient(dir flow.Dir) bool {
	if s.roles {
		return dir == s.clientDir
	}
	return dir == flow.FromClient
}

func (s *Session) setRole(dir flow.Dir, client bool) {
	if s.roles {
		return
	}
	s.roles = true
	if client {
		s.clientDir = dir
	} else {
		s.clientDir = 1 - dir
	}
}

// record handles one complete record body.
func (s *Session) record(f *flow.Flow, dir flow.Dir, typ byte, body []byte) flow.Verdict {
	d := &s.dirs[dir]
	t := f.TLS
	switch typ {
	case recChangeCipherSpec:
		if s.tls13 {
			return flow.More // middlebox compatibility (RFC 8446 §D.4): no meaning
		}
		d.ccs = true
		d.buf = d.buf[:0]
		if !s.isClient(dir) && s.serverHello && !s.certSeen {
			t.Resumed = true // the server finished without a certificate or key exchange
		}
		if s.dirs[0].ccs && s.dirs[1].ccs {
			t.Established = s.serverHello
			return flow.Done
		}
	case recAlert:
		if d.ccs {
			return flow.More // encrypted
		}
		if len(body) == 0 || len(body)%2 != 0 {
			f.Fail(ErrAlert)
			return flow.More
		}
		fatal := false
		for i := 0; i+1 < len(body); i += 2 {
			s.alert(f, dir, body[i], body[i+1])
			fatal = fatal || body[i] == 2
		}
		if fatal {
			return flow.Done
		}
	case recHandshake:
		if d.ccs {
			return flow.More // the encrypted Finished (TLS ≤ 1.2)
		}
		return s.handshake(f, dir, body)
	case recApplicationData:
		if !s.clientHello && !s.serverHello {
			f.Fail(ErrUnexpected)
			return flow.Reject
		}
		if !s.serverHello {
			return flow.More // early data, or data after a HelloRetryRequest
		}
		if !s.tls13 {
			t.Established = true
			return flow.Done
		}
		if s.isClient(dir) {
			s.clientEnc++
		} else {
			if s.clientEnc > 0 {
				t.Established = true
				return flow.Done
			}
			s.serverEnc++
		}
		if s.clientEnc+s.serverEnc >= maxEncrypted {
			return flow.Done
		}
	}
	return flow.More
}

// alert records one cleartext alert.
func (s *Session) alert(f *flow.Flow, dir flow.Dir, level, desc uint8) {
	t := f.TLS
	if len(t.Alerts) >= maxAlerts {
		return
	}
	if t.Alerts == nil {
		t.Alerts = make([]flow.TLSAlert, 0, maxAlerts)
	}
	a := flow.TLSAlert{Level: "warning", Description: alertName(desc), Code: desc, From: "server",
		Frame: f.Frame, Time: f.Time}
	if level == 2 {
		a.Level = "fatal"
	} else if level != 1 {
		f.Fail(ErrAlert)
	}
	if s.isClient(dir) {
		a.From = "client"
	}
	t.Alerts = append(t.Alerts, a)
}

// handshake reassembles the handshake messages of one direction across records.
func (s *Session) handshake(f *flow.Flow, dir flow.Dir, frag []byte) flow.Verdict {
	d := &s.dirs[dir]
	msgs := frag
	buffered := len(d.buf) > 0
	if buffered {
		if len(d.buf)+len(frag) > maxHandshake+4 {
			f.Fail(ErrHandshakeSize)
			return flow.Reject
		}
		d.buf = append(d.buf, frag...)
		msgs = d.buf
	}
	v := flow.More
	for len(msgs) >= 4 && v == flow.More {
		l := int(msgs[1])<<16 | int(msgs[2])<<8 | int(msgs[3])
		if l > maxHandshake {
			f.Fail(ErrHandshakeSize)
			return flow.Reject
		}
		if len(msgs) < 4+l {
			break
		}
		v = s.message(f, dir, msgs[0], msgs[4:4+l])
		msgs = msgs[4+l:]
	}
	switch {
	case v != flow.More || len(msgs) == 0:
		d.buf = d.buf[:0]
	default:
		// msgs may alias d.buf: append copies with memmove semantics.
		d.buf = append(d.buf[:0], msgs...)
	}
	return v
}

// message handles one complete handshake message.
func (s *Session) message(f *flow.Flow, dir flow.Dir, typ byte, body []byte) flow.Verdict {
	t := f.TLS
	switch typ {
	case hsClientHello:
		if s.clientHello && !s.hrr {
			return flow.More // a renegotiation in the clear: the first hello stands
		}
		s.setRole(dir, true)
		s.clientHello = true
		t.ClientHello = f.Now()
		if err := s.parseClientHello(t, body); err != nil {
			f.Fail(err)
		}
	case hsServerHello:
		if s.serverHello {
			return flow.More
		}
		s.setRole(dir, false)
		if err := s.parseServerHello(f, body); err != nil {
			f.Fail(err)
			return flow.Reject
		}
	case hsCertificate:
		if s.isClient(dir) {
			if !t.Client.CertificateSent {
				c := *t.Client
				c.CertificateSent = true
				t.Client = shareClient(&c)
			}
			return flow.More
		}
		if s.tls13 || s.certSeen {
			return flow.More
		}
		s.certSeen = true
		t.Certificate = f.Now()
		if err := parseCertificates(t, body); err != nil {
			f.Fail(err)
		}
	case hsServerKeyExchange, hsServerHelloDone:
		if !s.isClient(dir) {
			s.certSeen = true
		}
	}
	return flow.More
}
