package ldap

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
	"unsafe"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
)

// Annotated fixtures.
var (
	// Anonymous simple bind, as ldapsearch -x sends it.
	anonBind = []byte{
		0x30, 0x0c, // LDAPMessage SEQUENCE, 12 bytes
		0x02, 0x01, 0x01, // messageID 1
		0x60, 0x07, // [APPLICATION 0] BindRequest, 7 bytes
		0x02, 0x01, 0x03, // version 3
		0x04, 0x00, // name ""
		0x80, 0x00, // simple [0] ""
	}
	// BindResponse success.
	bindOK = []byte{
		0x30, 0x0c, // LDAPMessage SEQUENCE, 12 bytes
		0x02, 0x01, 0x01, // messageID 1
		0x61, 0x07, // [APPLICATION 1] BindResponse
		0x0a, 0x01, 0x00, // resultCode success
		0x04, 0x00, // matchedDN ""
		0x04, 0x00, // diagnosticMessage ""
	}
	// Simple bind as cn=admin with the password "secret99".
	pwBind = []byte{
		0x30, 0x1c, // LDAPMessage SEQUENCE, 28 bytes
		0x02, 0x01, 0x01, // messageID 1
		0x60, 0x17, // BindRequest, 23 bytes
		0x02, 0x01, 0x03, // version 3
		0x04, 0x08, 'c', 'n', '=', 'a', 'd', 'm', 'i', 'n', // name
		0x80, 0x08, 's', 'e', 'c', 'r', 'e', 't', '9', '9', // simple [0] password
	}
	// StartTLS extended request.
	startTLS = []byte{
		0x30, 0x1d, // LDAPMessage SEQUENCE, 29 bytes
		0x02, 0x01, 0x01, // messageID 1
		0x77, 0x18, // [APPLICATION 23] ExtendedRequest, 24 bytes
		0x80, 0x16, // requestName [0], 22 bytes
		'1', '.', '3', '.', '6', '.', '1', '.', '4', '.', '1', '.', '1', '4', '6', '6', '.', '2', '0', '0', '3', '7',
	}
	// The start of a TLS 1.2 ClientHello record.
	clientHello = []byte{0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03, 0, 1, 2, 3}
	// MQTT CONNECT (fixed header 0x10), protocol "MQTT" level 4.
	mqttConnect = []byte{0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x04, 'a', 'b', 'c', 'd'}
	// MQTT PUBLISH QoS 0 (fixed header 0x30, like an LDAPMessage): topic "a/b", payload "hi".
	mqttPublish = []byte{0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'}
	// A SEQUENCE with the indefinite length form, which LDAP forbids.
	indefinite = []byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x42, 0x00, 0x00, 0x00}
)

func spnFilter() []byte {
	// (&(objectClass=user)(servicePrincipalName=*))
	return tlv(0xa0,
		tlv(0xa3, str("objectClass"), str("user")),
		tlv(0x87, []byte("servicePrincipalName")))
}

func TestSimpleBindPassword(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	if v := s.Client(pwBind); v != flow.More {
		t.Fatalf("verdict %v", v)
	}
	s.Server(bindResponse(1, 49, "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563\x00"))
	l := s.facts()
	if len(l.Binds) != 1 || l.BindCount != 1 {
		t.Fatalf("binds %+v", l.Binds)
	}
	b := l.Binds[0]
	if b.Auth != "simple" || b.Kind != "simple" || !b.PasswordPresent || b.PasswordLen != 8 || b.DN != "cn=admin" || b.Version != 3 {
		t.Errorf("bind %+v", b)
	}
	if !b.Answered || b.Result != 49 || b.ResultName != "invalidCredentials" || !strings.Contains(b.Diagnostic, "data 52e") {
		t.Errorf("response %+v", b)
	}
	if b.Frame != 1 || b.Response.Frame != 2 || l.First.Frame != 1 {
		t.Errorf("events: request %d response %d first %d", b.Frame, b.Response.Frame, l.First.Frame)
	}
	if !l.CleartextPassword || l.FailedBinds != 1 || !l.Cleartext || l.AnonymousBind || l.UnauthenticatedBind {
		t.Errorf("facts %+v", l)
	}
	if l.Messages != 2 || l.Ops.BindRequest != 1 || l.Ops.BindResponse != 1 {
		t.Errorf("counts %d %+v", l.Messages, l.Ops)
	}
	if s.F.ParseErrors != 0 {
		t.Errorf("parse errors %d: %s", s.F.ParseErrors, s.F.ParseError)
	}
}

