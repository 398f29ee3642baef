package sip

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
	"github.com/pcapaudit/pcapaudit/internal/racedetect"
)

func TestRegisterDigestUDP(t *testing.T) {
	s := newSession(t, flow.UDP, 5060)
	s.Client(register1)
	s.Server(challenge401)
	s.Client(registerDigest)
	if v := s.Server(ok200Register); v != flow.More {
		t.Fatalf("verdict %v, want More (SIP flows keep counting)", v)
	}
	f := s.facts()
	if f.Messages != 4 || f.Requests != 2 || f.Responses != 2 || f.Methods.Register != 2 {
		t.Errorf("counts: %+v", f)
	}
	if f.Status.ClientError != 1 || f.Status.Success != 1 || !slices.Equal(f.Codes, []flow.SIPCode{{Code: 401, Count: 1}, {Code: 200, Count: 1}}) {
		t.Errorf("status: %+v %+v", f.Status, f.Codes)
	}
	if f.Method != "REGISTER" || f.RequestURI != "sip:example.com" || f.From != "sip:alice@example.com" || f.To != "sip:alice@example.com" {
		t.Errorf("first request: %q %q from %q to %q", f.Method, f.RequestURI, f.From, f.To)
	}
	if f.CallID != "a84b4c76e66710@pc33.example.com" || f.CSeq != "1 REGISTER" || f.CallIDs != 1 || f.Contact != "sip:alice@192.0.2.10:5060" {
		t.Errorf("call-id %q cseq %q call_ids %d contact %q", f.CallID, f.CSeq, f.CallIDs, f.Contact)
	}
	if !slices.Equal(f.ViaTransports, []string{"UDP"}) || f.ViaReceived != "198.51.100.7" {
		t.Errorf("via: %v %q", f.ViaTransports, f.ViaReceived)
	}
	if f.UserAgent != "Linphone/5.2.0 (belle-sip/5.2.0)" || f.Server != "Kamailio (5.6.4 (x86_64/linux))" || f.Scanner {
		t.Errorf("user agent %q server %q scanner %v", f.UserAgent, f.Server, f.Scanner)
	}
	if !f.Auth.Digest || !f.Auth.DigestResponse || f.Auth.Basic || !f.Auth.Challenged || f.Auth.First.Frame != 3 {
		t.Errorf("auth: %+v", f.Auth)
	}
	want := flow.SIPCredential{Event: flow.Event{Frame: 3, Time: flow.TimeOf(t0.Add(3e6))}, Header: "authorization", Method: "REGISTER",
		Scheme: "Digest", Username: "alice", Realm: "example.com", Algorithm: "MD5", QOP: "auth", URI: "sip:example.com",
		Response: true, ResponseLen: 32}
	if f.CredentialCount != 1 || len(f.Credentials) != 1 || !reflect.DeepEqual(f.Credentials[0], want) {
		t.Errorf("credentials: %d %+v", f.CredentialCount, f.Credentials)
	}
	if f.ChallengeCount != 2 || len(f.Challenges) != 2 {
		t.Fatalf("challenges: %+v", f.Challenges)
	}
	c := f.Challenges[0]
	if c.Header != "www-authenticate" || c.Code != 401 || c.Scheme != "Digest" || c.Realm != "example.com" || c.Algorithm != "SHA-256" || c.QOP != "auth" || c.Stale || c.Frame != 2 {
		t.Errorf("challenge: %+v", c)
	}
	if f.Challenges[1].Algorithm != "MD5" {
		t.Errorf("second challenge: %+v", f.Challenges[1])
	}
	if f.TLSPort || s.F.ParseErrors != 0 {
		t.Errorf("tls port %v, parse errors %d (%s)", f.TLSPort, s.F.ParseErrors, s.F.ParseError)
	}
}

// A capture that starts with the server's response: the flow is turned around.
func TestResponseFirstReverses(t *testing.T) {
	s := newSession(t, flow.UDP, 40000)
	s.Client(challenge401) // the engine took the registrar for the client
	f := s.facts()
	if !s.Swapped || f.Responses != 1 || f.Method != "" || !f.Auth.Challenged {
		t.Errorf("swapped %v facts %+v", s.Swapped, f)
	}
}

