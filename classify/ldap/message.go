package ldap

import (
	"bytes"
	"errors"

	"github.com/pcapaudit/pcapaudit/classify/ldap/ber"
)

// Limits on what is read from the wire.
const (
	// MaxMessage bounds an LDAPMessage: a TCP message that claims more is a parse error and
	// inspection of the flow stops.
	MaxMessage = 1 << 20
	// maxDepth bounds the nesting of search filters (the only recursive structure read).
	maxDepth = 32
	// maxFilterNodes bounds the number of filter items walked in one search request.
	maxFilterNodes = 1024
	// maxElements bounds the elements of one level checked when validating an operation.
	maxElements = 4096
)

// Parse errors, counted on the flow with f.Fail.
var (
	ErrNotLDAP   = errors.New("ldap: not an LDAP message")
	ErrTooLarge  = errors.New("ldap: message larger than the 1 MiB limit")
	ErrMalformed = errors.New("ldap: malformed operation")
	ErrDatagram  = errors.New("ldap: datagram ends inside a message")
)

// errShort is envelope's "the message is not complete yet".
var errShort = errors.New("ldap: incomplete message")

// message is one framed LDAPMessage. Slices alias the input.
type message struct {
	id     int32
	op     byte // operation number (the tag number of protocolOp)
	opTag  byte // protocolOp identifier
	total  int  // bytes of the whole message
	body   []byte
	opSeen bool // the header up to the protocolOp identifier and length was read
}

// envelope frames the LDAPMessage at the start of b and validates it:
//
//	LDAPMessage ::= SEQUENCE { messageID INTEGER (0..2^31-1), protocolOp CHOICE {...},
//	                           controls [0] Controls OPTIONAL }
//
// It returns errShort when b ends before the message does (m.opSeen says whether the header
// up to the protocolOp length was valid), ErrTooLarge for a message over MaxMessage,
// ErrMalformed for a well-framed message whose operation does not parse (m.total is valid),
// and ErrNotLDAP for anything else. It reads only what the lengths allow and never allocates.
func envelope(b []byte) (m message, err error) {
	h, err := ber.ParseHeader(b)
	if err != nil {
		if err == ber.ErrShort && len(b) > 0 && b[0] == ber.TagSequence {
			if len(b) < 2 || b[1] != 0x80 && b[1] <= 0x84 {
				return m, errShort
			}
		}
		if err == ber.ErrLength && b[0] == ber.TagSequence {
			return m, ErrTooLarge
		}
		return m, ErrNotLDAP
	}
	if h.Tag != ber.TagSequence {
		return m, ErrNotLDAP
	}
	if h.Len > MaxMessage {
		return m, ErrTooLarge
	}
	if h.Len < 5 { // 02 01 id 42 00: the shortest message (an unbind)
		return m, ErrNotLDAP
	}
	c := b[h.HeaderLen:]
	complete := len(c) >= h.Len
	if complete {
		c = c[:h.Len]
	}
	// messageID
	if len(c) < 2 {
		return m, errShort
	}
	il := int(c[1])
	if c[0] != ber.TagInteger || il < 1 || il > 4 || 2+il > h.Len {
		return m, ErrNotLDAP
	}
	if len(c) < 2+il {
		return m, errShort
	}
	if c[2]&0x80 != 0 {
		return m, ErrNotLDAP // negative
	}
	id, _ := ber.Int(c[2 : 2+il])
	rest := c[2+il:]
	restLen := h.Len - 2 - il
	if restLen < 2 {
		return m, ErrNotLDAP
	}
	// protocolOp
	if len(rest) > 0 && !validOpTag(rest[0]) {
		return m, ErrNotLDAP
	}
	oh, err := ber.ParseHeader(rest)
	if err == ber.ErrShort {
		if len(rest) >= 2 && (rest[1] == 0x80 || rest[1] > 0x84) {
			return m, ErrNotLDAP
		}
		return m, errShort
	}
	if err != nil || oh.Total() > restLen {
		return m, ErrNotLDAP
	}
	m = message{id: id, op: oh.Tag & 0x1f, opTag: oh.Tag, total: h.Total(), opSeen: true}
	if !complete {
		// What is there of the operation must start as the operation does.
		if len(rest) > oh.HeaderLen && !firstTagOK(m.op, rest[oh.HeaderLen]) {
			return m, ErrNotLDAP
		}
		return m, errShort
	}
	m.body = rest[oh.HeaderLen:oh.Total():oh.Total()]
	// controls
	if tail := ber.Reader(rest[oh.Total():]); !tail.Empty() {
		ctl, ok := tail.Read(ber.ClassContext | ber.Constructed | 0)
		if !ok || !tail.Empty() || !ber.Elements(ctl, maxElements) {
			return m, ErrNotLDAP
		}
	}
	if !checkOp(m.op, m.body) {
		return m, ErrMalformed
	}
	return m, nil
}