func TestBindKinds(t *testing.T) {
	plain := []byte("\x00alice\x00alicepass")
	cases := []struct {
		name      string
		req       []byte
		auth      string
		kind      string
		mech      string
		credLen   int32
		reusable  bool
		cleartext bool // CleartextPassword
		anon      bool
		unauth    bool
		deprec    bool
	}{
		{"anonymous", anonBind, "simple", "anonymous", "", 0, false, false, true, false, false},
		{"unauthenticated", simpleBind(1, "uid=alice,ou=people,dc=example,dc=org", ""), "simple", "unauthenticated", "", 0, false, false, false, true, false},
		{"sasl plain", saslBind(1, "", "PLAIN", plain), "sasl", "sasl", "PLAIN", int32(len(plain)), true, true, false, false, false},
		{"sasl plain lower case, no password", saslBind(1, "", "plain", []byte("\x00alice\x00")), "sasl", "sasl", "PLAIN", 7, false, false, false, false, false},
		{"sasl login", saslBind(1, "", "LOGIN", []byte("alice")), "sasl", "sasl", "LOGIN", 5, true, true, false, false, false},
		{"digest-md5 first step", saslBind(1, "", "DIGEST-MD5", nil), "sasl", "sasl", "DIGEST-MD5", 0, false, false, false, false, true},
		{"cram-md5", saslBind(1, "", "CRAM-MD5", nil), "sasl", "sasl", "CRAM-MD5", 0, false, false, false, false, true},
		{"external", saslBind(1, "", "EXTERNAL", nil), "sasl", "sasl", "EXTERNAL", 0, false, false, false, false, false},
		{"gss-spnego AD style", msg4(1, tlv4(0x60, integer(3), str(""), tlv4(0xa3, str("GSS-SPNEGO"),
			tlv4(0x04, tlv(0x60, []byte("\x06\x06\x2b\x06\x01\x05\x05\x02NTLMSSP\x00\x01\x00\x00\x00")))))),
			"sasl", "sasl", "GSS-SPNEGO", 22, false, false, false, false, false},
		{"unknown mechanism kept", saslBind(1, "", "X-FOO", nil), "sasl", "sasl", "X-FOO", 0, false, false, false, false, false},
		{"sicily NTLM", msg(1, tlv(0x60, integer(3), str(""), tlv(0x8a, []byte("NTLMSSP\x00\x01")))), "sicily", "sicily", "NTLM", 9, false, false, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSession(t, flow.TCP, 389)
			s.Client(c.req)
			l := s.facts()
			if len(l.Binds) != 1 {
				t.Fatalf("binds %+v", l.Binds)
			}
			b := l.Binds[0]
			if b.Auth != c.auth || b.Kind != c.kind || b.Mechanism != c.mech || b.CredentialsLen != c.credLen ||
				b.CredentialsPresent != (c.credLen > 0) || b.ReusablePassword != c.reusable || b.Answered || b.Result != -1 {
				t.Errorf("bind %+v", b)
			}
			if l.CleartextPassword != c.cleartext || l.AnonymousBind != c.anon || l.UnauthenticatedBind != c.unauth || l.DeprecatedSASL != c.deprec {
				t.Errorf("facts cleartext_password %v anonymous %v unauthenticated %v deprecated %v",
					l.CleartextPassword, l.AnonymousBind, l.UnauthenticatedBind, l.DeprecatedSASL)
			}
		})
	}
}

// TestBindKindsAreShared: the binds of one kind, on any flow, share one read-only block of
// auth and kind; the binds of another kind another.
func TestBindKindsAreShared(t *testing.T) {
	bind := func(req []byte) *flow.LDAPBindAuth {
		s := newSession(t, flow.TCP, 389)
		s.Client(req)
		if l := s.facts(); len(l.Binds) == 1 {
			return l.Binds[0].LDAPBindAuth
		}
		t.Fatal("no bind")
		return nil
	}
	a := bind(simpleBind(1, "uid=alice,ou=people,dc=example,dc=org", "alicepass"))
	b := bind(simpleBind(1, "uid=bob,ou=people,dc=example,dc=org", "bobpassword"))
	c := bind(saslBind(1, "", "PLAIN", []byte("\x00alice\x00alicepass")))
	d := bind(saslBind(1, "", "GSSAPI", nil))
	if a != b || c != d || a == c {
		t.Errorf("simple binds share %v, SASL binds %v, simple and SASL %v: want true, true, false", a == b, c == d, a == c)
	}
	if *a != (flow.LDAPBindAuth{Auth: "simple", Kind: "simple"}) || *c != (flow.LDAPBindAuth{Auth: "sasl", Kind: "sasl"}) {
		t.Errorf("blocks %+v %+v", *a, *c)
	}
}

// msg4 is msg with the 4-octet length forms of Active Directory.
func msg4(id byte, op []byte) []byte { return tlv4(0x30, integer(id), op) }