func TestInviteUnencryptedMedia(t *testing.T) {
	s := newSession(t, flow.TCP, 5060)
	s.Client(inviteAVP)
	f := s.facts()
	if f.SDPBodies != 1 || f.MediaCount != 2 || len(f.Media) != 2 {
		t.Fatalf("sdp: %d bodies %d media %+v", f.SDPBodies, f.MediaCount, f.Media)
	}
	m := f.Media[0]
	if m.Type != "audio" || m.Port != 49172 || m.Proto != "RTP/AVP" || m.Connection != "192.0.2.101" || m.Crypto != 0 || m.Secure || !m.Unencrypted || m.Response {
		t.Errorf("audio: %+v", m)
	}
	if v := f.Media[1]; v.Type != "video" || v.Port != 0 || v.Unencrypted {
		t.Errorf("disabled video stream: %+v", v)
	}
	if !f.UnencryptedMedia || f.UnencryptedMediaAt.Frame != 1 || f.SDESKeys || f.SRTP || !slices.Equal(f.ViaTransports, []string{"TCP"}) {
		t.Errorf("summary: %+v", f)
	}
	if f.Contact != "sip:alice@client.atlanta.example.com;transport=tcp" {
		t.Errorf("contact %q", f.Contact)
	}
}

func TestInviteSDES(t *testing.T) {
	s := newSession(t, flow.UDP, 5060)
	s.Client(inviteSAVP)
	f := s.facts()
	if len(f.Media) != 1 {
		t.Fatalf("media %+v", f.Media)
	}
	m := f.Media[0]
	if m.Proto != "RTP/SAVP" || !m.Secure || m.Unencrypted || m.Crypto != 2 || !slices.Equal(m.Suites, []string{"AES_CM_128_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_80"}) {
		t.Errorf("media %+v", m)
	}
	if !f.SDESKeys || f.SDESKeysAt.Frame != 1 || f.UnencryptedMedia || !f.SRTP || f.DTLSSRTP || len(f.CryptoSuites) != 2 {
		t.Errorf("summary %+v", f)
	}
	noSecret(t, f, "SECRETKEY", "inline:")
}

func TestCompactForm(t *testing.T) {
	s := newSession(t, flow.UDP, 5060)
	s.Client(inviteCompact)
	f := s.facts()
	if f.Methods.Invite != 1 || f.From != "sip:alice:***@atlanta.example.com" || f.To != "sip:bob@biloxi.example.com" ||
		f.CallID != "987asjd97y7atg@pc33.atlanta.example.com" || f.Contact != "sip:alice@pc33.atlanta.example.com" ||
		!slices.Equal(f.ViaTransports, []string{"UDP"}) || f.SDPBodies != 1 || !f.UnencryptedMedia {
		t.Errorf("facts %+v", f)
	}
	if f.RequestURI != "sip:bob:***@biloxi.example.com" {
		t.Errorf("request uri %q", f.RequestURI)
	}
	noSecret(t, f, "SECRETPASS", "hunter2pw")
}

func TestScanner(t *testing.T) {
	s := newSession(t, flow.UDP, 5060)
	s.Client(optionsScanner)
	f := s.facts()
	if !f.Scanner || f.ScannerName != "friendly-scanner" || f.UserAgent != "friendly-scanner" || f.Methods.Options != 1 {
		t.Errorf("facts %+v", f)
	}
	for _, ua := range []string{"sipsak 0.9.8.1", "Asterisk PBX 18.0", "smapper phone"} {
		if n := scannerName([]byte(ua)); n != "" && ua != "smapper phone" {
			t.Errorf("%q taken for scanner %q", ua, n)
		}
	}
	for ua, want := range map[string]string{"smap 0.6.0": "smap", "SIPVicious/0.3": "sipvicious", "VaxSIPUserAgent/3.1": "VaxSIPUserAgent", "sipcli/v1.8": "sipcli"} {
		if n := scannerName([]byte(ua)); n != want {
			t.Errorf("%q: scanner %q, want %q", ua, n, want)
		}
	}
}

