package tls

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"golang.org/x/crypto/cryptobyte"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/classify/internal/intern"
)

// Bounds on what a ClientHello contributes to the facts.
const (
	maxCipherNames = 64  // supported_ciphers kept
	maxALPN        = 8   // offered ALPN protocols kept
	maxALPNLen     = 32  // bytes of one ALPN protocol kept
	maxSNI         = 255 // bytes of the SNI kept (a DNS name is at most 253)
	// maxJA4Items bounds the ciphers, extensions and signature algorithms a JA4 fingerprint is
	// computed over; a hello with more is hostile and gets no fingerprint.
	maxJA4Items = 512
)

// Extension types.
const (
	extServerName          = 0
	extSignatureAlgorithms = 13
	extALPN                = 16
	extPreSharedKey        = 41
	extSupportedVersions   = 43
)

// helloRetryRandom is the ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
var helloRetryRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// ja4Input collects what the JA4 fingerprint is computed over.
type ja4Input struct {
	version  uint16 // highest offered version
	sni      bool
	ciphers  u16s   // GREASE removed
	nexts    int    // extensions, GREASE removed, SNI and ALPN included
	exts     u16s   // for the hash: GREASE, SNI and ALPN removed
	sigalgs  u16s   // in wire order, GREASE removed
	alpn     []byte // first offered ALPN protocol
	overflow bool
}

// u16s is a bounded list held in place: arrays rather than slices over local buffers, so the
// 3 KiB a ClientHello needs stays on the stack (a slice stored through a pointer escapes).
type u16s struct {
	a [maxJA4Items]uint16
	n int
}

func (l *u16s) list() []uint16 { return l.a[:l.n] }

// parseClientHello reads a ClientHello body (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) into the
// client facts, which it replaces by shared ones (see shareClient).
func (s *Session) parseClientHello(t *flow.TLSFacts, body []byte) error {
	c := *t.Client
	c.ALPN = slices.Clip(c.ALPN) // an append must not write to the shared block's list
	err := s.readClientHello(&c, body)
	t.Client = shareClient(&c)
	return err
}

// readClientHello reads a ClientHello body into cl.
func (s *Session) readClientHello(cl *flow.TLSClientFacts, body []byte) error {
	in := cryptobyte.String(body)
	var (
		legacy             uint16
		sid, ciphers, comp cryptobyte.String
	)
	if !in.ReadUint16(&legacy) || !in.Skip(32) || !in.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!in.ReadUint16LengthPrefixed(&ciphers) || len(ciphers)%2 != 0 || !in.ReadUint8LengthPrefixed(&comp) {
		return ErrClientHello
	}
	s.sidLen = uint8(copy(s.sid[:], sid))

	j := ja4Input{version: legacy}

	count := 0
	for c := ciphers; len(c) >= 2; c = c[2:] {
		v := uint16(c[0])<<8 | uint16(c[1])
		if isGREASE(v) {
			continue
		}
		count++
		j.add(&j.ciphers, v)
	}
	cl.SupportedCiphers = cipherNames(cipherLists, 0, ciphers, func() []string {
		names := make([]string, 0, min(count, maxCipherNames))
		for c := ciphers; len(c) >= 2 && len(names) < maxCipherNames; c = c[2:] {
			if v := uint16(c[0])<<8 | uint16(c[1]); !isGREASE(v) {
				names = append(names, suiteName(v))
			}
		}
		return names
	})
	cl.CipherCount = count
	cl.VersionMax, _ = versionName(legacy)

	var err error
	if !in.Empty() {
		var exts cryptobyte.String
		if !in.ReadUint16LengthPrefixed(&exts) {
			return ErrClientHello
		}
		err = s.clientExtensions(cl, &j, exts)
	}
	if !j.overflow {
		cl.JA4 = j.fingerprint()
	}
	return err
}

func (j *ja4Input) add(l *u16s, v uint16) {
	if l.n == len(l.a) {
		j.overflow = true
		return
	}
	l.a[l.n] = v
	l.n++
}