func TestDigestMD5SecurityLayer(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	s.Client(saslBind(1, "", "DIGEST-MD5", nil))
	s.Server(bindResponse(1, 14, "", tlv(0x87, []byte(`nonce="abc",realm="x",qop="auth-conf"`))))
	s.Client(saslBind(2, "", "DIGEST-MD5", []byte(`username="alice",response=0123456789abcdef`)))
	s.Server(bindResponse(2, 0, "", tlv(0x87, []byte("rspauth=0123"))))
	// The search that follows is SASL-wrapped: a 4-octet length, then the protected token.
	wrapped := append([]byte{0, 0, 0, 0x40}, bytes.Repeat([]byte{0xa5}, 0x40)...)
	if v := s.Client(wrapped); v != flow.Done {
		t.Fatalf("verdict on the wrapped stream %v, want Done", v)
	}
	l := s.facts()
	if !l.SASLLayer || s.F.ParseErrors != 0 || !l.DeprecatedSASL || l.CleartextPassword {
		t.Errorf("sasl_layer %v errors %d deprecated %v cleartext_password %v", l.SASLLayer, s.F.ParseErrors, l.DeprecatedSASL, l.CleartextPassword)
	}
	if len(l.Binds) != 2 || l.Binds[0].Result != 14 || l.Binds[0].ResultName != "saslBindInProgress" || l.Binds[1].Result != 0 || !l.Binds[1].CredentialsPresent {
		t.Errorf("binds %+v", l.Binds)
	}
}

func TestWrappedWithoutSASLIsAnError(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	s.Client(anonBind)
	s.Server(bindOK)
	if v := s.Client([]byte{0, 0, 0, 0x40, 1, 2, 3}); v != flow.Reject {
		t.Fatalf("verdict %v, want Reject", v)
	}
	if s.F.ParseErrors != 1 || s.F.LDAP.SASLLayer {
		t.Errorf("errors %d sasl_layer %v", s.F.ParseErrors, s.F.LDAP.SASLLayer)
	}
}

func TestStartTLS(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	s.Client(startTLS)
	if v := s.Server(extendedResponse(1, 0, "", oidStartTLS)); v != flow.More {
		t.Fatalf("verdict %v after the StartTLS response, want More (the TLS handshake follows)", v)
	}
	s.Client(clientHello)
	if s.F.TLS == nil || s.F.ParseErrors != 0 {
		t.Fatalf("the bytes after StartTLS did not reach the TLS parser (errors %d %s)", s.F.ParseErrors, s.F.ParseError)
	}
	l := s.facts()
	if l.StartTLS == nil || !l.StartTLS.Answered || l.StartTLS.Result != 0 || !l.StartTLS.Upgraded || l.StartTLS.Frame != 1 || l.StartTLS.Response.Frame != 2 {
		t.Fatalf("starttls %+v", l.StartTLS)
	}
	if !l.Upgraded || l.Cleartext || l.StartTLSFailed || s.F.ParseErrors != 0 {
		t.Errorf("upgraded %v cleartext %v failed %v errors %d", l.Upgraded, l.Cleartext, l.StartTLSFailed, s.F.ParseErrors)
	}
	if l.ExtendedCount != 0 || l.Ops.ExtendedRequest != 1 || l.Ops.ExtendedResponse != 1 {
		t.Errorf("extended %d ops %+v", l.ExtendedCount, l.Ops)
	}
}

func TestStartTLSResponseMissing(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	s.Client(startTLS)
	s.Client(clientHello)
	l := s.facts()
	if !l.Upgraded || l.StartTLS.Answered || s.F.ParseErrors != 0 {
		t.Errorf("upgraded %v answered %v errors %d", l.Upgraded, l.StartTLS.Answered, s.F.ParseErrors)
	}
}

func TestStartTLSFailed(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	s.Client(startTLS)
	s.Server(extendedResponse(1, 2, "unsupported extended operation", ""))
	s.Client(cat(simpleBind(2, "", ""), search(3, "dc=example,dc=org", 2, tlv(0x87, []byte("objectClass")))))
	s.Server(cat(bindResponse(2, 0, ""), searchDone(3, 0)))
	l := s.facts()
	st := l.StartTLS
	if st == nil || !st.Answered || st.Result != 2 || st.ResultName != "protocolError" || st.Upgraded || st.ClearAfter != 4 {
		t.Fatalf("starttls %+v", st)
	}
	if !l.StartTLSFailed || l.Upgraded || !l.Cleartext || !l.AnonymousBind || l.Messages != 6 {
		t.Errorf("facts %+v", l)
	}
}

