package sip

import (
	"bytes"
	"strings"

	"github.com/pcapaudit/pcapaudit/classify/internal/intern"
)

// lower returns c in lower case if it is an ASCII upper-case letter.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// eqFold reports whether b equals the lower-case ASCII string s, ignoring case.
func eqFold(b []byte, s string) bool {
	return len(b) == len(s) && hasPrefixFold(b, s)
}

// hasPrefixFold reports whether b starts with the lower-case ASCII string s, ignoring case.
func hasPrefixFold(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// prefixOfFold reports whether b is a prefix of the lower-case ASCII string s, ignoring case.
func prefixOfFold(b []byte, s string) bool {
	return len(b) <= len(s) && hasPrefixFold(b, s[:len(b)])
}

// containsFold reports whether b contains the lower-case ASCII string s, ignoring case.
func containsFold(b []byte, s string) bool {
	if len(s) == 0 {
		return true
	}
	first := s[0]
	for i := 0; i+len(s) <= len(b); i++ {
		if lower(b[i]) == first && hasPrefixFold(b[i:], s) {
			return true
		}
	}
	return false
}

// isWS reports whether c is white space inside a header value (a folded value keeps its
// CR LF, which counts as white space).
func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

func trimWS(b []byte) []byte {
	for len(b) > 0 && isWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// clip returns the first max bytes of b.
func clip(b []byte, max int) []byte {
	if len(b) > max {
		return b[:max]
	}
	return b
}

// setOnce stores the first max bytes of b in *dst unless *dst is already set. It allocates
// only the first time.
func setOnce(dst *string, b []byte, max int) {
	if *dst == "" && len(b) > 0 {
		*dst = string(clip(b, max))
	}
}

// cut splits b at the first sep outside a quoted string.
func cut(b []byte, sep byte) (before, after []byte, found bool) {
	// Most values hold no quoted string before the separator: two vectorised searches then
	// answer, and only a quote sends the search through the byte-by-byte loop.
	i := bytes.IndexByte(b, sep)
	switch {
	case i < 0 && bytes.IndexByte(b, '"') < 0:
		return b, nil, false
	case i >= 0 && bytes.IndexByte(b[:i], '"') < 0:
		return b[:i], b[i+1:], true
	}
	q := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			q = !q
		case c == '\\' && q:
			i++
		case c == sep && !q:
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// token returns the leading run of b up to white space or one of the stop bytes.
func token(b []byte, stop string) (tok, rest []byte) {
	i := 0
	for i < len(b) && !isWS(b[i]) && strings.IndexByte(stop, b[i]) < 0 {
		i++
	}
	return b[:i], b[i:]
}

func trimLeftWS(b []byte) []byte {
	for len(b) > 0 && isWS(b[0]) {
		b = b[1:]
	}
	return b
}

// params iterates over `name[=value]` items separated by sep (',' for auth-params, ';' for
// header parameters), with quoted-string values (returned without their quotes).
type params struct {
	b   []byte
	sep byte
}

func (p *params) next() (name, val []byte, ok bool) {
	for len(p.b) > 0 && (isWS(p.b[0]) || p.b[0] == p.sep) {
		p.b = p.b[1:]
	}
	if len(p.b) == 0 {
		return nil, nil, false
	}
	i := 0
	for i < len(p.b) && p.b[i] != '=' && p.b[i] != p.sep && !isWS(p.b[i]) {
		i++
	}
	name, p.b = p.b[:i], trimLeftWS(p.b[i:])
	if len(p.b) == 0 || p.b[0] != '=' {
		return name, nil, true
	}
	p.b = trimLeftWS(p.b[1:])
	if len(p.b) > 0 && p.b[0] == '"' {
		j := 1
		for j < len(p.b) && p.b[j] != '"' {
			if p.b[j] == '\\' {
				j++
			}
			j++
		}
		end := min(j, len(p.b))
		val = p.b[1:end]
		p.b = p.b[min(j+1, len(p.b)):]
		return name, val, true
	}
	j := 0
	for j < len(p.b) && p.b[j] != p.sep && !isWS(p.b[j]) {
		j++
	}
	val, p.b = p.b[:j], p.b[j:]
	return name, val, true
}

// maxKept is the number of string facts of SIPFacts one message can set: Method, RequestURI,
// ViaReceived, From, To, Contact, CallID, CSeq, UserAgent and Server.
const maxKept = 10

// maxKeptBytes bounds the bytes of those facts together (each is cut to its own bound).
const maxKeptBytes = maxMethod + 4*maxURI + 3*maxValue + 2*maxShort

// factStrings collects the string facts one message sets and makes them at the end of the
// message: the values seen again and again across flows are shared (see shared), the others
// made as substrings of one string, one allocation per message instead of one per fact. The
// facts share that string's lifetime, which is the flow's record's anyway.
type factStrings struct {
	n   int
	dst [maxKept]*string
	val [maxKept][]byte // aliases the message: valid until make is called, in the same call
	uri [maxKept]bool   // val is a URI whose userinfo password is redacted
}

// setOnce sets *dst to the first max bytes of b when the message ends, unless *dst is set
// already or this message set it first.
func (ss *factStrings) setOnce(dst *string, b []byte, max int) {
	if len(b) > 0 {
		ss.add(dst, clip(b, max), false)
	}
}

// setURIOnce sets *dst, as setOnce does, to the URI of the header value v (see uriOf), its
// userinfo password redacted and cut to maxURI bytes.
func (ss *factStrings) setURIOnce(dst *string, v []byte) {
	if *dst != "" || ss.has(dst) {
		return
	}
	if u := uriOf(v); len(u) > 0 {
		ss.add(dst, u, true)
	}
}

// setURI sets *dst, as setURIOnce does, to the URI uri itself.
func (ss *factStrings) setURI(dst *string, uri []byte) {
	if len(uri) > 0 {
		ss.add(dst, uri, true)
	}
}

func (ss *factStrings) has(dst *string) bool {
	for _, d := range ss.dst[:ss.n] {
		if d == dst {
			return true
		}
	}
	return false
}

func (ss *factStrings) add(dst *string, b []byte, uri bool) {
	if *dst != "" || ss.n == maxKept || ss.has(dst) {
		return
	}
	ss.dst[ss.n], ss.val[ss.n], ss.uri[ss.n] = dst, b, uri
	ss.n++
}

// make sets the facts collected since the last call, and forgets them (and the message bytes
// they alias).
func (ss *factStrings) make() {
	if ss.n == 0 {
		return
	}
	var end [maxKept]int
	var buf [maxKeptBytes]byte // on the stack: the string is the only allocation
	b := buf[:0]
	own := 0 // facts not shared, their bytes in b: ss.dst[:own], compacted
	for i := 0; i < ss.n; i++ {
		start := len(b)
		if ss.uri[i] {
			b = appendURI(b, ss.val[i], maxURI)
		} else {
			b = append(b, ss.val[i]...)
		}
		if v, ok := shared.Shared(b[start:]); ok {
			*ss.dst[i] = v
			b = b[:start]
			continue
		}
		ss.dst[own] = ss.dst[i]
		end[own] = len(b)
		own++
	}
	if own > 0 {
		s, start := string(b), 0
		for i := 0; i < own; i++ {
			*ss.dst[i] = s[start:end[i]]
			start = end[i]
		}
	}
	clear(ss.dst[:ss.n])
	clear(ss.val[:ss.n])
	ss.n = 0
}

// shared holds the string facts that repeat across flows and messages (a registrar's URI, a
// phone's From, To and User-Agent, a server's name): a message whose facts are all there
// allocates nothing. The others (a new Call-ID, say) are made as one string.
var shared intern.Table