func TestBasicCredentials(t *testing.T) {
	s := newSession(t, flow.TCP, 5060)
	s.Client(basicAuth)
	f := s.facts()
	if !f.Auth.Basic || f.Auth.Digest || len(f.Credentials) != 1 {
		t.Fatalf("auth %+v", f.Auth)
	}
	c := f.Credentials[0]
	if c.Scheme != "Basic" || c.Header != "proxy-authorization" || c.TokenLen != len(basicSecret) || c.Method != "MESSAGE" || f.Methods.Message != 1 {
		t.Errorf("credential %+v", c)
	}
	noSecret(t, f, basicSecret, "SECRETPASSWORD")
}

// Secrets never reach the facts or the output.
func TestNoSecretsInFacts(t *testing.T) {
	s := newSession(t, flow.UDP, 5060)
	s.Client(register1)
	s.Server(challenge401)
	s.Client(registerDigest)
	s.Client(inviteSAVP)
	s.Client(inviteCompact)
	noSecret(t, s.facts(), digestResponse, "SECRETNONCE", "SECRETCNONCE", "SECRETOPAQUE", "SECRETKEY", "SECRETPASS", "hunter2pw")
	j, _ := json.Marshal(s.facts())
	if !bytes.Contains(j, []byte(`"digest_response":true`)) || !bytes.Contains(j, []byte(`"response_len":32`)) {
		t.Errorf("the presence of the secrets is lost: %s", j)
	}
}

func noSecret(t *testing.T, f *flow.SIPFacts, secrets ...string) {
	t.Helper()
	detectortest.NoSecrets(t, f, secrets...)
}

func TestTCPTwoMessagesInOneSegment(t *testing.T) {
	s := newSession(t, flow.TCP, 5060)
	s.Hard = true
	s.Client(append(append([]byte("\r\n\r\n"), options1...), options2...))
	f := s.facts()
	if f.Messages != 2 || f.Methods.Options != 2 || f.CallIDs != 2 || f.Keepalives != 1 || len(s.Pend[0]) != 0 {
		t.Errorf("messages %d options %d call ids %d keepalives %d pending %d", f.Messages, f.Methods.Options, f.CallIDs, f.Keepalives, len(s.Pend[0]))
	}
}

func TestTCPMessageAcrossSegments(t *testing.T) {
	s := newSession(t, flow.TCP, 5060)
	s.Hard = true
	a, b, c := inviteAVP[:5], inviteAVP[5:200], inviteAVP[200:]
	if v := s.Client(a); v != flow.More || s.F.Label != flow.Unknown {
		t.Fatalf("after %q: verdict %v label %v", a, v, s.F.Label)
	}
	if v := s.Client(b); v != flow.More || s.F.SIP != nil && s.F.SIP.Messages != 0 {
		t.Fatalf("message counted before it was complete: %v %+v", v, s.F.SIP)
	}
	s.Client(c)
	f := s.facts()
	if f.Messages != 1 || f.MediaCount != 2 || len(s.Pend[0]) != 0 {
		t.Errorf("messages %d media %d pending %d", f.Messages, f.MediaCount, len(s.Pend[0]))
	}
	if s.F.ProtoFrame != 3 {
		t.Errorf("claimed at frame %d, want 3 (the header block completed there)", s.F.ProtoFrame)
	}
}

// The body arrives after the headers, itself split.
func TestTCPBodySplit(t *testing.T) {
	s := newSession(t, flow.TCP, 5060)
	hdr := bytes.Index(inviteAVP, []byte("\r\n\r\n")) + 4
	s.Client(inviteAVP[:hdr], inviteAVP[hdr:hdr+30], inviteAVP[hdr+30:], options2)
	f := s.facts()
	if f.Messages != 2 || f.SDPBodies != 1 || f.MediaCount != 2 || !f.UnencryptedMedia {
		t.Errorf("facts %+v", f)
	}
}

// A body larger than the whole-message limit is read piecewise, never buffered.
func TestTCPLargeBody(t *testing.T) {
	var body strings.Builder
	body.WriteString("v=0\nc=IN IP4 192.0.2.7\nk=clear:")
	body.WriteString(strings.Repeat("X", 40000))
	body.WriteString("\nm=audio 4000 RTP/AVP 0\n")
	msg := withBody(inviteAVPHead, body.String())
	s := newSession(t, flow.TCP, 5060)
	for i := 0; i < len(msg); i += 1400 {
		s.Client(msg[i:min(i+1400, len(msg))])
		if len(s.Pend[0]) > maxWhole {
			t.Fatalf("%d bytes kept pending", len(s.Pend[0]))
		}
	}
	s.Client(options2)
	f := s.facts()
	if f.Messages != 2 || f.LargeBodies != 1 || f.SDPBodies != 1 || !f.SDESKeys || len(f.Media) != 1 || !f.Media[0].Key || f.Media[0].Connection != "192.0.2.7" {
		t.Errorf("facts %+v", f)
	}
}