func TestSearchSPN(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	s.Client(search(5, "DC=corp,DC=example,DC=com", 2, spnFilter(), "sAMAccountName", "servicePrincipalName"))
	s.Server(cat(entry(5, "CN=svc,DC=corp", "servicePrincipalName", []byte("MSSQLSvc/db:1433")), searchDone(5, 0)))
	l := s.facts()
	if len(l.Searches) != 1 || l.SearchCount != 1 {
		t.Fatalf("searches %+v", l.Searches)
	}
	q := l.Searches[0]
	if q.Base != "DC=corp,DC=example,DC=com" || q.Scope != "sub" || q.AttributeCount != 2 ||
		strings.Join(q.Attributes, ",") != "sAMAccountName,servicePrincipalName" ||
		strings.Join(q.FilterAttributes, ",") != "objectClass,servicePrincipalName" || !q.SPN {
		t.Errorf("search %+v", q)
	}
	if q.Entries != 1 || !q.Answered || q.Result != 0 || !l.SPNSearch {
		t.Errorf("answer %+v spn_search %v", q, l.SPNSearch)
	}
	if l.Ops.SearchRequest != 1 || l.Ops.SearchResultEntry != 1 || l.Ops.SearchResultDone != 1 {
		t.Errorf("ops %+v", l.Ops)
	}
}

func TestFilterAttributesDistinctAndBounded(t *testing.T) {
	var items [][]byte
	for i := 0; i < 20; i++ {
		items = append(items, tlv(0xa3, str(string(rune('a'+i))), str("v")), tlv(0xa3, str(strings.ToUpper(string(rune('a'+i)))), str("v")))
	}
	items = append(items, tlv(0xa2, tlv(0xa4, str("cn"), tlv(0x30, tlv(0x80, []byte("x"))))),
		tlv(0xa9, tlv(0x82, []byte("SERVICEPRINCIPALNAME")), tlv(0x83, []byte("y"))))
	s := newSession(t, flow.TCP, 389)
	s.Client(search(2, "", 0, tlv(0xa1, items...)))
	q := s.facts().Searches[0]
	if len(q.FilterAttributes) != maxFilterAttrs || q.FilterAttributes[0] != "a" || q.FilterAttributes[1] != "b" || !q.SPN {
		t.Errorf("filter attributes %v spn %v", q.FilterAttributes, q.SPN)
	}
}

func TestLongFormLengths(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	req := msg4(7, tlv4(0x60, integer(3), tlv4(0x04, []byte("CN=User1,CN=Users,DC=corp")), tlv4(0xa3, str("GSS-SPNEGO"), tlv4(0x04, []byte{0x60, 0x02, 0x06, 0x00}))))
	resp := msg4(7, tlv4(0x61, enum(0), tlv4(0x04), tlv4(0x04), tlv4(0x87, []byte{0xa1, 0x00})))
	s.Client(req)
	s.Server(resp)
	l := s.facts()
	if len(l.Binds) != 1 || l.Binds[0].DN != "CN=User1,CN=Users,DC=corp" || l.Binds[0].Mechanism != "GSS-SPNEGO" || l.Binds[0].Result != 0 {
		t.Errorf("binds %+v", l.Binds)
	}
	if s.F.ParseErrors != 0 {
		t.Errorf("parse error %s", s.F.ParseError)
	}
}

func TestTwoMessagesOneSegment(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	s.Client(cat(pwBind, unbind(2)))
	l := s.facts()
	if l.Messages != 2 || l.Ops.UnbindRequest != 1 || len(l.Binds) != 1 {
		t.Errorf("messages %d ops %+v", l.Messages, l.Ops)
	}
}

func TestMessageAcrossSegments(t *testing.T) {
	stream := cat(pwBind, search(2, "dc=example,dc=org", 2, spnFilter(), "cn"), unbind(3))
	for _, size := range []int{1, 2, 3, 7, 29, 30, 64} {
		s := newSession(t, flow.TCP, 389)
		for i := 0; i < len(stream); i += size {
			s.Client(stream[i:min(i+size, len(stream))])
		}
		l := s.facts()
		if l.Messages != 3 || len(l.Binds) != 1 || l.Binds[0].PasswordLen != 8 || len(l.Searches) != 1 || !l.SPNSearch || l.Ops.UnbindRequest != 1 {
			t.Errorf("segments of %d: messages %d binds %+v", size, l.Messages, l.Binds)
		}
		if l.Binds[0].Frame != uint64(30/size)+boolInt(30%size != 0) {
			t.Errorf("segments of %d: bind event in frame %d", size, l.Binds[0].Frame)
		}
		if s.F.ParseErrors != 0 {
			t.Errorf("segments of %d: %s", size, s.F.ParseError)
		}
	}
}

