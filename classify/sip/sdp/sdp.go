// Package sdp reads the security-relevant lines of a Session Description Protocol body
// (RFC 8866, formerly RFC 4566) as it arrives, in pieces of any size: the media descriptions
// (m=), their connection addresses (c=), SDES keys (a=crypto, RFC 4568), k= keys and DTLS
// fingerprints (a=fingerprint, RFC 8122).
//
// The Parser never buffers a body: it keeps at most the first MaxLine bytes of the current
// line in a fixed array and skips the rest of a longer line (a k= or a=crypto line carrying a
// huge key is recognised by its first bytes). It never keeps a key: only the presence of a
// k= line and, for a=crypto, the crypto suite name. It does not allocate.
package sdp

import "bytes"

// Bounds.
const (
	// MaxLine is the number of bytes of a line that are read; the rest is skipped.
	MaxLine = 256
	// MaxSuites is the number of a=crypto suite names kept per media description.
	MaxSuites = 4
	// TextLen is the capacity of a Text.
	TextLen = 64
)

// Text is a bounded copy of a short value (its first TextLen bytes).
type Text struct {
	b [TextLen]byte
	n uint8
}

func (t *Text) set(b []byte) { t.n = uint8(copy(t.b[:], b)) }

// Bytes returns the value. It aliases t.
func (t *Text) Bytes() []byte { return t.b[:t.n] }

// Len returns the length of the value.
func (t *Text) Len() int { return int(t.n) }

// Media is one media description with what applies to it from the session level.
type Media struct {
	Type  Text   // "audio", "video", "image", "application", ...
	Port  uint16 // 0 for a disabled stream or an unreadable port
	Proto Text   // "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "udptl", ...
	Conn  Text   // connection address (media-level c=, else session-level)
	// Crypto counts the a=crypto lines; Suites holds the first MaxSuites suite names.
	Crypto  uint32
	Suites  [MaxSuites]Text
	NSuites int
	// Key is true when a k= line applies (media level or session level).
	Key bool
	// Fingerprint is the hash function of the a=fingerprint that applies ("sha-256").
	Fingerprint Text
}

// Handler receives each media description when it is complete. m is valid only during the
// call.
type Handler interface {
	Media(m *Media)
}

// Parser reads one SDP body. The zero value is not ready: call Reset first.
type Parser struct {
	h Handler

	line [MaxLine]byte
	n    int  // bytes of the current line in line
	long bool // the current line is longer than MaxLine

	inMedia bool
	cur     Media

	// Session-level values, copied into each media description.
	sessConn Text
	sessKey  bool
	sessFP   Text

	// SessionCrypto counts a=crypto lines at the session level (RFC 4568 allows them only in
	// media descriptions; they still expose a key). SessionKey is true when a session-level
	// k= line was seen.
	SessionCrypto uint32
	SessionKey    bool
	// Lines counts the lines read; MediaCount the media descriptions.
	Lines      uint32
	MediaCount uint32
	// Valid is true when the first line was "v=".
	Valid bool
}

// Reset prepares p for a new body whose media descriptions go to h.
func (p *Parser) Reset(h Handler) {
	p.h = h
	p.n, p.long, p.inMedia = 0, false, false
	p.sessConn, p.sessFP = Text{}, Text{}
	p.sessKey = false
	p.SessionCrypto, p.SessionKey = 0, false
	p.Lines, p.MediaCount, p.Valid = 0, 0, false
}

// Write feeds the next bytes of the body.
func (p *Parser) Write(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.take(b)
			return
		}
		p.take(b[:i])
		p.endLine()
		b = b[i+1:]
	}
}

// Close ends the body: the last line and the last media description are processed.
func (p *Parser) Close() {
	if p.n > 0 || p.long {
		p.endLine()
	}
	p.flush()
}

func (p *Parser) take(b []byte) {
	if p.long {
		return
	}
	k := copy(p.line[p.n:], b)
	p.n += k
	if k < len(b) {
		p.long = true
	}
}

func (p *Parser) endLine() {
	l := p.line[:p.n]
	p.n, p.long = 0, false
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	if len(l) == 0 {
		return
	}
	p.Lines++
	if p.Lines == 1 {
		p.Valid = len(l) >= 2 && l[0] == 'v' && l[1] == '='
	}
	if len(l) < 2 || l[1] != '=' {
		return
	}
	v := l[2:]
	switch l[0] {
	case 'm':
		p.flush()
		p.media(v)
	case 'c':
		// c=<nettype> <addrtype> <connection-address>
		_, rest := token(v)
		_, rest = token(rest)
		addr, _ := token(rest)
		if i := bytes.IndexByte(addr, '/'); i >= 0 { // multicast TTL / number of addresses
			addr = addr[:i]
		}
		if p.inMedia {
			p.cur.Conn.set(addr)
		} else {
			p.sessConn.set(addr)
		}
	case 'k':
		if p.inMedia {
			p.cur.Key = true
		} else {
			p.sessKey, p.SessionKey = true, true
		}
	case 'a':
		p.attribute(v)
	}
}

func (p *Parser) media(v []byte) {
	p.inMedia = true
	p.MediaCount++
	p.cur = Media{Conn: p.sessConn, Key: p.sessKey, Fingerprint: p.sessFP}
	typ, rest := token(v)
	p.cur.Type.set(typ)
	port, rest := token(rest)
	p.cur.Port = parsePort(port)
	proto, _ := token(rest)
	p.cur.Proto.set(proto)
}

func (p *Parser) attribute(v []byte) {
	switch {
	case hasPrefixFold(v, "crypto:"):
		// a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]
		_, rest := token(v[len("crypto:"):])
		suite, _ := token(rest)
		if !p.inMedia {
			p.SessionCrypto++
			return
		}
		p.cur.Crypto++
		if p.cur.NSuites < MaxSuites && len(suite) > 0 {
			p.cur.Suites[p.cur.NSuites].set(suite)
			p.cur.NSuites++
		}
	case hasPrefixFold(v, "fingerprint:"):
		// a=fingerprint:<hash-func> <fingerprint>
		hash, _ := token(v[len("fingerprint:"):])
		if p.inMedia {
			p.cur.Fingerprint.set(hash)
		} else {
			p.sessFP.set(hash)
		}
	}
}

func (p *Parser) flush() {
	if p.inMedia && p.h != nil {
		p.h.Media(&p.cur)
	}
	p.inMedia = false
}

// token returns the first space-separated token of b and what follows it.
func token(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	return b[i:j], b[j:]
}

// parsePort reads the port of an m= line ("49170" or "49170/2"); 0 when unreadable.
func parsePort(b []byte) uint16 {
	v := 0
	for i, c := range b {
		if c == '/' && i > 0 {
			break
		}
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + int(c-'0')
		if v > 65535 {
			return 0
		}
	}
	return uint16(v)
}

// hasPrefixFold reports whether b starts with the lower-case ASCII string s, ignoring case.
func hasPrefixFold(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
