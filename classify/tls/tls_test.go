package tls

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	ctls "crypto/tls"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

func TestHandshakes(t *testing.T) {
	rsa1024 := makeCert(t, 1024, notBefore, notAfter)
	rsa2048 := makeCert(t, 2048, notBefore, notAfter)
	ec := makeCert(t, 0, notBefore, notAfter)
	tls12 := func(suites ...uint16) *ctls.Config {
		return &ctls.Config{MinVersion: ctls.VersionTLS12, MaxVersion: ctls.VersionTLS12, CipherSuites: suites}
	}
	cases := []struct {
		name     string
		cert     *testCert
		client   *ctls.Config
		server   *ctls.Config
		version  string
		cipher   string
		kex      string
		keySize  int
		certSeen bool
	}{
		{"tls1.2 rsa kex, rsa 1024", rsa1024, tls12(ctls.TLS_RSA_WITH_AES_128_GCM_SHA256), tls12(ctls.TLS_RSA_WITH_AES_128_GCM_SHA256),
			"1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256", "rsa", 1024, true},
		{"tls1.2 ecdhe, rsa 2048", rsa2048, tls12(ctls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), tls12(ctls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
			"1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ecdhe", 2048, true},
		{"tls1.2 ecdhe, ecdsa", ec, tls12(ctls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305), tls12(ctls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305),
			"1.2", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ecdhe", 256, true},
		{"tls1.3", rsa2048, &ctls.Config{NextProtos: []string{"ldap"}}, &ctls.Config{NextProtos: []string{"ldap"}},
			"1.3", "TLS_AES_128_GCM_SHA256", "tls13", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.version == "1.3" {
				c.client.CipherSuites = nil
			}
			chunks := handshake(t, c.cert, c.client, c.server)
			f, v := replay(t, 636, chunks)
			tf := f.TLS
			if v != flow.Done {
				t.Errorf("verdict %v, want Done", v)
			}
			if f.ParseErrors != 0 {
				t.Errorf("parse errors %d: %s", f.ParseErrors, f.ParseError)
			}
			if tf.Version != c.version || tf.VersionProtocol != "tls" || tf.Cipher != c.cipher || tf.Kex != c.kex {
				t.Errorf("version %q %q cipher %q kex %q", tf.Version, tf.VersionProtocol, tf.Cipher, tf.Kex)
			}
			if !tf.Established {
				t.Error("not established")
			}
			if tf.Client.ServerName != "ldap.example.com" || tf.Client.VersionMax != "1.3" && c.version == "1.3" {
				t.Errorf("client %+v", tf.Client)
			}
			if !strings.HasPrefix(tf.Client.JA4, "t1"+c.version[2:]+"d") || len(tf.Client.JA4) != 36 {
				t.Errorf("ja4 %q", tf.Client.JA4)
			}
			if tf.ClientHello.Frame == 0 || tf.ServerHello.Frame <= tf.ClientHello.Frame {
				t.Errorf("events %+v %+v", tf.ClientHello, tf.ServerHello)
			}
			srv := tf.Server
			if !c.certSeen {
				if !srv.IsZero() || tf.NameMatchesSNI != nil {
					t.Errorf("TLS 1.3 server facts %+v", srv)
				}
				// The selected ALPN travels in the encrypted EncryptedExtensions.
				if tf.NextProtocol != "" || !reflect.DeepEqual(tf.Client.ALPN, []string{"ldap"}) {
					t.Errorf("alpn %q %q", tf.NextProtocol, tf.Client.ALPN)
				}
				return
			}
			if srv.Subject != "CN=ldap.example.com,O=Example" || srv.Issuer != srv.Subject || !srv.SelfSigned || !srv.SelfIssued {
				t.Errorf("subject %q issuer %q self %v", srv.Subject, srv.Issuer, srv.SelfSigned)
			}
			if !srv.NotBefore.Time().Equal(notBefore) || !srv.NotAfter.Time().Equal(notAfter) || srv.ChainLength != 1 {
				t.Errorf("validity %v %v chain %d", srv.NotBefore, srv.NotAfter, srv.ChainLength)
			}
			x := srv.X509
			if x.PublicKeySize != c.keySize || x.SerialNumber != "1234ABCD" || x.VersionNumber != "3" ||
				!reflect.DeepEqual(x.AlternativeNames, []string{"ldap.example.com", "ldap"}) ||
				!reflect.DeepEqual(x.Subject.CommonName, []string{"ldap.example.com"}) {
				t.Errorf("x509 %+v", x)
			}
			if c.keySize != 256 && (x.PublicKeyAlgorithm != "RSA" || x.PublicKeyExponent != 65537 || x.SignatureAlgorithm != "SHA256-RSA") {
				t.Errorf("x509 %+v", x)
			}
			if c.keySize == 256 && (x.PublicKeyAlgorithm != "ECDSA" || x.PublicKeyCurve != "nistp256") {
				t.Errorf("x509 %+v", x)
			}
			if tf.NameMatchesSNI == nil || !*tf.NameMatchesSNI {
				t.Error("name should match the SNI")
			}
			if tf.Certificate.Frame == 0 {
				t.Error("no certificate event")
			}
			if len(srv.Hash.SHA256) != 64 {
				t.Errorf("hash %q", srv.Hash.SHA256)
			}
		})
	}
}

// TestDetector runs a recorded handshake through the detector on LDAPS, SIP-TLS and an
// unrelated port, and from a capture that starts at the ServerHello.
func TestDetector(t *testing.T) {
	chunks := handshake(t, makeCert(t, 2048, notBefore, notAfter), &ctls.Config{}, &ctls.Config{})
	for _, c := range []struct {
		port  uint16
		label flow.Label
	}{{636, flow.LDAPS}, {3269, flow.LDAPS}, {5061, flow.SIPTLS}, {443, flow.Unknown}} {
		f := newFlow(c.port)
		d := New(DefaultPorts())
		fd := &feeder{f: f, inspect: d.Inspect}
		for _, ch := range chunks {
			fd.feed(t, ch.dir, ch.data)
		}
		if f.Label != c.label {
			t.Errorf("port %d: label %v, want %v", c.port, f.Label, c.label)
		}
		if c.label == flow.Unknown {
			if f.TLS != nil || f.State != nil || fd.v != flow.Reject {
				t.Errorf("port %d: flow touched", c.port)
			}
			continue
		}
		if fd.v != flow.Done || f.TLS.Version != "1.3" || !f.TLS.Established {
			t.Errorf("port %d: verdict %v facts %+v", c.port, fd.v, f.TLS)
		}
	}

	// Late start: the first payload is the server's; the detector reverses the flow.
	var late []chunk
	for i, ch := range chunks {
		if ch.dir == flow.FromServer {
			late = chunks[i:]
			break
		}
	}
	// The engine labels the first sender as the client: here the server on 636.
	f := newFlow(636)
	f.Client, f.Server = f.Server, f.Client
	for i := range late {
		late[i].dir = 1 - late[i].dir
	}
	fd := &feeder{f: f, inspect: New(DefaultPorts()).Inspect}
	for _, ch := range late {
		fd.feed(t, ch.dir, ch.data)
	}
	if f.Label != flow.LDAPS || f.Server.Port() != 636 || f.TLS.Version != "1.3" || !f.TLS.Established {
		t.Errorf("late start: label %v server %v facts %+v verdict %v", f.Label, f.Server, f.TLS, fd.v)
	}
}

// TestSplit feeds each write of a conversation in two pieces, cut at every byte, and
// expects the same facts as when it is fed whole.
func TestSplit(t *testing.T) {
	cfg := &ctls.Config{MaxVersion: ctls.VersionTLS12}
	chunks := handshake(t, makeCert(t, 2048, notBefore, notAfter), cfg, &ctls.Config{})
	want, _ := replay(t, 636, chunks)
	if want.TLS.Server.Subject == "" {
		t.Fatal("no certificate in the reference run")
	}
	for i, c := range chunks {
		step := 1
		if testing.Short() {
			step = 37
		}
		for k := 1; k < len(c.data); k += step {
			split := make([]chunk, 0, len(chunks)+1)
			split = append(split, chunks[:i]...)
			split = append(split, chunk{c.dir, c.data[:k]}, chunk{c.dir, c.data[k:]})
			split = append(split, chunks[i+1:]...)
			got, _ := replay(t, 636, split)
			alignEvents(got.TLS, want.TLS)
			if !reflect.DeepEqual(got.TLS, want.TLS) {
				t.Fatalf("chunk %d cut at %d: facts differ\n got %+v\nwant %+v", i, k, got.TLS, want.TLS)
			}
		}
	}
}

// alignEvents makes frame numbers comparable between runs with different call counts.
func alignEvents(got, want *flow.TLSFacts) {
	got.ClientHello, got.ServerHello, got.Certificate = want.ClientHello, want.ServerHello, want.Certificate
	for i := range got.Alerts {
		if i < len(want.Alerts) {
			got.Alerts[i].Frame = want.Alerts[i].Frame
		}
	}
}

// TestSpanningMessage sends a Certificate message over three records.
func TestSpanningMessage(t *testing.T) {
	cert := makeCert(t, 2048, notBefore, notAfter)
	ch := record(22, 0x0301, hsMsg(1, clientHelloBody(0x0303, nil, []uint16{0xC02F}, sni("ldap.example.com"))))
	sh := hsMsg(2, serverHelloBody(0x0303, nil, 0xC02F))
	certMsg := hsMsg(11, vec24(vec24(cert.der)))
	all := cat(sh, certMsg, hsMsg(14, nil))
	third := len(all) / 3
	server := cat(record(22, 0x0303, all[:third]), record(22, 0x0303, all[third:2*third]), record(22, 0x0303, all[2*third:]))
	f, v := replay(t, 636, []chunk{{flow.FromClient, ch}, {flow.FromServer, server}})
	if f.TLS.Server.Subject != "CN=ldap.example.com,O=Example" || f.TLS.Cipher != "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" {
		t.Errorf("facts %+v", f.TLS)
	}
	if v != flow.More || f.ParseErrors != 0 {
		t.Errorf("verdict %v errors %d", v, f.ParseErrors)
	}
}

// Hand-made fixtures: SSL 3.0 and TLS 1.0 server hellos, an alert.
var (
	// An SSL 3.0 ServerHello selecting RC4-SHA with compression off.
	ssl3ServerHello = []byte{
		0x16, 0x03, 0x00, 0x00, 0x4a, // handshake record, SSL 3.0, 74 bytes
		0x02, 0x00, 0x00, 0x46, // ServerHello, 70 bytes
		0x03, 0x00, // server_version 3.0
		0x53, 0x53, 0x4c, 0x33, 0x53, 0x53, 0x4c, 0x33, 0x53, 0x53, 0x4c, 0x33, 0x53, 0x53, 0x4c, 0x33, // random
		0x53, 0x53, 0x4c, 0x33, 0x53, 0x53, 0x4c, 0x33, 0x53, 0x53, 0x4c, 0x33, 0x53, 0x53, 0x4c, 0x33,
		0x20, // session_id length 32
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
		0x00, 0x05, // TLS_RSA_WITH_RC4_128_SHA
		0x00, // compression null
	}
	// A TLS 1.0 ServerHello with extensions selecting 3DES, then ServerHelloDone.
	tls10ServerHello = cat(record(22, 0x0301, cat(
		hsMsg(2, serverHelloBody(0x0301, nil, 0x000A, ext(0xff01, []byte{0}))),
		hsMsg(14, nil))))
	// A fatal handshake_failure alert.
	fatalAlert = []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28}
	// A ClientHello offering up to TLS 1.2 with SNI and ALPN.
	clientHello12 = record(22, 0x0301, hsMsg(1, clientHelloBody(0x0303, nil,
		[]uint16{0x0a0a, 0xC02F, 0x009C, 0x0005, 0x00FF},
		sni("ldap.example.com"), alpn("ldap"), ext(0x000a, vec16(u16(0x001d))))))
)