func TestMultipartSDP(t *testing.T) {
	body := "--unique-boundary-1\nContent-Type: application/sdp\n\n" + sdpSAVP +
		"\n--unique-boundary-1\nContent-Type: application/isup;version=itu-t92+\n\nxyz\n--unique-boundary-1--\n"
	msg := withBody(strings.Replace(inviteUDPHead, "application/sdp", `multipart/mixed;boundary="unique-boundary-1"`, 1), body)
	s := newSession(t, flow.UDP, 5060)
	s.Client(msg)
	f := s.facts()
	if f.SDPBodies != 1 || len(f.Media) != 1 || f.Media[0].Crypto != 2 || !f.SDESKeys {
		t.Errorf("facts %+v", f)
	}
}

func TestRejects(t *testing.T) {
	for name, data := range map[string][]byte{
		"http get": httpGet, "http response": httpResponse, "rtsp options": rtspOptions, "rtsp response": rtspResponse,
		"dns": dnsQuery, "random": random, "sip/3.0": sipWrongVersion, "lower-case method": sipLowerMethod,
		"nul only": make([]byte, 200), "tel without version": crlf("INVITE tel:+123 HTTP/1.1\n\n"),
	} {
		for _, tr := range []flow.Transport{flow.UDP, flow.TCP} {
			s := newSession(t, tr, 5060)
			s.Hard = true
			v := s.Client(data)
			if s.F.Label != flow.Unknown || tr == flow.UDP && v != flow.Reject {
				t.Errorf("%s over %v: verdict %v label %v", name, tr, v, s.F.Label)
			}
			if tr == flow.TCP && v == flow.More && len(data) > 16 && name != "nul only" {
				t.Errorf("%s over TCP: More on a full line", name)
			}
		}
	}
}

// HTTP from source port 5060 must not become SIP (ndpi/http_on_sip_port.pcap).
func TestHTTPOnSIPPort(t *testing.T) {
	s := newSession(t, flow.TCP, 8888)
	s.F.Client = netip.AddrPortFrom(s.F.Client.Addr(), 5060)
	if v := s.Client(httpGet); v != flow.Reject || s.F.Label != flow.Unknown {
		t.Errorf("verdict %v label %v", v, s.F.Label)
	}
}

func TestJunkBeforeRequest(t *testing.T) {
	s := newSession(t, flow.UDP, 5060)
	s.Client([]byte{0, 0, 0, 0})
	if s.F.Label != flow.Unknown {
		t.Fatal("NULs claimed")
	}
	// A start line without the headers every SIP message carries: SIP, but not certain.
	bare := newSession(t, flow.UDP, 5060)
	bare.Client(append([]byte{0, 0, '\r', '\n'}, crlf("REGISTER sip:1.1.1.1:5060 SIP/2.0\nExpires: 3600\n\n")...))
	if bare.F.Label != flow.SIP || bare.F.Certain {
		t.Fatalf("a start line without Via, From, To, Call-ID and CSeq: label %v, certain %v; want sip, not certain", bare.F.Label, bare.F.Certain)
	}
	s.Client(append([]byte{0, 0, '\r', '\n'}, crlf("REGISTER sip:1.1.1.1:5060 SIP/2.0\nv: SIP/2.0/UDP 1.1.1.1:31000\nf: <sip:1@1.1.1.1>\nt: <sip:1@1.1.1.1>\ni: 1\nCSeq: 1 REGISTER\nExpires: 3600\n\n")...))
	f := s.facts()
	if f.Methods.Register != 1 || f.RequestURI != "sip:1.1.1.1:5060" {
		t.Errorf("facts %+v", f)
	}
	// After the claim, keep-alives and STUN are counted, not failed.
	stunBinding := []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	s.Client([]byte("\r\n\r\n"), stunBinding, []byte{0, 0, 0, 0})
	if f.Keepalives != 4 || s.F.ParseErrors != 0 {
		t.Errorf("keepalives %d parse errors %d", f.Keepalives, s.F.ParseErrors)
	}
}

