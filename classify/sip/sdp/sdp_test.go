package sdp

import (
	"strings"
	"testing"
)

type collect struct{ media []Media }

func (c *collect) Media(m *Media) { c.media = append(c.media, *m) }

const offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nk=clear:SECRET\r\n" +
	"a=fingerprint:SHA-256 AB:CD:EF\r\nt=0 0\r\n" +
	"m=audio 49170 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:SECRETKEY|2^20\r\n" +
	"m=video 51372/2 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 233.252.0.1/127\r\n" +
	"m=image 0 udptl t38"

// Every split of the body gives the same media descriptions; keys are never kept.
func TestSplits(t *testing.T) {
	for cut := 0; cut <= len(offer); cut++ {
		var c collect
		var p Parser
		p.Reset(&c)
		p.Write([]byte(offer[:cut]))
		p.Write([]byte(offer[cut:]))
		p.Close()
		if len(c.media) != 3 || !p.Valid || !p.SessionKey || p.MediaCount != 3 {
			t.Fatalf("cut %d: %d media valid %v key %v", cut, len(c.media), p.Valid, p.SessionKey)
		}
		a, v, i := c.media[0], c.media[1], c.media[2]
		if string(a.Type.Bytes()) != "audio" || a.Port != 49170 || string(a.Proto.Bytes()) != "RTP/SAVP" || a.Crypto != 1 ||
			string(a.Suites[0].Bytes()) != "AES_CM_128_HMAC_SHA1_32" || !a.Key || string(a.Fingerprint.Bytes()) != "SHA-256" ||
			string(a.Conn.Bytes()) != "192.0.2.1" {
			t.Fatalf("cut %d: audio %+v", cut, a)
		}
		if v.Port != 51372 || string(v.Conn.Bytes()) != "233.252.0.1" || v.Crypto != 0 || string(v.Proto.Bytes()) != "UDP/TLS/RTP/SAVPF" {
			t.Fatalf("cut %d: video %+v", cut, v)
		}
		if i.Port != 0 || string(i.Proto.Bytes()) != "udptl" {
			t.Fatalf("cut %d: image %+v", cut, i)
		}
		for _, m := range c.media {
			for _, txt := range []Text{m.Type, m.Proto, m.Conn, m.Fingerprint, m.Suites[0]} {
				if strings.Contains(string(txt.Bytes()), "SECRET") {
					t.Fatalf("a key was kept: %q", txt.Bytes())
				}
			}
		}
	}
}

// A huge line is recognised by its first bytes and skipped without being buffered.
func TestLongLine(t *testing.T) {
	var c collect
	var p Parser
	p.Reset(&c)
	p.Write([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\nk=base64:"))
	for i := 0; i < 1000; i++ {
		p.Write([]byte(strings.Repeat("A", 1000)))
	}
	p.Write([]byte("\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + strings.Repeat("B", 5000) + "\r\n"))
	p.Close()
	if len(c.media) != 1 || !c.media[0].Key || c.media[0].Crypto != 1 {
		t.Fatalf("%+v", c.media)
	}
}

func TestAllocations(t *testing.T) {
	var p Parser
	var h nop
	b := []byte(offer)
	if n := testing.AllocsPerRun(100, func() { p.Reset(h); p.Write(b); p.Close() }); n != 0 {
		t.Errorf("%.1f allocations", n)
	}
}

type nop struct{}

func (nop) Media(*Media) {}