// firstTagOK reports whether tag may start the body of operation op.
func firstTagOK(op, tag byte) bool {
	switch op {
	case opBindRequest:
		return tag == ber.TagInteger
	case opExtendedRequest:
		return tag == ber.ClassContext|0
	case opIntermediateResponse:
		return tag == ber.ClassContext|0 || tag == ber.ClassContext|1
	case opSearchRequest, opSearchResultEntry, opModifyRequest, opAddRequest,
		opModifyDNRequest, opCompareRequest, opSearchResultReference:
		return tag == ber.TagOctetString
	case opUnbindRequest, opDelRequest, opAbandonRequest:
		return true
	}
	if opKind[op]&kindResult != 0 {
		return tag == ber.TagEnumerated
	}
	return false
}

// checkOp validates the body of a complete operation.
func checkOp(op byte, body []byte) bool {
	switch op {
	case opUnbindRequest:
		return len(body) == 0
	case opDelRequest:
		return true
	case opAbandonRequest:
		v, ok := ber.Int(body)
		return ok && v >= 0
	case opBindRequest:
		_, ok := parseBind(body)
		return ok
	case opSearchRequest:
		var s filterSink
		_, ok := parseSearch(body, &s)
		return ok
	case opExtendedRequest:
		_, ok := parseExtended(body)
		return ok
	case opIntermediateResponse:
		r := ber.Reader(body)
		if _, _, ok := r.ReadOptional(ber.ClassContext | 0); !ok {
			return false
		}
		if _, _, ok := r.ReadOptional(ber.ClassContext | 1); !ok {
			return false
		}
		return r.Empty()
	}
	if opKind[op]&kindResult != 0 {
		_, ok := parseResult(op, body)
		return ok
	}
	// SearchResultEntry, Modify, Add, ModifyDN, Compare requests, SearchResultReference:
	// an octet string first, then well-formed elements.
	return len(body) > 0 && firstTagOK(op, body[0]) && ber.Elements(body, maxElements)
}

// bindRequest is a parsed BindRequest:
//
//	BindRequest ::= [APPLICATION 0] SEQUENCE { version INTEGER (1..127), name LDAPDN,
//	    authentication CHOICE { simple [0] OCTET STRING, sasl [3] SaslCredentials, ... } }
//	SaslCredentials ::= SEQUENCE { mechanism LDAPString, credentials OCTET STRING OPTIONAL }
//
// Microsoft's sicily choices [9], [10], [11] carry NTLM.
type bindRequest struct {
	version  int32
	name     []byte
	auth     byte // the identifier of the authentication choice
	password []byte
	mech     []byte
	creds    []byte
	hasCreds bool
}

const (
	authSimple          = ber.ClassContext | 0
	authSASL            = ber.ClassContext | ber.Constructed | 3
	authSicilyDiscovery = ber.ClassContext | 9
	authSicilyNegotiate = ber.ClassContext | 10
	authSicilyResponse  = ber.ClassContext | 11
)

func parseBind(body []byte) (b bindRequest, ok bool) {
	r := ber.Reader(body)
	if b.version, ok = r.ReadInt(ber.TagInteger); !ok || b.version < 1 || b.version > 127 {
		return b, false
	}
	if b.name, ok = r.Read(ber.TagOctetString); !ok {
		return b, false
	}
	var c []byte
	if b.auth, c, ok = r.ReadAny(); !ok || !r.Empty() {
		return b, false
	}
	switch b.auth {
	case authSimple:
		b.password = c
	case authSASL:
		s := ber.Reader(c)
		if b.mech, ok = s.Read(ber.TagOctetString); !ok {
			return b, false
		}
		if b.creds, b.hasCreds, ok = s.ReadOptional(ber.TagOctetString); !ok || !s.Empty() {
			return b, false
		}
	case authSicilyDiscovery, authSicilyNegotiate, authSicilyResponse:
		b.creds, b.hasCreds = c, len(c) > 0
	default:
		return b, false
	}
	return b, true
}