func TestTLSPort(t *testing.T) {
	s := newSession(t, flow.TCP, 5061)
	s.Client(options1)
	if !s.facts().TLSPort {
		t.Error("cleartext SIP on 5061 not marked")
	}
}

func TestHostile(t *testing.T) {
	t.Run("10000 headers", func(t *testing.T) {
		many := func(n int) []byte {
			var b strings.Builder
			b.WriteString(hostileStart)
			for i := 0; i < n; i++ {
				b.WriteString("X: y\r\n")
			}
			b.WriteString("Content-Length: 0\r\n\r\n")
			return []byte(b.String())
		}
		// A datagram is complete: its first 256 fields are read, the excess is an error.
		s := newSession(t, flow.UDP, 5060)
		s.Client(many(10000), options2)
		if f := s.facts(); s.F.ParseError.String() != ErrTooManyHeaders.Error() || s.F.ParseErrors != 1 || f.Messages != 2 {
			t.Errorf("udp: parse errors %d (%s) messages %d", s.F.ParseErrors, s.F.ParseError, f.Messages)
		}
		// Over TCP a header block over 32 KiB is not buffered: inspection stops.
		s = newSession(t, flow.TCP, 5060)
		if v := s.Client(many(10000)); v != flow.Reject || s.F.ParseError.String() != ErrHeaderTooLarge.Error() || s.F.Label != flow.SIP {
			t.Errorf("tcp: verdict %v error %q", v, s.F.ParseError)
		}
		// 1,000 fields fit in the block: the excess over 256 is counted and the stream goes on.
		s = newSession(t, flow.TCP, 5060)
		s.Client(many(1000), options2)
		if f := s.facts(); s.F.ParseError.String() != ErrTooManyHeaders.Error() || f.Messages != 2 {
			t.Errorf("tcp: parse errors %d (%s) messages %d", s.F.ParseErrors, s.F.ParseError, f.Messages)
		}
	})
	t.Run("4 GiB Content-Length", func(t *testing.T) {
		s := newSession(t, flow.TCP, 5060)
		msg := crlf("INVITE sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h\nFrom: <sip:a@b>\nTo: <sip:a@b>\nCall-ID: 1\nCSeq: 1 INVITE\nContent-Type: application/sdp\nContent-Length: 4294967296\n\nv=0\n")
		v := s.Client(msg)
		if v != flow.Reject || s.F.ParseError.String() != ErrBodyTooLarge.Error() || s.facts().Messages != 1 || len(s.Pend[0]) != 0 {
			t.Errorf("verdict %v error %q", v, s.F.ParseError)
		}
	})
	t.Run("1 MB header line", func(t *testing.T) {
		// Before the claim: the first header block must end within 32 KiB to be read.
		s := newSession(t, flow.TCP, 5060)
		s.Hard = true
		s.Client([]byte("OPTIONS sip:a@b SIP/2.0\r\nX-Long: "))
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		for i := 0; i < 16 && !s.Stopped; i++ {
			s.Client(chunk)
		}
		if !s.Stopped || s.F.Label != flow.Unknown {
			t.Errorf("before the claim: stopped %v label %v", s.Stopped, s.F.Label)
		}
		// After the claim: a message whose header block grows past 32 KiB stops inspection.
		s = newSession(t, flow.TCP, 5060)
		s.Client(options1)
		s.Client([]byte(hostileStart + "X-Long: "))
		chunk = bytes.Repeat([]byte("A"), 64<<10)
		for i := 0; i < 16 && !s.Stopped; i++ {
			s.Client(chunk)
			if len(s.Pend[0]) > maxHeaderBlock+len(chunk) {
				t.Fatalf("%d bytes pending", len(s.Pend[0]))
			}
		}
		if !s.Stopped || s.F.ParseError.String() != ErrHeaderTooLarge.Error() {
			t.Errorf("stopped %v error %q", s.Stopped, s.F.ParseError)
		}
	})
	t.Run("NULs inside", func(t *testing.T) {
		s := newSession(t, flow.UDP, 5060)
		s.Client(crlf("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP \x00\x00;received=\x00x\nUser-Agent: \x00\x00\nf: <sip:a@b>\nt: <sip:a@b>\ni: \x00\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"))
		if f := s.facts(); f.Messages != 1 {
			t.Errorf("facts %+v", f)
		}
		s.Client(make([]byte, 1000))      // a datagram of NULs after the claim: padding
		s.Client(bytes.Repeat(random, 4)) // garbage: counted, the next datagram is still read
		s.Client(options2)
		if f := s.facts(); s.F.ParseErrors != 1 || f.Keepalives != 1 || f.Messages != 2 || s.Client(random) != flow.More || f.Keepalives != 2 {
			t.Errorf("parse errors %d keepalives %d messages %d", s.F.ParseErrors, f.Keepalives, f.Messages)
		}
	})
	t.Run("garbage on a TCP stream", func(t *testing.T) {
		s := newSession(t, flow.TCP, 5060)
		s.Client(options1)
		if v := s.Client(random); v != flow.Reject || s.F.ParseErrors != 1 || s.F.Label != flow.SIP {
			t.Errorf("verdict %v errors %d label %v", v, s.F.ParseErrors, s.F.Label)
		}
	})
}

