package sip

import (
	"bytes"
	"errors"
)

// methodNames are the methods a flow is recognised by (RFC 3261, 3262, 3265/6665, 3428,
// 3311, 3515, 3903, 6086). Other methods are counted once the flow is recognised.
var methodNames = [...]string{
	"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
	"NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
}

// Indexes in methodNames of the methods whose transaction ends a UDP exchange.
const (
	methodOptions  = 4
	methodRegister = 5
)

// methodOther is the method index of an extension method.
const methodOther = len(methodNames)

const sipVersion = "sip/2.0" // compared ignoring case

// startLine is a parsed request line or status line.
type startLine struct {
	request bool
	method  int    // index in methodNames, or methodOther
	methodB []byte // the method as sent (aliases the data)
	uri     []byte // the Request-URI (aliases the data)
	code    int    // status code of a response
	end     int    // offset just past the line's LF
}

func lookupMethod(b []byte) int {
	for i, m := range methodNames {
		if string(b) == m {
			return i
		}
	}
	return methodOther
}

// parseStart reads the start line at the beginning of b. strict (before the flow is
// recognised) requires one of methodNames and a sip:, sips: or tel: Request-URI; otherwise
// any method token and URI scheme are accepted. It returns errShort when b holds no complete
// line yet but what it holds is a valid beginning, ErrNotSIP when b cannot start a SIP message.
func parseStart(b []byte, strict bool) (startLine, error) {
	var sl startLine
	line := b
	short := true
	if len(line) > maxStartLine {
		line = line[:maxStartLine]
	}
	if lf := bytes.IndexByte(line, '\n'); lf >= 0 {
		line, short = b[:lf], false
		sl.end = lf + 1
	} else if len(b) >= maxStartLine {
		return sl, ErrNotSIP
	}
	line = trimCR(line)
	errStatus := parseStatus(line, short, &sl)
	if errStatus == nil {
		return sl, nil
	}
	errReq := parseRequest(line, short, strict, &sl)
	if errReq == nil {
		return sl, nil
	}
	if errStatus == errShort || errReq == errShort {
		return sl, errShort
	}
	return sl, ErrNotSIP
}

// parseStatus reads `SIP/2.0 SP 3DIGIT [SP Reason-Phrase]`.
func parseStatus(line []byte, short bool, sl *startLine) error {
	i, err := literal(line, 0, sipVersion+" ", short)
	if err != nil {
		return err
	}
	code := 0
	for k := 0; k < 3; k++ {
		if i+k >= len(line) {
			return shortOr(short)
		}
		c := line[i+k]
		if c < '0' || c > '9' {
			return ErrNotSIP
		}
		code = code*10 + int(c-'0')
	}
	i += 3
	if code < 100 || code > 699 {
		return ErrNotSIP
	}
	if i < len(line) && line[i] != ' ' && line[i] != '\t' {
		return ErrNotSIP
	}
	if short {
		return errShort
	}
	sl.request, sl.code = false, code
	return nil
}

// parseRequest reads `Method SP Request-URI SP SIP/2.0`.
func parseRequest(line []byte, short, strict bool, sl *startLine) error {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		if short && len(line) <= maxMethod && methodPrefix(line, strict) {
			return errShort
		}
		return ErrNotSIP
	}
	m := line[:sp]
	if !methodToken(m) {
		return ErrNotSIP
	}
	idx := lookupMethod(m)
	if strict && idx == methodOther {
		return ErrNotSIP
	}
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 {
		if short && uriPrefix(rest, strict) {
			return errShort
		}
		return ErrNotSIP
	}
	uri := rest[:sp2]
	if !uriScheme(uri, strict) {
		return ErrNotSIP
	}
	ver := rest[sp2+1:]
	if _, err := literal(ver, 0, sipVersion, short); err != nil {
		return err
	}
	if len(ver) != len(sipVersion) {
		// Tolerate trailing blanks only.
		for _, c := range ver[len(sipVersion):] {
			if c != ' ' && c != '\t' {
				return ErrNotSIP
			}
		}
	}
	if short {
		return errShort
	}
	sl.request, sl.method, sl.methodB, sl.uri = true, idx, m, uri
	return nil
}