// result is a parsed LDAPResult (with the extra fields of Bind and Extended responses):
//
//	LDAPResult ::= SEQUENCE { resultCode ENUMERATED, matchedDN LDAPDN,
//	    diagnosticMessage LDAPString, referral [3] Referral OPTIONAL }
//	BindResponse adds serverSaslCreds [7]; ExtendedResponse adds responseName [10] and
//	responseValue [11].
type result struct {
	code       int32
	diagnostic []byte
	name       []byte // ExtendedResponse responseName
}

func parseResult(op byte, body []byte) (res result, ok bool) {
	r := ber.Reader(body)
	if res.code, ok = r.ReadInt(ber.TagEnumerated); !ok || res.code < 0 {
		return res, false
	}
	if _, ok = r.Read(ber.TagOctetString); !ok {
		return res, false
	}
	if res.diagnostic, ok = r.Read(ber.TagOctetString); !ok {
		return res, false
	}
	if _, _, ok = r.ReadOptional(ber.ClassContext | ber.Constructed | 3); !ok {
		return res, false
	}
	switch op {
	case opBindResponse:
		if _, _, ok = r.ReadOptional(ber.ClassContext | 7); !ok {
			return res, false
		}
	case opExtendedResponse:
		if res.name, _, ok = r.ReadOptional(ber.ClassContext | 10); !ok {
			return res, false
		}
		if _, _, ok = r.ReadOptional(ber.ClassContext | 11); !ok {
			return res, false
		}
	}
	return res, r.Empty()
}

// extendedRequest is a parsed ExtendedRequest:
//
//	ExtendedRequest ::= [APPLICATION 23] SEQUENCE { requestName [0] LDAPOID,
//	    requestValue [1] OCTET STRING OPTIONAL }
type extendedRequest struct {
	name     []byte
	value    []byte
	hasValue bool
}

func parseExtended(body []byte) (e extendedRequest, ok bool) {
	r := ber.Reader(body)
	if e.name, ok = r.Read(ber.ClassContext | 0); !ok {
		return e, false
	}
	if e.value, e.hasValue, ok = r.ReadOptional(ber.ClassContext | 1); !ok {
		return e, false
	}
	return e, r.Empty()
}

// passwordModifyCarries reports whether a Password Modify request value (RFC 3062) holds an
// old or a new password:
//
//	PasswdModifyRequestValue ::= SEQUENCE { userIdentity [0] OPTIONAL,
//	    oldPasswd [1] OPTIONAL, newPasswd [2] OPTIONAL }
func passwordModifyCarries(v []byte) bool {
	r := ber.Reader(v)
	c, ok := r.Read(ber.TagSequence)
	if !ok {
		return false
	}
	s := ber.Reader(c)
	for !s.Empty() {
		tag, _, ok := s.ReadAny()
		if !ok {
			return false
		}
		if tag == ber.ClassContext|1 || tag == ber.ClassContext|2 {
			return true
		}
	}
	return false
}

// searchRequest is a parsed SearchRequest:
//
//	SearchRequest ::= [APPLICATION 3] SEQUENCE { baseObject LDAPDN, scope ENUMERATED,
//	    derefAliases ENUMERATED, sizeLimit INTEGER, timeLimit INTEGER, typesOnly BOOLEAN,
//	    filter Filter, attributes AttributeSelection (SEQUENCE OF LDAPString) }
type searchRequest struct {
	base  []byte
	scope int32
	attrs []byte // content of the attributes SEQUENCE
}

func parseSearch(body []byte, s *filterSink) (q searchRequest, ok bool) {
	r := ber.Reader(body)
	if q.base, ok = r.Read(ber.TagOctetString); !ok {
		return q, false
	}
	if q.scope, ok = r.ReadInt(ber.TagEnumerated); !ok || q.scope < 0 || q.scope > 3 {
		return q, false
	}
	if deref, ok := r.ReadInt(ber.TagEnumerated); !ok || deref < 0 || deref > 3 {
		return q, false
	}
	if _, ok = r.ReadInt(ber.TagInteger); !ok {
		return q, false
	}
	if _, ok = r.ReadInt(ber.TagInteger); !ok {
		return q, false
	}
	if c, ok := r.Read(ber.TagBoolean); !ok || len(c) != 1 {
		return q, false
	}
	tag, f, ok := r.ReadAny()
	if !ok || !walkFilter(tag, f, 1, s) {
		return q, false
	}
	if q.attrs, ok = r.Read(ber.TagSequence); !ok || !r.Empty() {
		return q, false
	}
	a := ber.Reader(q.attrs)
	for !a.Empty() {
		v, ok := a.Read(ber.TagOctetString)
		if !ok {
			return q, false
		}
		s.attr(v, true)
	}
	return q, true
}