func TestFixtures(t *testing.T) {
	cases := []struct {
		name    string
		chunks  []chunk
		verdict flow.Verdict
		check   func(t *testing.T, f *flow.Flow)
	}{
		{"ssl3", []chunk{{flow.FromClient, clientHello12}, {flow.FromServer, ssl3ServerHello}}, flow.More,
			func(t *testing.T, f *flow.Flow) {
				tf := f.TLS
				if tf.Version != "3.0" || tf.VersionProtocol != "ssl" || tf.Cipher != "TLS_RSA_WITH_RC4_128_SHA" || tf.Kex != "rsa" {
					t.Errorf("%+v", tf)
				}
				if tf.Client.VersionMax != "1.2" || tf.Client.CipherCount != 4 ||
					!reflect.DeepEqual(tf.Client.SupportedCiphers, []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
						"TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_RC4_128_SHA", "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"}) {
					t.Errorf("client %+v", tf.Client)
				}
				if tf.Resumed {
					t.Error("resumed without an offered session")
				}
			}},
		{"tls1.0 then fatal alert", []chunk{{flow.FromClient, clientHello12}, {flow.FromServer, tls10ServerHello}, {flow.FromClient, fatalAlert}}, flow.Done,
			func(t *testing.T, f *flow.Flow) {
				tf := f.TLS
				if tf.Version != "1.0" || tf.Cipher != "TLS_RSA_WITH_3DES_EDE_CBC_SHA" || tf.Established {
					t.Errorf("%+v", tf)
				}
				want := []flow.TLSAlert{{Level: "fatal", Description: "handshake_failure", Code: 40, From: "client", Frame: 4, Time: f.Time}}
				if !reflect.DeepEqual(tf.Alerts, want) {
					t.Errorf("alerts %+v", tf.Alerts)
				}
			}},
		{"resumed by session id", []chunk{
			{flow.FromClient, record(22, 0x0301, hsMsg(1, clientHelloBody(0x0303, bytesOf(7, 32), []uint16{0xC02F})))},
			{flow.FromServer, cat(record(22, 0x0303, hsMsg(2, serverHelloBody(0x0303, bytesOf(7, 32), 0xC02F))),
				record(20, 0x0303, []byte{1}), record(22, 0x0303, bytesOf(9, 40)))},
			{flow.FromClient, cat(record(20, 0x0303, []byte{1}), record(22, 0x0303, bytesOf(9, 40)))},
		}, flow.Done,
			func(t *testing.T, f *flow.Flow) {
				if !f.TLS.Resumed || !f.TLS.Established || f.TLS.Version != "1.2" {
					t.Errorf("%+v", f.TLS)
				}
			}},
		{"unknown suite", []chunk{{flow.FromServer, record(22, 0x0303, hsMsg(2, serverHelloBody(0x0303, nil, 0xABCD)))}}, flow.More,
			func(t *testing.T, f *flow.Flow) {
				if f.TLS.Cipher != "0xABCD" || f.TLS.Kex != "" {
					t.Errorf("%+v", f.TLS)
				}
			}},
		{"tls1.3 hello retry then server hello", []chunk{
			{flow.FromClient, clientHello12},
			{flow.FromServer, record(22, 0x0303, hsMsg(2, cat(u16(0x0303), helloRetryRandom, vec8(nil), u16(0x1302), []byte{0},
				vec16(ext(extSupportedVersions, u16(0x0304))))))},
			{flow.FromClient, cat(record(20, 0x0303, []byte{1}), clientHello12)},
			{flow.FromServer, cat(record(22, 0x0303, hsMsg(2, serverHelloBody(0x0303, nil, 0x1302, ext(extSupportedVersions, u16(0x0304))))),
				record(20, 0x0303, []byte{1}), record(23, 0x0303, bytesOf(1, 100)))},
			{flow.FromClient, record(23, 0x0303, bytesOf(1, 53))},
			{flow.FromServer, record(23, 0x0303, bytesOf(1, 200))},
		}, flow.Done,
			func(t *testing.T, f *flow.Flow) {
				if f.TLS.Version != "1.3" || f.TLS.Cipher != "TLS_AES_256_GCM_SHA384" || !f.TLS.Established || f.TLS.ServerHello.Frame != 5 {
					t.Errorf("%+v", f.TLS)
				}
			}},
		{"sslv2 client hello", []chunk{
			{flow.FromClient, sslv2Hello},
			{flow.FromServer, record(22, 0x0300, hsMsg(2, serverHelloBody(0x0300, nil, 0x0004)))},
		}, flow.More,
			func(t *testing.T, f *flow.Flow) {
				c := f.TLS.Client
				if !c.SSLv2Hello || c.VersionMax != "3.0" || c.CipherCount != 2 || f.TLS.Version != "3.0" ||
					!reflect.DeepEqual(c.SupportedCiphers, []string{"TLS_RSA_WITH_RC4_128_MD5", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"}) {
					t.Errorf("%+v", f.TLS)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, v := replay(t, 636, c.chunks)
			if v != c.verdict {
				t.Errorf("verdict %v, want %v", v, c.verdict)
			}
			if f.ParseErrors != 0 {
				t.Errorf("parse errors: %s", f.ParseError)
			}
			c.check(t, f)
		})
	}
}

// sslv2Hello is an SSL 2.0 compatible CLIENT-HELLO offering SSL 3.0.
var sslv2Hello = []byte{
	0x80, 0x22, // 2-byte header, 34 bytes
	0x01,       // CLIENT-HELLO
	0x03, 0x00, // version 3.0
	0x00, 0x09, // cipher specs: 9 bytes
	0x00, 0x00, // session ID: none
	0x00, 0x10, // challenge: 16 bytes
	0x01, 0x00, 0x80, // SSL2_RC4_128_WITH_MD5 (no TLS equivalent)
	0x00, 0x00, 0x04, // TLS_RSA_WITH_RC4_128_MD5
	0x00, 0x00, 0x0a, // TLS_RSA_WITH_3DES_EDE_CBC_SHA
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // challenge
}

func TestHostile(t *testing.T) {
	t.Run("record length 0xFFFF", func(t *testing.T) {
		f, v := replay(t, 636, []chunk{{flow.FromClient, cat([]byte{0x16, 0x03, 0x01, 0xff, 0xff}, bytesOf(0, 100))}})
		if v != flow.Reject || f.ParseErrors != 1 {
			t.Errorf("verdict %v errors %d", v, f.ParseErrors)
		}
		d := New(DefaultPorts())
		g := newFlow(636)
		if v, _ := d.Inspect(g, flow.FromClient, cat([]byte{0x16, 0x03, 0x01, 0xff, 0xff, 1, 0, 0, 100, 3, 3})); v != flow.Reject || g.Label != flow.Unknown {
			t.Errorf("detector: %v %v", v, g.Label)
		}
	})
	t.Run("handshake length past the limit", func(t *testing.T) {
		f, v := replay(t, 636, []chunk{{flow.FromClient, record(22, 0x0301, []byte{1, 0xff, 0xff, 0xff, 3, 3})}})
		if v != flow.Reject || f.ParseError.String() != ErrHandshakeSize.Error() {
			t.Errorf("verdict %v error %q", v, f.ParseError)
		}
	})
	t.Run("handshake length past the record", func(t *testing.T) {
		// A 60000-byte message announced, 3 records of 16 KiB sent: buffered, waiting.
		chunks := []chunk{{flow.FromClient, record(22, 0x0301, cat([]byte{1, 0x00, 0xea, 0x60}, bytesOf(0xff, 1<<14-4)))}}
		for range 2 {
			chunks = append(chunks, chunk{flow.FromClient, record(22, 0x0301, bytesOf(0, 1<<14))})
		}
		f, v := replay(t, 636, chunks)
		if v != flow.More || f.ParseErrors != 0 || f.TLS.ClientHello.Frame != 0 {
			t.Errorf("verdict %v error %q", v, f.ParseError)
		}
		// The rest arrives: a ClientHello of 0xFF bytes does not parse.
		chunks = append(chunks, chunk{flow.FromClient, record(22, 0x0301, bytesOf(0, 60000+4-3<<14))})
		f, v = replay(t, 636, chunks)
		if v != flow.More || f.ParseError.String() != ErrClientHello.Error() || f.TLS.ClientHello.Frame == 0 {
			t.Errorf("verdict %v error %q", v, f.ParseError)
		}
	})
	t.Run("10000 extensions", func(t *testing.T) {
		exts := [][]byte{sni("x.example")}
		for i := range 10000 {
			exts = append(exts, ext(uint16(1000+i), nil))
		}
		body := hsMsg(1, clientHelloBody(0x0303, nil, []uint16{0xC02F}, exts...))
		var chunks []chunk
		for len(body) > 0 {
			k := min(len(body), 1<<14)
			chunks = append(chunks, chunk{flow.FromClient, record(22, 0x0301, body[:k])})
			body = body[k:]
		}
		f, v := replay(t, 636, chunks)
		if v != flow.More || f.TLS.Client.ServerName != "x.example" || f.TLS.Client.JA4 != "" || f.ParseErrors != 0 {
			t.Errorf("verdict %v facts %+v", v, f.TLS.Client)
		}
	})
	t.Run("certificate that does not parse", func(t *testing.T) {
		bad := bytesOf(0x30, 200)
		f, v := replay(t, 636, []chunk{
			{flow.FromClient, clientHello12},
			{flow.FromServer, record(22, 0x0303, cat(hsMsg(2, serverHelloBody(0x0303, nil, 0xC02F)),
				hsMsg(11, vec24(cat(vec24(bad), vec24(bad)))), hsMsg(14, nil)))},
			{flow.FromClient, record(20, 0x0303, []byte{1})},
			{flow.FromServer, record(20, 0x0303, []byte{1})},
		})
		srv := f.TLS.Server
		if v != flow.Done || srv.CertificateError == "" || srv.ChainLength != 2 || len(srv.Hash.SHA256) != 64 ||
			f.ParseErrors != 1 || f.ParseError.String() != ErrCertificate.Error() || f.TLS.Version != "1.2" || !f.TLS.Established {
			t.Errorf("verdict %v errors %d %q server %+v", v, f.ParseErrors, f.ParseError, srv)
		}
	})
	t.Run("application data before any hello", func(t *testing.T) {
		f, v := replay(t, 636, []chunk{{flow.FromClient, record(23, 0x0303, bytesOf(1, 10))}})
		if v != flow.Reject || f.ParseErrors != 1 {
			t.Errorf("verdict %v", v)
		}
	})
}

// TestCertificateFacts covers expiry times, weak keys and a name that does not match.
func TestCertificateFacts(t *testing.T) {
	expired := makeCert(t, 1024, time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC))
	ch := record(22, 0x0301, hsMsg(1, clientHelloBody(0x0303, nil, []uint16{0x002F}, sni("other.example.org"))))
	srv := record(22, 0x0303, cat(hsMsg(2, serverHelloBody(0x0303, nil, 0x002F)), hsMsg(11, vec24(vec24(expired.der))), hsMsg(14, nil)))
	f, _ := replay(t, 636, []chunk{{flow.FromClient, ch}, {flow.FromServer, srv}})
	tf := f.TLS
	if tf.NameMatchesSNI == nil || *tf.NameMatchesSNI {
		t.Error("the name should not match")
	}
	if !tf.Server.NotAfter.Time().Before(tf.Certificate.Time.Time()) || tf.Server.X509.PublicKeySize != 1024 || !tf.Server.SelfSigned {
		t.Errorf("%+v", tf.Server)
	}
}