func boolInt(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestResponseFirstReverses(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	// The capture starts with the server's answer: the engine takes its sender for the client.
	s.Client(bindOK)
	if !s.Swapped {
		t.Fatal("a response first did not reverse the flow")
	}
	s.Server(simpleBind(2, "cn=x", "pw")) // the real client, on the side first taken for the server
	l := s.facts()
	if l.Messages != 2 || len(l.Binds) != 1 {
		t.Errorf("messages %d binds %d", l.Messages, len(l.Binds))
	}
}

func TestResponseFromServerSideKeepsOrientation(t *testing.T) {
	s := newSession(t, flow.TCP, 389)
	s.Client([]byte("\xf1\x36\x5c\xd0 not LDAP")) // the client's request arrived garbled
	s.Server(bindOK)
	if s.Swapped || s.facts().Ops.BindResponse != 1 {
		t.Errorf("swapped %v ops %+v", s.Swapped, s.F.LDAP.Ops)
	}
	// A request sent by the side taken for the server turns the flow round.
	s = newSession(t, flow.TCP, 389)
	s.Server(anonBind)
	if !s.Swapped {
		t.Error("a request from the server side did not reverse the flow")
	}
}

func TestCLDAPNetlogon(t *testing.T) {
	s := newSession(t, flow.UDP, 389)
	filter := tlv(0xa0,
		tlv(0xa3, str("DnsDomain"), str("example.com")),
		tlv(0xa3, str("Host"), str("WS1")),
		tlv(0xa3, str("NtVer"), str("\x06\x00\x00\x00")))
	req := search(1, "", 0, filter, "Netlogon")
	s.Client(req)
	netlogon := bytes.Repeat([]byte{0x17, 0x00, 0x00, 0x00, 0xfd, 0xf3}, 40)
	resp := cat(entry(1, "", "Netlogon", netlogon), searchDone(1, 0))
	s.Server(resp)
	l := s.facts()
	if !l.CLDAP || l.RequestBytes != uint64(len(req)) || l.ResponseBytes != uint64(len(resp)) {
		t.Fatalf("cldap %v request %d response %d", l.CLDAP, l.RequestBytes, l.ResponseBytes)
	}
	if want := float64(len(resp)) / float64(len(req)); l.Amplification != want {
		t.Errorf("amplification %v want %v", l.Amplification, want)
	}
	q := l.Searches[0]
	if q.Scope != "base" || q.Attributes[0] != "Netlogon" || q.Entries != 1 || q.Result != 0 || strings.Join(q.FilterAttributes, ",") != "DnsDomain,Host,NtVer" {
		t.Errorf("search %+v", q)
	}
}

func TestCLDAPTruncatedDatagram(t *testing.T) {
	s := newSession(t, flow.UDP, 389)
	req := search(1, "", 0, tlv(0x87, []byte("objectClass")))
	if v := s.Client(req[:len(req)-3]); v != flow.Reject || s.F.Label != flow.Unknown {
		t.Fatalf("a truncated first datagram: verdict %v label %v", v, s.F.Label)
	}
	s.Client(req)
	s.Client(req[:10])
	if s.facts().Messages != 1 || s.F.ParseErrors != 1 {
		t.Errorf("messages %d errors %d", s.F.LDAP.Messages, s.F.ParseErrors)
	}
}

func TestExtendedOps(t *testing.T) {
	pm := msg(2, tlv(0x77, tlv(0x80, []byte(oidPasswordModify)),
		tlv(0x81, tlv(0x30, tlv(0x80, []byte("uid=alice")), tlv(0x81, []byte("oldpw")), tlv(0x82, []byte("newpw"))))))
	s := newSession(t, flow.TCP, 389)
	s.Client(msg(1, tlv(0x77, tlv(0x80, []byte("1.3.6.1.4.1.4203.1.11.3")))), pm, msg(3, tlv(0x77, tlv(0x80, []byte("1.2.3.4")))))
	s.Server(extendedResponse(1, 0, "", ""), extendedResponse(2, 50, "", ""))
	l := s.facts()
	if l.ExtendedCount != 3 || len(l.Extended) != 3 {
		t.Fatalf("extended %+v", l.Extended)
	}
	w, p, o := l.Extended[0], l.Extended[1], l.Extended[2]
	if w.Name != "whoami" || !w.Answered || w.Result != 0 || w.CarriesPassword {
		t.Errorf("whoami %+v", w)
	}
	if p.Name != "password_modify" || !p.CarriesPassword || p.Result != 50 || !l.PasswordModify {
		t.Errorf("password modify %+v", p)
	}
	if o.Name != "" || o.OID != "1.2.3.4" || o.Answered {
		t.Errorf("other %+v", o)
	}
	if l.StartTLS != nil || l.Upgraded {
		t.Error("StartTLS seen")
	}
}

func TestTLSPort(t *testing.T) {
	s := newSession(t, flow.TCP, 636)
	s.Client(anonBind)
	if !s.facts().TLSPort {
		t.Error("cleartext LDAP on 636 not flagged")
	}
	s = newSession(t, flow.TCP, 389)
	s.Client(anonBind)
	if s.facts().TLSPort {
		t.Error("389 flagged as a TLS port")
	}
}

func TestBounds(t *testing.T) {
	var stream []byte
	for i := 0; i < 40; i++ {
		stream = append(stream, simpleBind(byte(i+1), strings.Repeat("x", 300), "pw")...)
		stream = append(stream, search(byte(i+1), "", 0, tlv(0x87, []byte("cn")), "a", "b", "c", "d", "e", "f", "g", "h", "i", strings.Repeat("z", 100))...)
	}
	s := newSession(t, flow.TCP, 389)
	s.Client(stream)
	l := s.facts()
	if len(l.Binds) != maxBinds || l.BindCount != 40 || len(l.Searches) != maxSearches || l.SearchCount != 40 {
		t.Errorf("binds %d/%d searches %d/%d", len(l.Binds), l.BindCount, len(l.Searches), l.SearchCount)
	}
	if len(l.Binds[0].DN) != maxDN || len(l.Searches[0].Attributes) != maxAttrs || l.Searches[0].AttributeCount != 10 {
		t.Errorf("dn %d attributes %d/%d", len(l.Binds[0].DN), len(l.Searches[0].Attributes), l.Searches[0].AttributeCount)
	}
}

func TestRejects(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	random := make([]byte, 512)
	rnd.Read(random)
	cases := map[string][]byte{
		"mqtt connect":         mqttConnect,
		"mqtt publish":         mqttPublish,
		"tls client hello":     clientHello,
		"http":                 []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
		"random":               random,
		"indefinite length":    indefinite,
		"unknown operation":    msg(1, tlv(0x7a, str("x"))),
		"primitive bind":       msg(1, tlv(0x40, integer(3))),
		"constructed unbind":   msg(1, tlv(0x62)),
		"negative message id":  tlv(0x30, []byte{0x02, 0x01, 0xff}, []byte{0x42, 0x00}),
		"5-octet message id":   tlv(0x30, []byte{0x02, 0x05, 0, 0, 0, 0, 1}, []byte{0x42, 0x00}),
		"op past the envelope": {0x30, 0x07, 0x02, 0x01, 0x01, 0x60, 0x10, 0x02, 0x01},
		"trailing garbage":     cat(msg(1, []byte{0x42, 0x00}), []byte{0x00})[:0],
		"bad version":          msg(1, tlv(0x60, integer(0), str(""), tlv(0x80))),
		"bad scope":            search(1, "", 9, tlv(0x87, []byte("cn"))),
		"extra after auth":     msg(1, tlv(0x60, integer(3), str(""), tlv(0x80), str("x"))),
		"4 GiB length":         {0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01, 0x60},
		"2 MiB message":        {0x30, 0x83, 0x20, 0x00, 0x00, 0x02, 0x01, 0x01, 0x60},
		"sasl layer token":     {0x00, 0x00, 0x00, 0x40, 0x05, 0x04, 0x01, 0xff},
	}
	cases["trailing garbage"] = tlv(0x30, integer(1), []byte{0x42, 0x00, 0x00})
	for name, data := range cases {
		for _, tr := range []flow.Transport{flow.TCP, flow.UDP} {
			f := flow.New()
			f.Transport = tr
			v, _ := New().Inspect(f, flow.FromClient, data)
			if v != flow.Reject || f.Label != flow.Unknown || f.LDAP != nil || f.State != nil || f.ParseErrors != 0 {
				t.Errorf("%s over %v: verdict %v label %v", name, tr, v, f.Label)
			}
		}
	}
}

func TestHostile(t *testing.T) {
	// A filter of 10,000 nested NOTs.
	deep := tlv(0x87, []byte("cn"))
	for i := 0; i < 10000; i++ {
		deep = tlv(0xa2, deep)
	}
	deepSearch := search(2, "", 0, deep)
	// 10,000 nested SEQUENCEs where the message ID should be.
	nested := []byte{0x02, 0x01, 0x01}
	for i := 0; i < 10000; i++ {
		nested = tlv(0x30, nested)
	}
	cases := []struct {
		name   string
		data   []byte
		reject bool // inspection must stop
		errs   uint32
	}{
		{"filter nested 10,000 deep", deepSearch, false, 1},
		{"sequences nested 10,000 deep", nested, true, 1},
		{"length past the end of the operation", []byte{0x30, 0x0a, 0x02, 0x01, 0x02, 0x60, 0x05, 0x02, 0x01, 0x03, 0x04, 0x7f}, false, 1},
		{"4 GiB length", []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01}, true, 1},
		{"message over 1 MiB", []byte{0x30, 0x83, 0x10, 0x00, 0x01, 0x02, 0x01, 0x01}, true, 1},
		{"indefinite length", indefinite, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Unclaimed: rejected.
			f := flow.New()
			f.Transport = flow.TCP
			if v, _ := New().Inspect(f, flow.FromClient, c.data); v != flow.Reject || f.Label != flow.Unknown {
				t.Errorf("unclaimed: verdict %v label %v", v, f.Label)
			}
			// After a claim: counted as a parse error.
			s := newSession(t, flow.TCP, 389)
			s.Client(anonBind)
			v := s.Client(c.data)
			if c.reject != (v == flow.Reject) || s.F.ParseErrors != c.errs {
				t.Errorf("claimed: verdict %v errors %d (%s)", v, s.F.ParseErrors, s.F.ParseError)
			}
			if !c.reject {
				// The malformed message is skipped and the next one is read.
				s.Client(unbind(3))
				if s.F.LDAP.Ops.UnbindRequest != 1 {
					t.Error("the message after a malformed one was not read")
				}
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	stream := cat(simpleBind(1, "cn=admin,dc=example,dc=org", "adminpass"), search(2, "dc=example,dc=org", 2, spnFilter(), "cn", "mail"))
	for i := 0; i < len(stream); i++ {
		for _, tr := range []flow.Transport{flow.TCP, flow.UDP} {
			f := flow.New()
			f.Transport = tr
			v, n := New().Inspect(f, flow.FromClient, stream[:i])
			first := len(simpleBind(1, "cn=admin,dc=example,dc=org", "adminpass"))
			switch {
			case i < first && f.Label != flow.Unknown:
				t.Fatalf("prefix %d over %v claimed", i, tr)
			case i < first && tr == flow.TCP && v != flow.More && i > 0:
				t.Fatalf("prefix %d over TCP: verdict %v, want More", i, v)
			case i < first && tr == flow.UDP && v != flow.Reject && i > 0:
				t.Fatalf("prefix %d over UDP: verdict %v, want Reject", i, v)
			case i >= first && tr == flow.TCP && (f.Label != flow.LDAP || n != first || f.LDAP.Messages != 1):
				t.Fatalf("prefix %d over TCP: label %v n %d", i, f.Label, n)
			}
		}
	}
}

func TestNoSecretsInFacts(t *testing.T) {
	secrets := []string{"secret99", "alicepass", "oldpw", "newpw", "hunter2"}
	s := newSession(t, flow.TCP, 389)
	s.Client(pwBind, saslBind(2, "", "PLAIN", []byte("\x00alice\x00alicepass")), simpleBind(3, "", "hunter2"),
		msg(4, tlv(0x77, tlv(0x80, []byte(oidPasswordModify)), tlv(0x81, tlv(0x30, tlv(0x81, []byte("oldpw")), tlv(0x82, []byte("newpw")))))))
	out := detectortest.NoSecrets(t, s.facts(), secrets...)
	if !bytes.Contains(out, []byte(`"password_len":8`)) {
		t.Errorf("password length missing: %s", out)
	}
}

func TestAllocs(t *testing.T) {
	rejects := [][]byte{mqttConnect, mqttPublish, clientHello, indefinite, []byte("GET / HTTP/1.1\r\n"),
		msg(1, tlv(0x7a)), search(1, "", 9, spnFilter())}
	d := New()
	f := flow.New()
	f.Transport = flow.TCP
	for _, r := range rejects {
		if a := testing.AllocsPerRun(100, func() { d.Inspect(f, flow.FromClient, r) }); a != 0 {
			t.Errorf("Reject of % x allocates %v", r[:min(8, len(r))], a)
		}
	}
	// Partial first message: More, no allocation.
	if a := testing.AllocsPerRun(100, func() { d.Inspect(f, flow.FromClient, pwBind[:10]) }); a != 0 {
		t.Errorf("More on a partial message allocates %v", a)
	}
	// After the claim, messages that keep no fact do not allocate.
	s := newSession(t, flow.TCP, 389)
	s.Client(anonBind)
	bulk := cat(entry(9, "cn=x", "cn", []byte("x")), unbind(9), searchDone(9, 0), msg(9, tlv(0x66, str("cn=x"), tlv(0x30))))
	if a := testing.AllocsPerRun(100, func() { d.Inspect(s.F, flow.FromServer, bulk) }); a != 0 {
		t.Errorf("bulk messages allocate %v", a)
	}
	// Searches past the list bound do not allocate either (the filter walk is on the stack).
	for i := 0; i < maxSearches; i++ {
		s.Client(search(byte(i), "", 0, spnFilter(), "cn"))
	}
	more := search(99, "", 2, spnFilter(), "cn", "servicePrincipalName")
	if a := testing.AllocsPerRun(100, func() { d.Inspect(s.F, flow.FromClient, more) }); a != 0 {
		t.Errorf("a search past the bound allocates %v", a)
	}
}

func BenchmarkInspect(b *testing.B) {
	var stream []byte
	for i := 0; i < 50; i++ {
		stream = append(stream, entry(2, "CN=User,CN=Users,DC=corp,DC=example,DC=com", "memberOf",
			[]byte("CN=Domain Users,CN=Users,DC=corp,DC=example,DC=com"), []byte("CN=Staff,DC=corp"))...)
	}
	stream = append(stream, searchDone(2, 0)...)
	d := New()
	f := flow.New()
	f.Transport = flow.TCP
	d.Inspect(f, flow.FromClient, search(2, "DC=corp", 2, spnFilter(), "cn"))
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Inspect(f, flow.FromServer, stream)
	}
}

func BenchmarkReject(b *testing.B) {
	d := New()
	f := flow.New()
	f.Transport = flow.TCP
	data := cat(mqttPublish, bytes.Repeat([]byte{'x'}, 100))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		d.Inspect(f, flow.FromClient, data)
	}
}

func TestLargeFirstMessageClaimsEarly(t *testing.T) {
	big := entry(4, "CN=Big,DC=corp", "member", bytes.Repeat([]byte("CN=Someone,OU=Users,DC=corp;"), 400))
	s := newSession(t, flow.TCP, 389)
	s.F.ClientKnown = true // no reversal: the test looks at the claim only
	for i := 0; i < len(big); i += 1460 {
		s.Server(big[i:min(i+1460, len(big))])
		claimed := s.F.Label == flow.LDAP
		if buffered := min(i+1460, len(big)); claimed != (buffered >= claimPartialAt) {
			t.Fatalf("after %d bytes claimed %v", buffered, claimed)
		}
	}
	if l := s.facts(); l.Messages != 1 || l.Ops.SearchResultEntry != 1 || s.F.ParseErrors != 0 {
		t.Errorf("messages %d ops %+v errors %d", l.Messages, l.Ops, s.F.ParseErrors)
	}
}

// BenchmarkSession claims a fresh flow per iteration: bind with password, search, answers.
func BenchmarkSession(b *testing.B) {
	req := cat(pwBind, search(2, "DC=corp,DC=example,DC=com", 2, spnFilter(), "cn", "servicePrincipalName"), unbind(3))
	resp := cat(bindOK, entry(2, "CN=svc,DC=corp", "servicePrincipalName", []byte("MSSQLSvc/db:1433")), searchDone(2, 0))
	d := New()
	b.ReportAllocs()
	b.SetBytes(int64(len(req) + len(resp)))
	for i := 0; i < b.N; i++ {
		f := flow.New()
		f.Transport = flow.TCP
		d.Inspect(f, flow.FromClient, req)
		d.Inspect(f, flow.FromServer, resp)
	}
}

// TestStateFitsItsSizeClass: every LDAP flow holds its detector state while it is inspected;
// 128 bytes is a size class of Go's allocator, one byte more would take 144.
func TestStateFitsItsSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(state{}); s > 128 {
		t.Errorf("the LDAP detector's state is %d bytes, want at most 128", s)
	}
}

// TestPendingRingKeepsEveryField: a request pushed on the ring comes back from it as it went
// in (its id, operation, index and flags), also once the ring is full and wraps.
func TestPendingRingKeepsEveryField(t *testing.T) {
	var st state
	want := map[int32]pending{}
	for i := range int32(maxPending + 3) {
		p := pending{id: 1000 + i, op: []byte{opBindRequest, opSearchRequest, opExtendedRequest}[i%3], idx: int8(i%5) - 1,
			wrap: i%2 == 0, tls: i%3 == 2}
		st.push(p)
		want[p.id] = p
	}
	if st.npend != maxPending {
		t.Fatalf("%d requests on the ring, want %d", st.npend, maxPending)
	}
	found := 0
	for id, p := range want {
		got, ok := st.take(id, p.op, true)
		if !ok {
			continue // overwritten when the ring wrapped
		}
		found++
		if got != p {
			t.Errorf("request %d: got %+v, want %+v", id, got, p)
		}
	}
	if found != maxPending || st.npend != 0 {
		t.Errorf("%d requests found, %d left, want %d and 0", found, st.npend, maxPending)
	}
}