// maxFilterAttrs bounds the distinct filter attributes kept.
const maxFilterAttrs = 8

// filterSink collects what a search names, without allocating: the distinct attribute
// descriptions of the filter (aliasing the message) and whether servicePrincipalName appears.
type filterSink struct {
	attrs [maxFilterAttrs][]byte
	n     int
	nodes int
	spn   bool
}

const spnAttr = "servicePrincipalName"

// attr notes an attribute description; requested is true for one from the attribute list
// (checked for servicePrincipalName but not collected as a filter attribute).
func (s *filterSink) attr(a []byte, requested bool) {
	if bytes.EqualFold([]byte(spnAttr), a) {
		s.spn = true
	}
	if requested {
		return
	}
	for i := 0; i < s.n; i++ {
		if bytes.EqualFold(s.attrs[i], a) {
			return
		}
	}
	if s.n < maxFilterAttrs {
		s.attrs[s.n] = a
		s.n++
	}
}

// Filter choices (RFC 4511 §4.5.1).
const (
	filterAnd        = ber.ClassContext | ber.Constructed | 0
	filterOr         = ber.ClassContext | ber.Constructed | 1
	filterNot        = ber.ClassContext | ber.Constructed | 2
	filterEquality   = ber.ClassContext | ber.Constructed | 3
	filterSubstrings = ber.ClassContext | ber.Constructed | 4
	filterGreater    = ber.ClassContext | ber.Constructed | 5
	filterLess       = ber.ClassContext | ber.Constructed | 6
	filterPresent    = ber.ClassContext | 7
	filterApprox     = ber.ClassContext | ber.Constructed | 8
	filterExtensible = ber.ClassContext | ber.Constructed | 9
)

// walkFilter validates one filter item and notes the attributes it names. depth is the
// nesting level of the item (1 for the top); nesting deeper than maxDepth, or more than
// maxFilterNodes items, fails.
func walkFilter(tag byte, c []byte, depth int, s *filterSink) bool {
	s.nodes++
	if depth > maxDepth || s.nodes > maxFilterNodes {
		return false
	}
	r := ber.Reader(c)
	switch tag {
	case filterAnd, filterOr:
		for !r.Empty() {
			t, cc, ok := r.ReadAny()
			if !ok || !walkFilter(t, cc, depth+1, s) {
				return false
			}
		}
		return true
	case filterNot:
		t, cc, ok := r.ReadAny()
		return ok && r.Empty() && walkFilter(t, cc, depth+1, s)
	case filterEquality, filterGreater, filterLess, filterApprox:
		a, ok := r.Read(ber.TagOctetString)
		if !ok {
			return false
		}
		if _, ok = r.Read(ber.TagOctetString); !ok || !r.Empty() {
			return false
		}
		s.attr(a, false)
		return true
	case filterSubstrings:
		a, ok := r.Read(ber.TagOctetString)
		if !ok {
			return false
		}
		subs, ok := r.Read(ber.TagSequence)
		if !ok || !r.Empty() || len(subs) == 0 {
			return false
		}
		sr := ber.Reader(subs)
		for !sr.Empty() {
			t, _, ok := sr.ReadAny()
			if !ok || t < ber.ClassContext|0 || t > ber.ClassContext|2 {
				return false
			}
		}
		s.attr(a, false)
		return true
	case filterPresent:
		s.attr(c, false)
		return true
	case filterExtensible:
		if _, _, ok := r.ReadOptional(ber.ClassContext | 1); !ok {
			return false
		}
		a, present, ok := r.ReadOptional(ber.ClassContext | 2)
		if !ok {
			return false
		}
		if _, ok = r.Read(ber.ClassContext | 3); !ok {
			return false
		}
		if _, _, ok = r.ReadOptional(ber.ClassContext | 4); !ok || !r.Empty() {
			return false
		}
		if present {
			s.attr(a, false)
		}
		return true
	}
	return false
}
