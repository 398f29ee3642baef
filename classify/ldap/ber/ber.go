// Package ber reads the Basic Encoding Rules subset LDAP uses (RFC 4511 §5.1), in the style of
// golang.org/x/crypto/cryptobyte: a Reader is a byte slice that shrinks as elements are read,
// every read reports success, and every length taken from the wire is checked against the
// bytes that remain before it is used. Nothing here allocates.
//
// Supported: single-octet identifiers (tag numbers 0–30), definite lengths in short form or in
// long form with 1 to 4 length octets. Refused: high tag numbers, the indefinite form (0x80,
// which LDAP forbids) and longer length forms.
package ber

import "errors"

// Identifier octet bits.
const (
	ClassUniversal   = 0x00
	ClassApplication = 0x40
	ClassContext     = 0x80
	ClassPrivate     = 0xc0
	Constructed      = 0x20
)

// Universal tags LDAP uses.
const (
	TagBoolean     = 0x01
	TagInteger     = 0x02
	TagOctetString = 0x04
	TagNull        = 0x05
	TagEnumerated  = 0x0a
	TagSequence    = 0x30 // SEQUENCE / SEQUENCE OF, constructed
	TagSet         = 0x31 // SET / SET OF, constructed
)

// MaxLen bounds any length this package reports (1 GiB): a length above it is ErrLength.
const MaxLen = 1 << 30

// Errors of ParseHeader.
var (
	ErrShort      = errors.New("ber: truncated element")
	ErrIndefinite = errors.New("ber: indefinite length")
	ErrLength     = errors.New("ber: length too large")
	ErrTag        = errors.New("ber: unsupported tag")
)

// Header is an element's identifier and length.
type Header struct {
	Tag       byte // the identifier octet: class | constructed | number
	HeaderLen int  // identifier and length octets
	Len       int  // content octets
}

// Total is the size of the whole element.
func (h Header) Total() int { return h.HeaderLen + h.Len }

// ParseHeader reads the identifier and length octets at the start of b. It does not require
// the content to be present: ErrShort means b ends inside the header itself.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < 2 {
		return Header{}, ErrShort
	}
	tag := b[0]
	if tag&0x1f == 0x1f {
		return Header{}, ErrTag
	}
	l := b[1]
	if l < 0x80 {
		return Header{Tag: tag, HeaderLen: 2, Len: int(l)}, nil
	}
	n := int(l & 0x7f)
	switch {
	case n == 0:
		return Header{}, ErrIndefinite
	case n > 4:
		return Header{}, ErrLength
	case len(b) < 2+n:
		return Header{}, ErrShort
	}
	var v uint64
	for _, c := range b[2 : 2+n] {
		v = v<<8 | uint64(c)
	}
	if v > MaxLen {
		return Header{}, ErrLength
	}
	return Header{Tag: tag, HeaderLen: 2 + n, Len: int(v)}, nil
}

// Reader is BER content being read from its start.
type Reader []byte

// Empty reports whether every byte has been read.
func (r *Reader) Empty() bool { return len(*r) == 0 }

// PeekTag returns the identifier of the next element without reading it.
func (r *Reader) PeekTag() (byte, bool) {
	if len(*r) == 0 {
		return 0, false
	}
	return (*r)[0], true
}

// ReadAny reads the next element whatever its tag and returns its identifier and content.
// It fails, reading nothing, when the header is invalid or the content goes past the end.
func (r *Reader) ReadAny() (tag byte, content []byte, ok bool) {
	h, err := ParseHeader(*r)
	if err != nil || h.Len > len(*r)-h.HeaderLen {
		return 0, nil, false
	}
	content = (*r)[h.HeaderLen:h.Total():h.Total()]
	*r = (*r)[h.Total():]
	return h.Tag, content, true
}

// Read reads the next element, which must have identifier tag, and returns its content.
func (r *Reader) Read(tag byte) ([]byte, bool) {
	if len(*r) == 0 || (*r)[0] != tag {
		return nil, false
	}
	_, c, ok := r.ReadAny()
	return c, ok
}

// ReadOptional reads the next element if it has identifier tag. present says whether it was
// there; ok is false only when it was there and malformed.
func (r *Reader) ReadOptional(tag byte) (content []byte, present, ok bool) {
	if len(*r) == 0 || (*r)[0] != tag {
		return nil, false, true
	}
	c, ok := r.Read(tag)
	return c, true, ok
}

// ReadInt reads an element with identifier tag (INTEGER or ENUMERATED, or an implicit tag)
// holding a signed value of 1 to 4 octets.
func (r *Reader) ReadInt(tag byte) (int32, bool) {
	save := *r
	c, ok := r.Read(tag)
	if ok {
		var v int32
		if v, ok = Int(c); ok {
			return v, true
		}
	}
	*r = save
	return 0, false
}

// Int decodes the content of an INTEGER or ENUMERATED of 1 to 4 octets (two's complement).
func Int(c []byte) (int32, bool) {
	if len(c) == 0 || len(c) > 4 {
		return 0, false
	}
	v := int32(int8(c[0]))
	for _, b := range c[1:] {
		v = v<<8 | int32(b)
	}
	return v, true
}

// Elements reports whether c is a sequence of well-formed elements that fills it exactly,
// reading at most max elements (false beyond). It looks at one level only.
func Elements(c []byte, max int) bool {
	r := Reader(c)
	for n := 0; !r.Empty(); n++ {
		if n >= max {
			return false
		}
		if _, _, ok := r.ReadAny(); !ok {
			return false
		}
	}
	return true
}