func TestTruncation(t *testing.T) {
	chunks := handshake(t, makeCert(t, 2048, notBefore, notAfter), &ctls.Config{MaxVersion: ctls.VersionTLS12}, &ctls.Config{})
	var client, server []byte
	for _, c := range chunks {
		if c.dir == flow.FromClient {
			client = append(client, c.data...)
		} else {
			server = append(server, c.data...)
		}
	}
	for k := 0; k <= len(client); k++ {
		f := newFlow(636)
		v, n := New(DefaultPorts()).Inspect(f, flow.FromClient, client[:k])
		if n < 0 || n > k || v == flow.Reject {
			t.Fatalf("client prefix %d: %v %d", k, v, n)
		}
		// Claimed once the cipher suites length after the session ID is in: record, handshake
		// header and hello agree.
		if (f.Label == flow.LDAPS) != (k >= sniffLen+int(client[43])) {
			t.Fatalf("client prefix %d: label %v", k, f.Label)
		}
		s := &Session{}
		g := newFlow(636)
		if v, n := s.Inspect(g, flow.FromServer, server[:min(k, len(server))]); v == flow.Reject || n > k {
			t.Fatalf("server prefix %d: %v %d", k, v, n)
		}
	}
	// Prefixes of other protocols never claim.
	others := [][]byte{
		[]byte("OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TLS x\r\n\r\n"),
		{0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00}, // LDAP bind
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		{0x16, 0x03, 0x01, 0x00, 0x30, 0x0b, 0x00, 0x00, 0x2c, 0x03, 0x03}, // handshake but a Certificate
		{0x17, 0x03, 0x03, 0x00, 0x30, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06}, // application data
	}
	for _, o := range others {
		for k := 0; k <= len(o); k++ {
			f := newFlow(636)
			New(DefaultPorts()).Inspect(f, flow.FromClient, o[:k])
			if f.Label != flow.Unknown || f.TLS != nil || f.State != nil {
				t.Fatalf("%q prefix %d claimed", o, k)
			}
		}
	}
}

