package sdp

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// captureBodies returns the SDP bodies of the SIP messages in the repository's SIP captures
// (testdata/real/sip-*.pcap): the bytes after the blank line of every UDP or TCP payload
// whose body starts with "v=".
func captureBodies(tb testing.TB) [][]byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(corpustest.Root(tb), "testdata", "real", "sip-*.pcap"))
	var out [][]byte
	for _, name := range files {
		_, err := corpustest.Flows(tb, name, func(_, _ netip.AddrPort, _ flow.Transport, _ bool) (struct{}, corpustest.Sink) {
			return struct{}{}, func(_ bool, _ uint64, _ time.Time, payload []byte) {
				i := bytes.Index(payload, []byte("\r\n\r\n"))
				if i >= 0 && bytes.HasPrefix(payload[i+4:], []byte("v=")) {
					out = append(out, append([]byte(nil), payload[i+4:]...))
				}
			}
		})
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
	}
	return out
}

// parseAll parses body written in pieces of at most step bytes (0: in one piece, with a cut
// at cut) and returns the media descriptions and the parser.
func parseAll(body []byte, step, cut int) ([]Media, *Parser) {
	var c collect
	p := &Parser{}
	p.Reset(&c)
	switch {
	case step > 0:
		for b := body; len(b) > 0; {
			n := min(step, len(b))
			p.Write(b[:n])
			b = b[n:]
		}
	default:
		p.Write(body[:cut])
		p.Write(body[cut:])
	}
	p.Close()
	return c.media, p
}

// FuzzParse feeds arbitrary bodies to the Parser, whole, cut in two, and byte by byte. It must
// not panic, must give the same result however the body is cut, and every value it reports
// must be a bounded copy of bytes of the body.
func FuzzParse(f *testing.F) {
	f.Add([]byte(offer), uint16(len(offer)/2))
	for _, b := range captureBodies(f) {
		f.Add(b, uint16(len(b)/3))
	}
	f.Add([]byte("v=0\nm=audio 65536 RTP/AVP 0\na=CRYPTO:\na=fingerprint:\nc=\nk\n"), uint16(7))
	f.Add([]byte("v=0\r\nm=audio 1/2 RTP/SAVP 0\r\na=crypto:1 X\r\na=crypto:2 Y\r\na=crypto:3 Z\r\na=crypto:4 W\r\na=crypto:5 V\r\n"), uint16(30))
	f.Fuzz(func(t *testing.T, body []byte, cut uint16) {
		k := min(int(cut), len(body))
		whole, p := parseAll(body, 0, len(body))
		split, q := parseAll(body, 0, k)
		bytewise, r := parseAll(body, 1, 0)
		for _, other := range []struct {
			how   string
			media []Media
			p     *Parser
		}{{"cut in two", split, q}, {"byte by byte", bytewise, r}} {
			if len(other.media) != len(whole) {
				t.Fatalf("%s: %d media, whole: %d", other.how, len(other.media), len(whole))
			}
			for i := range whole {
				if other.media[i] != whole[i] {
					t.Fatalf("%s: media %d = %+v, whole: %+v", other.how, i, other.media[i], whole[i])
				}
			}
			if other.p.Lines != p.Lines || other.p.MediaCount != p.MediaCount || other.p.Valid != p.Valid ||
				other.p.SessionCrypto != p.SessionCrypto || other.p.SessionKey != p.SessionKey {
				t.Fatalf("%s: counters %d %d %v %d %v, whole: %d %d %v %d %v", other.how,
					other.p.Lines, other.p.MediaCount, other.p.Valid, other.p.SessionCrypto, other.p.SessionKey,
					p.Lines, p.MediaCount, p.Valid, p.SessionCrypto, p.SessionKey)
			}
		}
		if int(p.MediaCount) != len(whole) || p.MediaCount > p.Lines || int(p.Lines) > bytes.Count(body, []byte("\n"))+1 {
			t.Fatalf("%d media reported, %d counted, %d lines", len(whole), p.MediaCount, p.Lines)
		}
		if p.Valid != (p.Lines > 0 && firstLineIsVersion(body)) {
			t.Fatalf("valid %v for a body starting %q", p.Valid, body[:min(len(body), 16)])
		}
		for i := range whole {
			m := &whole[i]
			if m.NSuites < 0 || m.NSuites > MaxSuites || uint32(m.NSuites) > m.Crypto {
				t.Fatalf("media %d: %d suites of %d crypto lines", i, m.NSuites, m.Crypto)
			}
			texts := []Text{m.Type, m.Proto, m.Conn, m.Fingerprint}
			texts = append(texts, m.Suites[:m.NSuites]...)
			for _, txt := range texts {
				if txt.Len() > TextLen || !bytes.Contains(body, txt.Bytes()) {
					t.Fatalf("media %d: value %q is not a bounded copy of the body", i, txt.Bytes())
				}
			}
		}
	})
}

// firstLineIsVersion reports whether the first non-empty line of body starts with "v=".
func firstLineIsVersion(body []byte) bool {
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\n')
		line := body
		if i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 {
			return len(line) >= 2 && line[0] == 'v' && line[1] == '='
		}
	}
	return false
}

// BenchmarkParse parses a typical offer: the SRTP (SDES) offer of the repository's SIP capture
// when present, else the three-stream offer of the tests.
func BenchmarkParse(b *testing.B) {
	body := []byte(offer)
	for _, bs := range captureBodies(b) {
		if bytes.Contains(bs, []byte("a=crypto:")) {
			body = bs
			break
		}
	}
	var p Parser
	var h nop
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p.Reset(h)
		p.Write(body)
		p.Close()
	}
	if p.MediaCount == 0 {
		b.Fatal("no media description parsed")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bodies/s")
}