// clientExtensions reads the ClientHello extensions the facts and JA4 need.
func (s *Session) clientExtensions(cl *flow.TLSClientFacts, j *ja4Input, exts cryptobyte.String) error {
	for !exts.Empty() {
		var typ uint16
		var ext cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&ext) {
			return ErrClientHello
		}
		if isGREASE(typ) {
			continue
		}
		j.nexts++
		if typ != extServerName && typ != extALPN {
			j.add(&j.exts, typ)
		}
		switch typ {
		case extServerName:
			j.sni = true
			var list cryptobyte.String
			if !ext.ReadUint16LengthPrefixed(&list) {
				return ErrClientHello
			}
			for !list.Empty() {
				var kind uint8
				var name cryptobyte.String
				if !list.ReadUint8(&kind) || !list.ReadUint16LengthPrefixed(&name) {
					return ErrClientHello
				}
				if kind == 0 && cl.ServerName == "" {
					cl.ServerName = printable(name, maxSNI)
				}
			}
		case extALPN:
			var list cryptobyte.String
			if !ext.ReadUint16LengthPrefixed(&list) {
				return ErrClientHello
			}
			for !list.Empty() {
				var p cryptobyte.String
				if !list.ReadUint8LengthPrefixed(&p) {
					return ErrClientHello
				}
				if j.alpn == nil {
					j.alpn = p
				}
				if len(cl.ALPN) < maxALPN {
					cl.ALPN = append(cl.ALPN, printable(p, maxALPNLen))
				}
			}
		case extSupportedVersions:
			var list cryptobyte.String
			if !ext.ReadUint8LengthPrefixed(&list) || len(list)%2 != 0 {
				return ErrClientHello
			}
			best := uint16(0)
			for ; len(list) >= 2; list = list[2:] {
				v := uint16(list[0])<<8 | uint16(list[1])
				if !isGREASE(v) && versionRank(v) > versionRank(best) {
					best = v
				}
			}
			if best != 0 {
				j.version = best
				cl.VersionMax, _ = versionName(best)
			}
		case extSignatureAlgorithms:
			var list cryptobyte.String
			if !ext.ReadUint16LengthPrefixed(&list) || len(list)%2 != 0 {
				return ErrClientHello
			}
			for ; len(list) >= 2; list = list[2:] {
				if v := uint16(list[0])<<8 | uint16(list[1]); !isGREASE(v) {
					j.add(&j.sigalgs, v)
				}
			}
		}
	}
	return nil
}

// versionRank orders wire versions (SSL 2.0 is 0x0002).
func versionRank(v uint16) int {
	if v == 0x0002 {
		return 1
	}
	if v>>8 == 3 {
		return int(v)
	}
	return 0
}

// parseServerHello reads a ServerHello body and sets the negotiated version and suite.
func (s *Session) parseServerHello(f *flow.Flow, body []byte) error {
	t := f.TLS
	in := cryptobyte.String(body)
	var (
		legacy, suite uint16
		random, sid   []byte
		comp          uint8
	)
	if !in.ReadUint16(&legacy) || !in.ReadBytes(&random, 32) || !in.ReadUint8LengthPrefixed((*cryptobyte.String)(&sid)) ||
		len(sid) > 32 || !in.ReadUint16(&suite) || !in.ReadUint8(&comp) {
		return ErrServerHello
	}
	version := legacy
	psk := false
	var alpn []byte
	if !in.Empty() {
		var exts cryptobyte.String
		if !in.ReadUint16LengthPrefixed(&exts) {
			return ErrServerHello
		}
		for !exts.Empty() {
			var typ uint16
			var ext cryptobyte.String
			if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&ext) {
				return ErrServerHello
			}
			switch typ {
			case extSupportedVersions:
				if !ext.ReadUint16(&version) {
					return ErrServerHello
				}
			case extPreSharedKey:
				psk = true
			case extALPN:
				var list, p cryptobyte.String
				if ext.ReadUint16LengthPrefixed(&list) && list.ReadUint8LengthPrefixed(&p) {
					alpn = p
				}
			}
		}
	}
	if versionRank(version) == 0 {
		return ErrServerHello
	}
	t.Version, t.VersionProtocol = versionName(version)
	si := suiteOf(suite)
	t.Cipher, t.Kex = si.name, si.kex
	s.tls13 = version >= 0x0304
	if s.tls13 {
		// A ChangeCipherSpec before this point was for middlebox compatibility.
		s.dirs[0].ccs, s.dirs[1].ccs = false, false
	}
	if bytes.Equal(random, helloRetryRandom) {
		s.hrr = true // the client sends a second ClientHello; the real ServerHello follows
		return nil
	}
	s.serverHello = true
	t.ServerHello = f.Now()
	t.Compressed = comp != 0
	if alpn != nil {
		t.NextProtocol = printable(alpn, maxALPNLen)
	}
	switch {
	case s.tls13:
		t.Resumed = psk
	case len(sid) > 0 && len(sid) == int(s.sidLen) && bytes.Equal(sid, s.sid[:s.sidLen]):
		t.Resumed = true
	}
	return nil
}

// sslv2Length returns the total length of an SSL 2.0 record holding a CLIENT-HELLO, with
// its 2-byte header, and whether b starts like one (RFC 6101 Appendix E.2).
func sslv2Length(b []byte) (int, bool) {
	if len(b) < 3 {
		return 3, true // cannot tell yet
	}
	l := int(b[0]&0x7f)<<8 | int(b[1])
	return 2 + l, b[2] == hsClientHello && l >= 9+3+16 && l <= maxRecord
}

