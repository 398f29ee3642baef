// Package jsonenc appends JSON strings, numbers and times exactly as encoding/json writes
// them (with HTML escaping off), without reflection and without allocating. The NDJSON writer
// uses it for every string it writes, and the encoder of the protocol facts that factsgen
// generates calls it for their leaves.
package jsonenc

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Encoder is the state of one generated encoder: the first value it met that JSON cannot
// hold (NaN, ±Inf, a time whose year is outside 0–9999), which encoding/json refuses too.
type Encoder struct {
	Err error
}

// ErrUnsupported is the cause of every Encoder error.
var ErrUnsupported = errors.New("json: unsupported value")

func (e *Encoder) fail(field string, v any) {
	if e.Err == nil {
		e.Err = fmt.Errorf("%s: %w: %v", field, ErrUnsupported, v)
	}
}

// Float appends f as encoding/json writes a float of that many bits (32 or 64): the shortest
// decimal that reads back as f, in exponent form only below 1e-6 and from 1e21 on, the
// exponent without a leading zero. NaN and ±Inf fail, naming field.
func (e *Encoder) Float(b []byte, f float64, bits int, field string) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		e.fail(field, f)
		return append(b, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 → e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// Time appends t as time.Time's MarshalJSON writes it: RFC 3339 with the fraction of a
// second it has, in its own zone. A year outside 0–9999 (or a zone offset of a day or more)
// fails, naming field.
func (e *Encoder) Time(b []byte, t time.Time, field string) []byte {
	b = append(b, '"')
	out, err := t.AppendText(b)
	if err != nil {
		e.fail(field, err)
		return append(b, '"')
	}
	return append(out, '"')
}

// String appends s as a JSON string exactly as encoding/json writes it with HTML escaping
// off: `"` and `\` escaped, \b \f \n \r \t by name and the other control characters as
// \u00XX, each byte of invalid UTF-8 as \ufffd, U+2028 and U+2029 as \u2028 and \u2029 (they
// end a line in JavaScript), everything else (DEL and the rest of Unicode included) as it
// is. encoding/json does not export this, and jsontext's AppendQuote escapes differently.
func String(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if asIs[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// asIs holds the bytes a JSON string carries as they are: printable ASCII and DEL, but for
// the quote and the backslash.
var asIs = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