func TestRejectAllocs(t *testing.T) {
	d := New(DefaultPorts())
	f := newFlow(443)
	payloads := [][]byte{clientHello12, []byte("GET / HTTP/1.1\r\n\r\n"), ssl3ServerHello, sslv2Hello}
	for _, p := range payloads {
		allocs := testing.AllocsPerRun(100, func() {
			if v, _ := d.Inspect(f, flow.FromClient, p); v != flow.Reject {
				t.Fatalf("%v", v)
			}
		})
		if allocs != 0 {
			t.Errorf("%d allocations on reject of %x", int(allocs), p[:4])
		}
	}
	if f.Label != flow.Unknown || f.TLS != nil {
		t.Error("flow touched")
	}
}

// TestJA4 checks the fingerprint against values computed by hand from the specification.
func TestJA4(t *testing.T) {
	// Ciphers 0x1301,0x1302 (plus GREASE), extensions SNI, ALPN h2, supported_versions,
	// signature_algorithms 0x0403,0x0804, supported_groups.
	body := clientHelloBody(0x0303, nil, []uint16{0x2a2a, 0x1302, 0x1301},
		ext(0x3a3a, nil), sni("a.example"), alpn("h2", "http/1.1"),
		ext(extSupportedVersions, vec8(cat(u16(0x5a5a), u16(0x0304), u16(0x0303)))),
		ext(extSignatureAlgorithms, vec16(cat(u16(0x0403), u16(0x0804)))),
		ext(0x000a, vec16(u16(0x001d))))
	tf := flow.NewTLSFacts()
	if err := (&Session{}).parseClientHello(tf, body); err != nil {
		t.Fatal(err)
	}
	// a: t 13 d 02 ciphers 05 extensions h2.
	// b: sha256("1301,1302")[:12]; c: sha256("000a,000d,002b_0403,0804")[:12].
	want := "t13d0205h2_" + sha12("1301,1302") + "_" + sha12("000a,000d,002b_0403,0804")
	if tf.Client.JA4 != want {
		t.Errorf("ja4 %q, want %q", tf.Client.JA4, want)
	}
	if tf.Client.VersionMax != "1.3" || !reflect.DeepEqual(tf.Client.ALPN, []string{"h2", "http/1.1"}) {
		t.Errorf("%+v", tf.Client)
	}
	// Arkime's value for its openssl-tls1_1 capture: extensions 000a,000b,000f,0023 and no
	// signature algorithms hash without the underscore.
	if got := sha12("000a,000b,000f,0023"); got != "282f11336259" {
		t.Errorf("extension hash %s", got)
	}
	// A non-alphanumeric ALPN uses hex digits; no ALPN is 00.
	if got := string(appendALPN(nil, []byte{0xab, 'x', 0xcd})); got != "ad" {
		t.Errorf("alpn %q", got)
	}
}

func sha12(s string) string { return string(appendHash12(nil, []byte(s))) }

func TestSuiteTable(t *testing.T) {
	for c, n := range suites {
		if !strings.HasPrefix(n, "TLS_") {
			t.Errorf("0x%04X %q", c, n)
		}
		if k := kexOf(c, n); k == "" && !strings.HasSuffix(n, "_SCSV") {
			t.Errorf("0x%04X %s: no key exchange", c, n)
		}
	}
	for _, c := range []struct {
		code      uint16
		name, kex string
	}{
		{0x0004, "TLS_RSA_WITH_RC4_128_MD5", "rsa"},
		{0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5", "anon"},
		{0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ecdhe"},
		{0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "dhe"},
		{0x1303, "TLS_CHACHA20_POLY1305_SHA256", "tls13"},
		{0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256", "psk"},
		{0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", "ecdh"},
	} {
		if si := suiteOf(c.code); si.name != c.name || si.kex != c.kex {
			t.Errorf("0x%04X: %+v", c.code, si)
		}
	}
	if !bytes.Equal([]byte(hex4(0x00ab)), []byte("0x00AB")) {
		t.Error(hex4(0xab))
	}
}