// Every prefix of a valid message: no panic, no wrong claim; over TCP a prefix is "not yet".
func TestTruncation(t *testing.T) {
	for name, msg := range map[string][]byte{"register": registerDigest, "401": challenge401, "invite": inviteSAVP, "compact": inviteCompact} {
		for i := 0; i < len(msg); i++ {
			for _, tr := range []flow.Transport{flow.UDP, flow.TCP} {
				f := flow.New()
				f.Transport = tr
				v, _ := New().Inspect(f, flow.FromClient, msg[:i])
				line := bytes.IndexByte(msg, '\n')
				end := bytes.Index(msg, []byte("\r\n\r\n")) + 3
				switch {
				case i <= line && f.Label != flow.Unknown:
					t.Fatalf("%s[:%d] over %v claimed before the start line ended", name, i, tr)
				case tr == flow.TCP && f.Label == flow.Unknown && v != flow.More:
					t.Fatalf("%s[:%d] over TCP: %v, want More", name, i, v)
				case i > line && tr == flow.UDP && (f.Label != flow.SIP || f.Certain != hasMandatory(msg[:i])):
					t.Fatalf("%s[:%d] over UDP: label %v, certain %v, with the mandatory headers %v", name, i, f.Label, f.Certain, hasMandatory(msg[:i]))
				case i > end && f.Label != flow.SIP:
					t.Fatalf("%s[:%d] over %v: not claimed after a complete header block", name, i, tr)
				}
			}
		}
	}
}

func TestRejectAllocations(t *testing.T) {
	d := New()
	for name, data := range map[string][]byte{"http": httpGet, "rtsp": rtspOptions, "dns": dnsQuery, "random": random} {
		for _, tr := range []flow.Transport{flow.UDP, flow.TCP} {
			f := flow.New()
			f.Transport = tr
			var v flow.Verdict
			if n := testing.AllocsPerRun(100, func() { v, _ = d.Inspect(f, flow.FromClient, data) }); n != 0 || v != flow.Reject {
				t.Errorf("%s over %v: %v, %.1f allocations", name, tr, v, n)
			}
		}
	}
}

// After the claim, steady-state messages allocate nothing once the bounded lists are full.
func TestSteadyStateAllocations(t *testing.T) {
	if racedetect.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	s := newSession(t, flow.UDP, 5060)
	s.Client(register1, challenge401, registerDigest, ok200Register)
	for i := 0; i < maxCreds; i++ {
		s.Client(registerDigest)
		s.Client(inviteSAVP)
	}
	for i := 0; i < maxMedia; i++ {
		s.Client(inviteSAVP)
	}
	f := s.F
	msgs := [][]byte{register1, challenge401, registerDigest, inviteSAVP, optionsScanner}
	n := testing.AllocsPerRun(50, func() {
		for _, m := range msgs {
			s.D.Inspect(f, flow.FromClient, m)
		}
	})
	if n != 0 {
		t.Errorf("%.1f allocations per round of steady-state messages", n)
	}
}

