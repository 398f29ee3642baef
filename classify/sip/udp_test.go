package sip

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// frameDatagram is the two-pass definition headersUDP implements in one pass: the end of
// the header block of a datagram message (the first blank line, else the end of the
// datagram) and its first Content-Length, found line by line before the fields are read.
func frameDatagram(b []byte, start int) (end int, cl int64, bad bool) {
	cl = -1
	for pos := start; ; {
		rest := b[pos:]
		lf := bytes.IndexByte(rest, '\n')
		line, next := rest, len(b)
		if lf >= 0 {
			line, next = rest[:lf], pos+lf+1
		}
		line = trimCR(line)
		if len(line) == 0 {
			return next, cl, bad
		}
		if c := lower(line[0]); (c == 'c' || c == 'l') && cl < 0 {
			name, val, ok := cut(line, ':')
			if name = trimWS(name); ok && (eqFold(name, "content-length") || eqFold(name, "l")) {
				cl, bad = parseLength(trimWS(val))
			}
		}
		if lf < 0 {
			return len(b), cl, bad
		}
		pos = next
	}
}

// readDatagram reads message b (a valid start line) on a fresh claimed UDP flow, in one pass
// or, when twoPass, framing it first and then reading the fields of the block (headers).
func readDatagram(t *testing.T, b []byte, twoPass bool) (end int, cl int64, bad bool, facts string, perr string, nerr uint32) {
	sl, err := parseStart(b, false)
	if err != nil {
		t.Fatalf("start line of %q: %v", b, err)
	}
	f := flow.New()
	f.Transport = flow.UDP
	f.SIP = flow.NewSIPFacts()
	st := &state{f: f}
	var ss factStrings
	st.begin(&sl, &ss)
	if twoPass {
		end, cl, bad = frameDatagram(b, sl.end)
		st.headers(b[sl.end:end], &ss)
	} else {
		end, cl, bad = st.headersUDP(b, sl.end, &ss)
	}
	ss.make()
	st.failHeaders()
	j, err := json.Marshal(f.SIP)
	if err != nil {
		t.Fatal(err)
	}
	return end, cl, bad, string(j), f.ParseError.String(), f.ParseErrors
}

// The datagram path reads the header block once; it must find the same end, Content-Length
// and facts, and count the same errors, as framing and reading it apart: on the fixtures and
// on thousands of variants with line breaks, blanks, colons, quotes and folds put anywhere.
func TestDatagramOnePassAsTwo(t *testing.T) {
	base := [][]byte{register1, challenge401, registerDigest, ok200Register, inviteAVP, inviteSAVP, inviteCompact,
		optionsScanner, options1, basicAuth, optionsReal, okReal,
		crlf("OPTIONS sip:a@b SIP/2.0\nl: 12x\nContent-Length: 3\nv: SIP/2.0/UDP h\n x\nFrom: <sip:c@d>\n\nabc"),
		crlf("OPTIONS sip:a@b SIP/2.0\nno colon here\nContent-Length:\n 5\nTo: <sip:e@f>"),
		[]byte("SIP/2.0 200 OK\r\nCall-ID: x\r\n\r"),
	}
	inserts := []string{"\r\n", "\n", "\r\n\r\n", " ", "\t", ":", "\"", "\r\n ", ",", ";", "<", ">", "\x00", "l: 7\r\n", "Content-Length: 0\r\n", "\r"}
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(b []byte) {
		t.Helper()
		e1, c1, b1, f1, p1, n1 := readDatagram(t, b, false)
		e2, c2, b2, f2, p2, n2 := readDatagram(t, b, true)
		if e1 != e2 || c1 != c2 || b1 != b2 || f1 != f2 || p1 != p2 || n1 != n2 {
			t.Fatalf("%q:\none pass  end %d cl %d bad %v errors %d %q\n%s\ntwo passes end %d cl %d bad %v errors %d %q\n%s",
				b, e1, c1, b1, n1, p1, f1, e2, c2, b2, n2, p2, f2)
		}
	}
	variants := 0
	for _, m := range base {
		check(m)
		sl, _ := parseStart(m, false)
		for i := 0; i < 300; i++ {
			v := append([]byte(nil), m...)
			for k := rng.IntN(4); k >= 0; k-- {
				at := sl.end + rng.IntN(len(v)-sl.end+1)
				ins := inserts[rng.IntN(len(inserts))]
				v = append(v[:at], append([]byte(ins), v[at:]...)...)
			}
			if rng.IntN(4) == 0 { // cut short, as a truncated datagram
				v = v[:sl.end+rng.IntN(len(v)-sl.end+1)]
			}
			check(v)
			variants++
		}
	}
	// More fields than are read: the rest still frames the block.
	many := append([]byte(nil), "OPTIONS sip:a@b SIP/2.0\r\n"...)
	for i := 0; i < maxHeaders+5; i++ {
		many = append(many, "X: y\r\n"...)
	}
	check(append(many, "l: 4\r\nv: SIP/2.0/TCP h\r\n\r\nbody"...))
	t.Logf("%d variants", variants)
}

// A datagram's errors are counted in the order they were before the block was read in one
// pass: its framing (an unreadable Content-Length, a body shorter than it says), then its
// fields; the flow's parse_error is the first.
func TestDatagramErrorOrder(t *testing.T) {
	for _, c := range []struct {
		msg   string
		first error
		n     uint32
	}{
		{"OPTIONS sip:a@b SIP/2.0\nno colon\nContent-Length: x\n\n", ErrBadContentLength, 2},
		{"OPTIONS sip:a@b SIP/2.0\nno colon\nContent-Length: 10\n\nabc", ErrTruncated, 2},
		{"OPTIONS sip:a@b SIP/2.0\nno colon\nContent-Length: 3\n\nabc", ErrMalformedHeader, 1},
	} {
		s := newSession(t, flow.UDP, 5060)
		s.Client(options1, crlf(c.msg))
		if s.F.ParseError.String() != c.first.Error() || s.F.ParseErrors != c.n {
			t.Errorf("%q: parse errors %d, first %q; want %d, first %q", c.msg, s.F.ParseErrors, s.F.ParseError, c.n, c.first)
		}
	}
}