// sslv2 reads an SSL 2.0 compatible CLIENT-HELLO (its body after the record header).
func (s *Session) sslv2(f *flow.Flow, dir flow.Dir, body []byte) flow.Verdict {
	in := cryptobyte.String(body)
	var typ uint8
	var version, csLen, sidLen, chLen uint16
	if !in.ReadUint8(&typ) || typ != hsClientHello || !in.ReadUint16(&version) || !in.ReadUint16(&csLen) ||
		!in.ReadUint16(&sidLen) || !in.ReadUint16(&chLen) || csLen%3 != 0 || int(csLen)+int(sidLen)+int(chLen) != len(in) {
		f.Fail(ErrClientHello)
		return flow.Reject
	}
	if s.clientHello {
		return flow.More
	}
	t := f.TLS
	s.setRole(dir, true)
	s.clientHello = true
	t.ClientHello = f.Now()
	cl := *t.Client
	cl.SSLv2Hello = true
	cl.VersionMax, _ = versionName(version)
	specs := in[:csLen]
	count := 0
	for s := specs; len(s) >= 3; s = s[3:] {
		if s[0] == 0 { // else an SSL 2.0 kind: no TLS equivalent
			count++
		}
	}
	cl.SupportedCiphers = cipherNames(cipherLists, 2, specs, func() []string {
		names := make([]string, 0, min(count, maxCipherNames))
		for s := specs; len(s) >= 3 && len(names) < maxCipherNames; s = s[3:] {
			if s[0] == 0 {
				names = append(names, suiteName(uint16(s[1])<<8|uint16(s[2])))
			}
		}
		return names
	})
	cl.CipherCount = count
	t.Client = shareClient(&cl)
	return flow.More
}

// printable copies at most max bytes of b into a string, replacing bytes outside printable
// ASCII with '?', so that a hostile name cannot inject control characters into the output.
func printable(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	clean := true
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			clean = false
			break
		}
	}
	if clean {
		return string(b)
	}
	out := []byte(string(b))
	for i, c := range out {
		if c < 0x20 || c > 0x7e {
			out[i] = '?'
		}
	}
	return string(out)
}

// fingerprint computes the JA4 TLS client fingerprint (FoxIO, JA4 specification):
//
//	t13d1516h2_8daaf6152771_e5627efa2ab1
//	│ │ │ │ │ └ ALPN: first and last character of the first offered protocol ("00": none)
//	│ │ │ │ └── extension count, 2 digits, at most 99 (GREASE left out; SNI and ALPN counted)
//	│ │ │ └──── cipher suite count, 2 digits, at most 99 (GREASE left out)
//	│ │ └────── "d": an SNI extension is present, "i": none
//	│ └──────── highest offered version: 13, 12, 11, 10, s3, s2 (00 otherwise)
//	└────────── transport: t (TCP)
//
// then the first 12 hex digits of the SHA-256 of the sorted cipher suites (4 lower-case hex
// digits each, comma-separated), then those of the sorted extensions without SNI and ALPN,
// followed, when the client sent signature algorithms, by "_" and those in wire order.
// An empty list hashes to "000000000000".
func (j *ja4Input) fingerprint() string {
	var out [36]byte
	o := out[:0]
	o = append(o, 't')
	switch j.version {
	case 0x0304:
		o = append(o, "13"...)
	case 0x0303:
		o = append(o, "12"...)
	case 0x0302:
		o = append(o, "11"...)
	case 0x0301:
		o = append(o, "10"...)
	case 0x0300:
		o = append(o, "s3"...)
	case 0x0002:
		o = append(o, "s2"...)
	default:
		o = append(o, "00"...)
	}
	if j.sni {
		o = append(o, 'd')
	} else {
		o = append(o, 'i')
	}
	o = append2(o, j.ciphers.n)
	o = append2(o, j.nexts)
	o = appendALPN(o, j.alpn)
	o = append(o, '_')

	var buf [maxJA4Items*3*5 + 2]byte
	slices.Sort(j.ciphers.list())
	o = appendHash12(o, appendHexList(buf[:0], j.ciphers.list()))
	o = append(o, '_')
	slices.Sort(j.exts.list())
	h := appendHexList(buf[:0], j.exts.list())
	if j.sigalgs.n > 0 {
		h = append(h, '_')
		h = appendHexList(h, j.sigalgs.list())
	}
	o = appendHash12(o, h)
	return fingerprints.String(o)
}

// fingerprints shares the JA4 fingerprints across flows: a client sends the same ClientHello
// shape on every connection, and a network has few client stacks.
var fingerprints intern.Table

func append2(o []byte, n int) []byte {
	n = min(n, 99)
	return append(o, byte('0'+n/10), byte('0'+n%10))
}

func appendALPN(o []byte, p []byte) []byte {
	if len(p) == 0 {
		return append(o, "00"...)
	}
	first, last := p[0], p[len(p)-1]
	if alnum(first) && alnum(last) {
		return append(o, first, last)
	}
	const digits = "0123456789abcdef"
	return append(o, digits[first>>4], digits[last&15])
}

func alnum(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

func appendHexList(b []byte, list []uint16) []byte {
	const digits = "0123456789abcdef"
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, digits[v>>12], digits[v>>8&15], digits[v>>4&15], digits[v&15])
	}
	return b
}

func appendHash12(o, in []byte) []byte {
	if len(in) == 0 {
		return append(o, "000000000000"...)
	}
	sum := sha256.Sum256(in)
	var h [64]byte
	hex.Encode(h[:], sum[:])
	return append(o, h[:12]...)
}