// json and expr names agree on every fact.
func TestFactTags(t *testing.T) {
	var check func(reflect.Type)
	seen := map[reflect.Type]bool{}
	check = func(typ reflect.Type) {
		for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ.PkgPath() != reflect.TypeFor[flow.SIPFacts]().PkgPath() {
			return
		}
		seen[typ] = true
		for i := 0; i < typ.NumField(); i++ {
			fd := typ.Field(i)
			if fd.Anonymous {
				continue
			}
			j, _, _ := strings.Cut(fd.Tag.Get("json"), ",")
			if j == "" || j != fd.Tag.Get("expr") {
				t.Errorf("%s.%s: json %q expr %q", typ.Name(), fd.Name, j, fd.Tag.Get("expr"))
			}
			check(fd.Type)
		}
	}
	check(reflect.TypeFor[flow.SIPFacts]())
}

// A partial message in one direction does not mix with the other direction's messages.
func TestDirectionsFramedApart(t *testing.T) {
	s := newSession(t, flow.TCP, 5060)
	hdr := bytes.Index(inviteAVP, []byte("\r\n\r\n")) + 4
	s.Client(inviteAVP[:hdr+10])
	s.Server(crlf("SIP/2.0 100 Trying\nContent-Length: 0\n\n"))
	s.Client(inviteAVP[hdr+10:])
	f := s.facts()
	if f.Messages != 2 || f.Status.Provisional != 1 || f.MediaCount != 2 || s.F.ParseErrors != 0 || f.Media[0].Response {
		t.Errorf("messages %d media %d errors %d (%s)", f.Messages, f.MediaCount, s.F.ParseErrors, s.F.ParseError)
	}
}

// hostileStart is a request line and the mandatory headers, for hostile messages to go on from.
const hostileStart = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n"

// hasMandatory reports whether the complete lines of msg hold Via, From, To, Call-ID and
// CSeq, long or compact: what a datagram needs, besides its start line, to be SIP.
func hasMandatory(msg []byte) bool {
	seen := map[string]bool{}
	lines := strings.Split(string(msg), "\n")
	for _, l := range lines[1:] {
		name, _, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			seen["via"] = true
		case "from", "f":
			seen["from"] = true
		case "to", "t":
			seen["to"] = true
		case "call-id", "i":
			seen["call-id"] = true
		case "cseq":
			seen["cseq"] = true
		}
	}
	return len(seen) == 5
}

