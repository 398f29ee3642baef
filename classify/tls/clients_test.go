package tls

import (
	"reflect"
	"slices"
	"testing"
	"unsafe"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestClientFactsAreShared: flows whose clients make the same offer share one block of client
// facts, which holds exactly what the ClientHello offered; another offer gets its own; a
// client that then sends its certificate gets a block of its own with certificate_sent, and
// the flows that share the first block still read it as they did; the shared empty block of
// facts without a ClientHello stays empty.
func TestClientFactsAreShared(t *testing.T) {
	clientOffers.forget()
	hello := func(name string) []byte {
		return record(22, 0x0301, hsMsg(hsClientHello, clientHelloBody(0x0303, nil, []uint16{0xc02f, 0x009c}, sni(name), alpn("ldap"))))
	}
	run := func(chunks ...chunk) *flow.TLSFacts {
		t.Helper()
		f, _ := replay(t, 636, chunks)
		if f.TLS == nil {
			t.Fatal("no TLS facts")
		}
		return f.TLS
	}
	a := run(chunk{0, hello("ldap.example.com")})
	b := run(chunk{0, hello("ldap.example.com")})
	c := run(chunk{0, hello("other.example.com")})
	want := flow.TLSClientFacts{ServerName: "ldap.example.com", ALPN: []string{"ldap"}, CipherCount: 2, VersionMax: "1.2",
		SupportedCiphers: []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256"}, JA4: a.Client.JA4}
	if a.Client != b.Client {
		t.Error("two flows with the same offer hold two blocks of client facts")
	}
	if !sameClient(a.Client, &want) || a.Client.JA4 == "" {
		t.Errorf("client facts %+v, want %+v", *a.Client, want)
	}
	if c.Client == a.Client || c.Client.ServerName != "other.example.com" || !slices.Equal(c.Client.ALPN, want.ALPN) {
		t.Errorf("another offer: %+v (shared: %v)", *c.Client, c.Client == a.Client)
	}

	// A client certificate (TLS 1.2 mutual authentication) after the same offer.
	cert := record(22, 0x0303, hsMsg(hsServerHello, serverHelloBody(0x0303, nil, 0xc02f)))
	d := run(chunk{0, hello("ldap.example.com")}, chunk{1, cert}, chunk{0, record(22, 0x0303, hsMsg(hsCertificate, vec24(nil)))})
	if !d.Client.CertificateSent || d.Client == a.Client || d.Client.ServerName != "ldap.example.com" {
		t.Errorf("after a client certificate: %+v (the shared block: %v)", *d.Client, d.Client == a.Client)
	}
	if a.Client.CertificateSent || b.Client.CertificateSent || !sameClient(a.Client, &want) {
		t.Errorf("another flow's client certificate changed the shared block: %+v", *a.Client)
	}
	if e := flow.NoTLSClient(); !e.IsZero() || e.ServerName != "" || e.ALPN != nil || e.CipherCount != 0 {
		t.Errorf("the shared empty client facts were written: %+v", *e)
	}
	if n := flow.NewTLSFacts(); n.Client != flow.NoTLSClient() {
		t.Error("new TLS facts do not start with the shared empty client facts")
	}
}

// TestTLSFactsFitTheirSizeClass: the facts of every TLS flow take 224 bytes (a size class of
// Go's allocator) with the client facts shared behind a pointer, where they took 320 inline.
func TestTLSFactsFitTheirSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(flow.TLSFacts{}); s > 224 {
		t.Errorf("TLSFacts is %d bytes, want at most 224", s)
	}
}

// TestSameClientComparesEveryFact: client facts that differ in any one fact are not the same
// (shareClient relies on it when two offers hash alike).
func TestSameClientComparesEveryFact(t *testing.T) {
	base := flow.TLSClientFacts{ServerName: "a", SupportedCiphers: []string{"x"}, CipherCount: 1, ALPN: []string{"h2"},
		VersionMax: "1.2", JA4: "j"}
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		other := base
		f := reflect.ValueOf(&other).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "?")
		case reflect.Int:
			f.SetInt(f.Int() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Slice:
			f.Set(reflect.Append(f, reflect.ValueOf("more")))
		default:
			t.Fatalf("%s: a %s", v.Type().Field(i).Name, f.Kind())
		}
		if sameClient(&base, &other) || sameClient(&other, &base) {
			t.Errorf("facts that differ in %s are the same", v.Type().Field(i).Name)
		}
	}
	if c := base; !sameClient(&base, &c) {
		t.Error("a copy is not the same")
	}
}