// literal matches the lower-case ASCII string s at line[i:], ignoring case. When line ends
// first with everything matching, the result is errShort if the line is incomplete.
func literal(line []byte, i int, s string, short bool) (int, error) {
	for k := 0; k < len(s); k++ {
		if i+k >= len(line) {
			return 0, shortOr(short)
		}
		if lower(line[i+k]) != s[k] {
			return 0, ErrNotSIP
		}
	}
	return i + len(s), nil
}

func shortOr(short bool) error {
	if short {
		return errShort
	}
	return ErrNotSIP
}

const maxMethod = 32

func methodToken(m []byte) bool {
	if len(m) == 0 || len(m) > maxMethod {
		return false
	}
	for _, c := range m {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// methodPrefix reports whether b (no space yet) can begin an acceptable method.
func methodPrefix(b []byte, strict bool) bool {
	if !strict {
		return len(b) == 0 || methodToken(b)
	}
	for _, m := range methodNames {
		if len(b) <= len(m) && string(b) == m[:len(b)] {
			return true
		}
	}
	return false
}

var strictSchemes = [...]string{"sip:", "sips:", "tel:"}

// uriScheme reports whether uri starts with an acceptable scheme.
func uriScheme(uri []byte, strict bool) bool {
	if strict {
		for _, s := range strictSchemes {
			if hasPrefixFold(uri, s) {
				return true
			}
		}
		return false
	}
	for i, c := range uri {
		switch {
		case c == ':':
			return i > 0
		case 'a' <= lower(c) && lower(c) <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return false
}

// uriPrefix reports whether b (no space after it yet) can begin an acceptable Request-URI.
func uriPrefix(b []byte, strict bool) bool {
	if len(b) > maxStartLine {
		return false
	}
	if uriScheme(b, strict) {
		return true
	}
	if strict {
		for _, s := range strictSchemes {
			if len(b) < len(s) && prefixOfFold(b, s) {
				return true
			}
		}
		return false
	}
	for i, c := range b {
		if !('a' <= lower(c) && lower(c) <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// The header fields every SIP request and response carries (RFC 3261 §8.1.1, §8.2.6.2).
const (
	hdrVia = 1 << iota
	hdrFrom
	hdrTo
	hdrCallID
	hdrCSeq
	hdrAll = hdrVia | hdrFrom | hdrTo | hdrCallID | hdrCSeq
)

// mandatory reports whether the header block of the message at b, whose start line ends at
// start, holds Via, From, To, Call-ID and CSeq (long or compact names): a start line alone is
// a few bytes any text protocol can happen to send. Over TCP it returns errShort while the
// block is incomplete, until the block outgrows maxHeaderBlock; over UDP the end of the
// datagram ends the block. It does not allocate.
func mandatory(b []byte, start int, udp bool) error {
	seen := 0
	for pos := start; ; {
		lf := bytes.IndexByte(b[pos:], '\n')
		line := b[pos:]
		if lf >= 0 {
			line = line[:lf]
		}
		line = trimCR(line)
		if len(line) == 0 && lf >= 0 {
			break // the blank line ending the headers
		}
		if lf < 0 && !udp {
			if len(b) > maxHeaderBlock {
				return ErrNotSIP
			}
			return errShort
		}
		if len(line) > 0 && !isWS(line[0]) { // not a folded continuation
			if name, _, ok := cut(line, ':'); ok {
				seen |= headerBit(trimWS(name))
			}
		}
		if lf < 0 {
			break
		}
		pos += lf + 1
	}
	if seen != hdrAll {
		return errMissingHeaders
	}
	return nil
}

// errMissingHeaders: a header block without one of Via, From, To, Call-ID and CSeq.
var errMissingHeaders = errors.New("sip: a mandatory header is missing")

func headerBit(name []byte) int {
	switch len(name) {
	case 1:
		switch lower(name[0]) {
		case 'v':
			return hdrVia
		case 'f':
			return hdrFrom
		case 't':
			return hdrTo
		case 'i':
			return hdrCallID
		}
	case 2:
		if eqFold(name, "to") {
			return hdrTo
		}
	case 3:
		if eqFold(name, "via") {
			return hdrVia
		}
	case 4:
		switch {
		case eqFold(name, "from"):
			return hdrFrom
		case eqFold(name, "cseq"):
			return hdrCSeq
		}
	case 7:
		if eqFold(name, "call-id") {
			return hdrCallID
		}
	}
	return 0
}