// The string facts a message sets are its first values (a repeated header does not replace
// them, nor does a later message), cut to their bounds, the userinfo password redacted, and
// they are copies: the packet buffer is reused by the capture after the call.
func TestStringFactsFirstValuesCopied(t *testing.T) {
	long := strings.Repeat("x", 300)
	first := crlf(`PING sips:alice:hunter2pw@example.com;transport=tls SIP/2.0
v: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK.1;received=198.51.100.7
Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK.2;received=203.0.113.99
From: "A" <sip:alice:secretpw@example.com>;tag=1
f: <sip:mallory@example.com>;tag=2
To: <sip:` + long + `@example.com>
Call-ID: first-call
i: second-call
CSeq: 1 PING
User-Agent: agent-one
User-Agent: agent-two
Content-Length: 0

`)
	later := crlf(`OPTIONS sip:other@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;received=192.0.2.200
From: <sip:bob@example.com>;tag=3
To: <sip:carol@example.com>
Call-ID: third-call
CSeq: 2 OPTIONS
Server: server-one
User-Agent: agent-three
Content-Length: 0

`)
	s := newSession(t, flow.UDP, 5060)
	s.F.ClientKnown = true
	// Claim on a known method, then send the extension method: only the first request sets
	// Method and RequestURI.
	ping := append([]byte(nil), first...)
	s.Client(crlf("OPTIONS sip:x@example.com SIP/2.0\nContent-Length: 0\n\n"))
	sip := s.facts()
	sip.Method, sip.RequestURI = "", "" // as if PING came first
	s.Client(ping)
	for i := range ping {
		ping[i] = '#' // the capture reuses its buffer
	}
	s.Client(later)
	want := map[string]string{
		"method":       "PING",
		"request_uri":  "sips:alice:***@example.com;transport=tls",
		"via_received": "198.51.100.7",
		"from":         "sip:alice:***@example.com",
		"to":           ("sip:" + long + "@example.com")[:maxURI],
		"call_id":      "first-call",
		"cseq":         "1 PING",
		"user_agent":   "agent-one",
		"server":       "server-one",
	}
	got := map[string]string{
		"method": sip.Method, "request_uri": sip.RequestURI, "via_received": sip.ViaReceived,
		"from": sip.From, "to": sip.To, "call_id": sip.CallID, "cseq": sip.CSeq,
		"user_agent": sip.UserAgent, "server": sip.Server,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if sip.Contact != "" {
		t.Errorf("contact = %q, no message carried one", sip.Contact)
	}
}

// scannerNameByMarker is the plain definition scannerName implements in one pass: the first
// scanner of the list whose marker the User-Agent carries (at its start for a prefix marker).
func scannerNameByMarker(ua []byte) string {
	ua = clip(ua, 256)
	for _, s := range scanners {
		if s.prefix && hasPrefixFold(ua, s.marker) || !s.prefix && containsFold(ua, s.marker) {
			return s.name
		}
	}
	return ""
}

func TestScannerName(t *testing.T) {
	for ua, want := range map[string]string{
		"friendly-scanner":                      "friendly-scanner",
		"Friendly-Scanner/1.0":                  "friendly-scanner",
		"sipvicious 0.3 friendly-scanner":       "friendly-scanner", // the list's order decides
		"svwar via SIPVicious":                  "sipvicious",
		"smap 0.6":                              "smap",
		"Not smap":                              "", // smap is matched at the start only
		"iWar":                                  "iWar",
		"Linphone/5.2.0 (belle-sip/5.2.0)":      "",
		"PolycomVVX sipsak sip-sca sipptk":      "sipptk",
		strings.Repeat("s", 255) + "sipvicious": "", // past the 256 bytes read
		strings.Repeat("s", 240) + "sipvicious": "sipvicious",
		"":                                      "",
	} {
		if got := scannerName([]byte(ua)); got != want {
			t.Errorf("scannerName(%.40q) = %q, want %q", ua, got, want)
		}
	}
	// Every pair of markers, in both orders, in any case, with text around them.
	for _, a := range scanners {
		for _, b := range scanners {
			for _, ua := range []string{a.marker + " " + b.marker, "x" + strings.ToUpper(a.marker) + "/" + b.marker + "y", a.name + b.name} {
				if got, want := scannerName([]byte(ua)), scannerNameByMarker([]byte(ua)); got != want {
					t.Errorf("scannerName(%q) = %q, want %q", ua, got, want)
				}
			}
		}
	}
}

// A UDP flow keeps only what it needs between datagrams and borrows the parser for each one:
// interleaved flows must not see each other's Call-IDs or transactions through the borrowed
// state. Each flow repeats its own Call-ID, so each counts one; its OPTIONS stays answered.
func TestUDPFlowsKeepTheirOwnState(t *testing.T) {
	a, b := newSession(t, flow.UDP, 5060), newSession(t, flow.UDP, 5060)
	a.Client(options1)
	b.Client(options2)
	a.Client(options1)
	b.Client(options2)
	a.Server(crlf(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.10:50000;branch=z9hG4bK.a
From: <sip:probe@192.0.2.10>;tag=a
To: <sip:ping@192.0.2.1>;tag=z
Call-ID: opt-1
CSeq: 1 OPTIONS
Content-Length: 0

`))
	if fa, fb := a.facts(), b.facts(); fa.CallIDs != 1 || fb.CallIDs != 1 || fa.CallID == fb.CallID {
		t.Errorf("call ids: a %d (%q), b %d (%q); want 1 each, different", fa.CallIDs, fa.CallID, fb.CallIDs, fb.CallID)
	}
	if !a.F.IsAnswered() || b.F.IsAnswered() {
		t.Errorf("answered: a %v (its OPTIONS had its 200), b %v (no reply yet)", a.F.IsAnswered(), b.F.IsAnswered())
	}
	if _, ok := a.F.State.(*between); !ok {
		t.Errorf("a UDP flow holds %T between datagrams, want the small *between", a.F.State)
	}
}
