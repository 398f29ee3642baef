package rules

import (
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

var (
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cli = netip.MustParseAddrPort("192.0.2.10:40000")
)

func at(frame uint64) flow.Event {
	return flow.Event{Frame: frame, Time: flow.TimeOf(t0.Add(time.Duration(frame) * time.Millisecond))}
}

func baseRecord(l flow.Label, tr flow.Transport, serverPort uint16) *flow.Record {
	return &flow.Record{
		File: flow.FileRefOf("x.pcap"), FirstFrame: 1, Start: flow.TimeOf(t0), End: flow.TimeOf(t0.Add(2 * time.Second)), Transport: tr,
		Client: cli, Server: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.5"), serverPort),
		ClientKnown: true, Label: l, ProtoFrame: 4, ProtoTime: at(4).Time,
		Packets: [2]uint64{5, 5}, Bytes: [2]uint64{500, 900}, Payload: [2]uint64{200, 600},
		EndReason: flow.EndFIN,
	}
}

// Safe records: a well-configured use of each protocol, on which the default policy raises
// nothing. Every fire case starts from one of them and changes what the rule is about.

func safeLDAP() *flow.Record { // LDAP upgraded by StartTLS to TLS 1.3, nothing in cleartext
	r := baseRecord(flow.LDAP, flow.TCP, 389)
	r.LDAP = &flow.LDAPFacts{First: at(4), Messages: 2, StartTLS: &flow.LDAPStartTLS{Event: at(4), Answered: true, Result: 0,
		ResultName: "success", Response: at(5), Upgraded: true}, Upgraded: true}
	r.TLS = safeTLSFacts()
	return r
}

func safeTLSFacts() *flow.TLSFacts {
	return &flow.TLSFacts{Version: "1.3", VersionProtocol: "tls", Cipher: "TLS_AES_128_GCM_SHA256", Kex: "tls13",
		Established: true, ClientHello: at(6), ServerHello: at(7), Client: flow.NoTLSClient(), Server: new(flow.TLSServerFacts)}
}

func safeTLS12Facts() *flow.TLSFacts {
	ok := true
	return &flow.TLSFacts{Version: "1.2", VersionProtocol: "tls", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Kex: "ecdhe",
		Established: true, NameMatchesSNI: &ok, ClientHello: at(4), ServerHello: at(5), Certificate: at(5),
		Client: &flow.TLSClientFacts{ServerName: "ldap.example.org"},
		Server: &flow.TLSServerFacts{Subject: "CN=ldap.example.org", Issuer: "CN=Example CA", NotBefore: flow.DateOf(t0.AddDate(0, -1, 0)),
			NotAfter: flow.DateOf(t0.AddDate(1, 0, 0)), X509: flow.X509Facts{PublicKeyAlgorithm: "RSA", PublicKeySize: 2048}}}
}

func safeLDAPS() *flow.Record {
	r := baseRecord(flow.LDAPS, flow.TCP, 636)
	r.TLS = safeTLS12Facts()
	return r
}

func safeSIPTLS() *flow.Record {
	r := baseRecord(flow.SIPTLS, flow.TCP, 5061)
	r.TLS = safeTLSFacts()
	return r
}

func safeNTP() *flow.Record { // an NTPv4 client exchange authenticated by NTS
	r := baseRecord(flow.NTP, flow.UDP, 123)
	r.NTP = &flow.NTPFacts{First: at(4), Version: 4, Mode: 3, Modes: []int{3, 4}, Messages: 2, ClientMessages: 1, ServerMessages: 1,
		StandardPort: true, TimeVersion: 4, NTPAuth: &flow.NTPAuth{Auth: "nts", ClientAuthenticated: true, ServerAuthenticated: true},
		Request: flow.NTPTime{NTPTimeAuth: flow.NTPTimeAuthOf("")}, Response: flow.NTPTime{NTPTimeAuth: flow.NTPTimeAuthOf("")},
		AuthenticatedResponses: 1, RequestBytes: 228, ResponseBytes: 228, Amplification: 1, NTPRare: &flow.NTPRare{}}
	return r
}

// cleartextSIP is SIP over UDP: any of it raises sip.cleartext, so SIP rules other than that
// one are checked against it with sip.cleartext left out.
func cleartextSIP() *flow.Record {
	r := baseRecord(flow.SIP, flow.UDP, 5060)
	r.SIP = &flow.SIPFacts{First: at(4), Messages: 2, Requests: 1, Responses: 1, Methods: flow.SIPMethods{Options: 1, SIPMethodsRare: &flow.SIPMethodsRare{}},
		Method: "OPTIONS", UserAgent: "Linphone/5.2", SIPAuthPart: &flow.SIPAuthPart{}, SIPMediaPart: &flow.SIPMediaPart{},
		SIPScannerPart: &flow.SIPScannerPart{}}
	return r
}

func with(r *flow.Record, mod func(*flow.Record)) *flow.Record { mod(r); return r }

func simpleBind(frame uint64, dn string, pwLen int32) flow.LDAPBind {
	return flow.LDAPBind{Event: at(frame), MessageID: 1, Version: 3, DN: dn, LDAPBindAuth: &flow.LDAPBindAuth{Auth: "simple", Kind: "simple"},
		PasswordPresent: pwLen > 0, PasswordLen: pwLen, Answered: true, Result: 0, ResultName: "success", Response: at(frame + 1)}
}

func cleartextLDAP(binds ...flow.LDAPBind) *flow.Record {
	r := baseRecord(flow.LDAP, flow.TCP, 389)
	r.LDAP = &flow.LDAPFacts{First: at(4), Messages: uint32(2*len(binds) + 2), Cleartext: true, Binds: binds, BindCount: uint32(len(binds)),
		LDAPExtendedPart: &flow.LDAPExtendedPart{}}
	return r
}

type ruleCase struct {
	id         string
	fire, safe *flow.Record
	// before are records checked first, by the same checker (for threshold rules).
	before []*flow.Record
	// ignore lists other rules the fire record raises too (as it must: SIP in cleartext is
	// always sip.cleartext); any finding outside id and ignore fails the test.
	ignore []string
	// frame is the evidence frame the finding must point at (0: not checked).
	frame uint64
	// msg are substrings the message must contain.
	msg []string
}

func defaultRuleCases() []ruleCase {
	failed := func(frame uint64) flow.LDAPBind {
		b := simpleBind(frame, "uid=alice,dc=example,dc=org", 0)
		b.Kind, b.Result, b.ResultName = "unauthenticated", 49, "invalidCredentials"
		return b
	}
	return []ruleCase{
		{id: "ldap.cleartext-password",
			fire: cleartextLDAP(simpleBind(4, "", 0), simpleBind(9, "cn=admin,dc=example,dc=org", 9)),
			safe: cleartextLDAP(flow.LDAPBind{Event: at(4), LDAPBindAuth: &flow.LDAPBindAuth{Auth: "sasl", Kind: "sasl"}, Mechanism: "GSSAPI", CredentialsPresent: true, CredentialsLen: 1200}),
			// the first bind is anonymous in form (empty DN, no password)
			ignore: []string{"ldap.cleartext", "ldap.unauthenticated-bind", "ldap.anonymous-bind"},
			frame:  9, msg: []string{`"cn=admin,dc=example,dc=org"`, "9-byte password", "result success"}},
		{id: "ldap.cleartext-sasl-password",
			fire:   cleartextLDAP(flow.LDAPBind{Event: at(6), LDAPBindAuth: &flow.LDAPBindAuth{Auth: "sasl", Kind: "sasl"}, Mechanism: "PLAIN", CredentialsPresent: true, CredentialsLen: 22, ReusablePassword: true}),
			safe:   cleartextLDAP(flow.LDAPBind{Event: at(6), LDAPBindAuth: &flow.LDAPBindAuth{Auth: "sasl", Kind: "sasl"}, Mechanism: "EXTERNAL"}),
			ignore: []string{"ldap.cleartext"}, frame: 6, msg: []string{"SASL PLAIN", "22 bytes"}},
		{id: "ldap.anonymous-bind",
			fire:   cleartextLDAP(with1(simpleBind(5, "", 0), func(b *flow.LDAPBind) { b.Kind = "anonymous" })),
			safe:   cleartextLDAP(simpleBind(5, "cn=svc,dc=example,dc=org", 12)),
			ignore: []string{"ldap.cleartext", "ldap.cleartext-password"}, frame: 5},
		{id: "ldap.unauthenticated-bind",
			fire:   cleartextLDAP(with1(simpleBind(5, "cn=bob,dc=example,dc=org", 0), func(b *flow.LDAPBind) { b.Kind = "unauthenticated" })),
			safe:   cleartextLDAP(with1(simpleBind(5, "", 0), func(b *flow.LDAPBind) { b.Kind = "anonymous" })),
			ignore: []string{"ldap.cleartext", "ldap.anonymous-bind"}, frame: 5, msg: []string{`"cn=bob,dc=example,dc=org"`}},
		{id: "ldap.cleartext", fire: cleartextLDAP(), safe: safeLDAP(), frame: 4, msg: []string{"2 LDAP messages"}},
		{id: "ldap.starttls-failed",
			fire: with(cleartextLDAP(), func(r *flow.Record) {
				r.LDAP.StartTLSFailed = true
				r.LDAP.StartTLS = &flow.LDAPStartTLS{Event: at(4), Answered: true, Result: 52, ResultName: "unavailable", Response: at(5), ClearAfter: 3}
			}),
			safe: safeLDAP(), ignore: []string{"ldap.cleartext"}, frame: 5, msg: []string{"unavailable (52)", "3 LDAP messages"}},
		{id: "ldap.deprecated-sasl",
			fire:   cleartextLDAP(flow.LDAPBind{Event: at(7), LDAPBindAuth: &flow.LDAPBindAuth{Auth: "sasl", Kind: "sasl"}, Mechanism: "DIGEST-MD5"}),
			safe:   cleartextLDAP(flow.LDAPBind{Event: at(7), LDAPBindAuth: &flow.LDAPBindAuth{Auth: "sasl", Kind: "sasl"}, Mechanism: "SCRAM-SHA-256"}),
			ignore: []string{"ldap.cleartext"}, frame: 7, msg: []string{"DIGEST-MD5"}},
		{id: "ldap.password-modify-cleartext",
			fire: with(cleartextLDAP(), func(r *flow.Record) {
				r.LDAP.LDAPExtendedPart = &flow.LDAPExtendedPart{Extended: []flow.LDAPExtended{{Event: at(8), OID: "1.3.6.1.4.1.4203.1.11.1",
					Name: "password_modify", CarriesPassword: true}}}
			}),
			safe: with(cleartextLDAP(), func(r *flow.Record) {
				r.LDAP.LDAPExtendedPart = &flow.LDAPExtendedPart{Extended: []flow.LDAPExtended{{Event: at(8), OID: "1.3.6.1.4.1.4203.1.11.3",
					Name: "whoami"}}}
			}),
			ignore: []string{"ldap.cleartext"}, frame: 8},
		{id: "ldap.bind-failures",
			fire:   with(cleartextLDAP(failed(4), failed(6), failed(8), failed(10), failed(12)), func(r *flow.Record) { r.LDAP.FailedBinds = 5 }),
			safe:   with(cleartextLDAP(failed(4)), func(r *flow.Record) { r.LDAP.FailedBinds = 1 }),
			ignore: []string{"ldap.cleartext", "ldap.unauthenticated-bind"}, frame: 4, msg: []string{"from 192.0.2.10", "5 on this connection"}},
		{id: "ldap.spn-search", fire: with(cleartextLDAP(), func(r *flow.Record) { r.LDAP.SPNSearch = true }), safe: cleartextLDAP(),
			ignore: []string{"ldap.cleartext"}, frame: 4},
		{id: "ldap.cldap-amplification",
			fire: with(baseRecord(flow.LDAP, flow.UDP, 389), func(r *flow.Record) {
				r.LDAP = &flow.LDAPFacts{First: at(4), Messages: 2, CLDAP: true, Cleartext: true, RequestBytes: 60, ResponseBytes: 3000, Amplification: 50}
			}),
			safe: with(baseRecord(flow.LDAP, flow.UDP, 389), func(r *flow.Record) {
				r.LDAP = &flow.LDAPFacts{First: at(4), Messages: 2, CLDAP: true, Cleartext: true, RequestBytes: 60, ResponseBytes: 200, Amplification: 3.33}
			}),
			frame: 4, msg: []string{"60 bytes", "3000 bytes"}},

		{id: "sip.cleartext", fire: cleartextSIP(), safe: safeSIPTLS(), frame: 4, msg: []string{"2 SIP messages over UDP to port 5060", "OPTIONS"}},
		{id: "sip.digest-cleartext",
			fire: with(cleartextSIP(), func(r *flow.Record) {
				r.SIP.Credentials = []flow.SIPCredential{
					{Event: at(6), Header: "authorization", Method: "REGISTER", Scheme: "Digest", Username: "alice", Realm: "example.org"},
					{Event: at(9), Header: "authorization", Method: "REGISTER", Scheme: "Digest", Username: "alice", Realm: "example.org", Response: true, ResponseLen: 32}}
			}),
			safe: with(cleartextSIP(), func(r *flow.Record) {
				r.SIP.Credentials = []flow.SIPCredential{{Event: at(6), Scheme: "Digest", Username: "alice", Response: true, ResponseLen: 0}}
			}),
			ignore: []string{"sip.cleartext"}, frame: 9, msg: []string{`user "alice"`, `realm "example.org"`, "MD5"}},
		{id: "sip.basic-credentials",
			fire: with(cleartextSIP(), func(r *flow.Record) {
				r.SIP.Credentials = []flow.SIPCredential{{Event: at(6), Scheme: "Basic", TokenLen: 24}}
			}),
			safe:   cleartextSIP(),
			ignore: []string{"sip.cleartext"}, frame: 6, msg: []string{"24 bytes"}},
		{id: "sip.sdes-cleartext",
			fire: with(cleartextSIP(), func(r *flow.Record) {
				r.SIP.SDESKeys, r.SIP.SDESKeysAt, r.SIP.CryptoSuites = true, at(11), []string{"AES_CM_128_HMAC_SHA1_80"}
			}),
			safe: cleartextSIP(), ignore: []string{"sip.cleartext"}, frame: 11, msg: []string{"AES_CM_128_HMAC_SHA1_80", "UDP"}},
		{id: "sip.unencrypted-media",
			fire: with(cleartextSIP(), func(r *flow.Record) {
				r.SIP.UnencryptedMedia, r.SIP.UnencryptedMediaAt = true, at(12)
				r.SIP.Media = []flow.SIPMedia{{Event: at(12), Type: "audio", Port: 4000, Proto: "RTP/AVP", Unencrypted: true}}
			}),
			safe: with(cleartextSIP(), func(r *flow.Record) {
				r.SIP.Media = []flow.SIPMedia{{Event: at(12), Type: "audio", Port: 4000, Proto: "UDP/TLS/RTP/SAVPF", Secure: true}}
			}),
			ignore: []string{"sip.cleartext"}, frame: 12, msg: []string{"audio RTP/AVP"}},
		{id: "sip.scanner",
			fire: with(cleartextSIP(), func(r *flow.Record) { r.SIP.UserAgent = "friendly-scanner" }), safe: cleartextSIP(),
			ignore: []string{"sip.cleartext"}, frame: 4, msg: []string{`"friendly-scanner"`}},
		{id: "sip.sweep",
			before: sweep(9), fire: sweepTo(10, 9), safe: sweepTo(1, 9),
			ignore: []string{"sip.cleartext"}, frame: 4, msg: []string{"OPTIONS from 192.0.2.10"}},
		{id: "sip.register-bruteforce",
			// Twelve guesses on one socket: credentials sent twelve times, never accepted.
			fire: with(cleartextSIP(), func(r *flow.Record) {
				r.SIP.Methods.Register = 12
				r.SIP.CredentialCount = 12
				r.SIP.Status = flow.SIPStatus{ClientError: 12}
				r.SIP.Codes = []flow.SIPCode{{Code: 401, Count: 12}}
			}),
			// An ordinary registration: challenge, credentials, 200.
			safe: with(cleartextSIP(), func(r *flow.Record) {
				r.SIP.Methods.Register = 2
				r.SIP.CredentialCount = 1
				r.SIP.Status = flow.SIPStatus{ClientError: 1, Success: 1}
				r.SIP.Codes = []flow.SIPCode{{Code: 401, Count: 1}, {Code: 200, Count: 1}}
			}),
			ignore: []string{"sip.cleartext"}, frame: 4, msg: []string{"12 on this flow, 0 accepted"}},

		{id: "ntp.monlist",
			fire: with(safeNTP(), func(r *flow.Record) {
				r.NTP.Monlist = flow.NTPMonlist{Seen: true, Requests: 1, Responses: 100, Answered: true, ResponseBytes: 44000, Request: at(4), Response: at(5)}
			}),
			safe: safeNTP(), frame: 4, msg: []string{"answered with 44000 bytes"}},
		{id: "ntp.mode7",
			fire: with(safeNTP(), func(r *flow.Record) {
				r.NTP.Mode7 = []flow.NTPPrivate{{At: at(6), Implementation: 3, RequestCode: 42, Name: "mon_getlist_1"},
					{At: at(8), Implementation: 3, RequestCode: 1, Name: "peer_list"}}
				r.NTP.Mode7Requests = 2
			}),
			safe: with(safeNTP(), func(r *flow.Record) {
				r.NTP.Mode7 = []flow.NTPPrivate{{At: at(6), Implementation: 3, RequestCode: 1, Name: "peer_list", Response: true}}
			}),
			frame: 8, msg: []string{"peer_list"}},
		{id: "ntp.mode6",
			fire: with(safeNTP(), func(r *flow.Record) {
				r.NTP.Mode6 = []flow.NTPControl{{At: at(6), Opcode: 2, Name: "readvar"}, {At: at(7), Opcode: 2, Name: "readvar", Response: true}}
				r.NTP.Mode6Requests, r.NTP.Mode6Responses, r.NTP.Mode6Answered = 1, 1, true
			}),
			safe: safeNTP(), frame: 6, msg: []string{"readvar", "answered"}},
		{id: "ntp.amplification",
			fire: with(safeNTP(), func(r *flow.Record) {
				r.NTP.Modes, r.NTP.RequestBytes, r.NTP.ResponseBytes, r.NTP.Amplification = []int{7}, 8, 48000, 6000
			}),
			safe:  with(safeNTP(), func(r *flow.Record) { r.NTP.Modes, r.NTP.RequestBytes, r.NTP.ResponseBytes = []int{6}, 12, 400 }),
			frame: 4, msg: []string{"(6000x)"}},
		{id: "ntp.unauthenticated",
			fire: with(safeNTP(), func(r *flow.Record) {
				r.NTP.Auth, r.NTP.AuthenticatedResponses, r.NTP.UnauthenticatedResponses = "none", 0, 3
			}),
			safe: safeNTP(), frame: 4, msg: []string{"3 server replies"}},
		{id: "ntp.old-version",
			fire: with(safeNTP(), func(r *flow.Record) { r.NTP.OldVersion, r.NTP.TimeVersion = true, 3 }),
			safe: safeNTP(), frame: 4, msg: []string{"version 3"}},

		{id: "tls.obsolete-version",
			fire: with(safeLDAPS(), func(r *flow.Record) { r.TLS.Version, r.TLS.Cipher = "1.0", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" }),
			safe: safeLDAPS(), frame: 5, msg: []string{"TLS 1.0"}},
		{id: "tls.weak-cipher",
			fire: with(safeSIPTLS(), func(r *flow.Record) {
				r.TLS.Version, r.TLS.Cipher, r.TLS.Kex = "1.2", "TLS_RSA_WITH_RC4_128_SHA", "rsa"
			}),
			safe:   safeSIPTLS(),
			ignore: []string{"tls.no-forward-secrecy"}, frame: 7, msg: []string{"TLS_RSA_WITH_RC4_128_SHA"}},
		{id: "tls.no-forward-secrecy",
			fire: with(safeLDAPS(), func(r *flow.Record) { r.TLS.Cipher, r.TLS.Kex = "TLS_RSA_WITH_AES_128_GCM_SHA256", "rsa" }),
			safe: safeLDAPS(), frame: 5, msg: []string{"rsa key exchange"}},
		{id: "tls.cert-expired",
			fire: with(safeLDAPS(), func(r *flow.Record) {
				r.TLS.Server.NotAfter, r.TLS.Server.Expired = flow.DateOf(t0.Add(-time.Hour)), true
			}),
			safe: safeLDAPS(), frame: 5, msg: []string{`"CN=ldap.example.org"`}},
		{id: "tls.self-signed",
			fire: with(safeLDAPS(), func(r *flow.Record) {
				r.TLS.Server.Issuer, r.TLS.Server.SelfIssued, r.TLS.Server.SelfSigned = r.TLS.Server.Subject, true, true
			}),
			safe: safeLDAPS(), frame: 5},
		{id: "tls.weak-key",
			fire: with(safeLDAPS(), func(r *flow.Record) { r.TLS.Server.X509.PublicKeySize = 1024 }),
			safe: safeLDAPS(), frame: 5, msg: []string{"RSA 1024-bit"}},
		{id: "tls.name-mismatch",
			fire: with(safeLDAPS(), func(r *flow.Record) { no := false; r.TLS.NameMatchesSNI = &no }),
			safe: safeLDAPS(), frame: 5, msg: []string{`SNI "ldap.example.org"`}},

		{id: "tls-port.cleartext",
			fire:   with(cleartextLDAP(), func(r *flow.Record) { r.Server = netip.AddrPortFrom(r.Server.Addr(), 636) }),
			safe:   safeLDAPS(),
			ignore: []string{"ldap.cleartext"}, frame: 4, msg: []string{"cleartext ldap on TLS port 636"}},
		{id: "proto.nonstandard-port",
			fire: with(safeNTP(), func(r *flow.Record) { r.Server, r.Certain = netip.AddrPortFrom(r.Server.Addr(), 1123), true }),
			safe: safeNTP(), frame: 4, msg: []string{"ntp on udp port 1123"}},
		// A label that rests on one short message is not evidence enough for this finding.
		{id: "proto.nonstandard-port",
			fire:  with(safeNTP(), func(r *flow.Record) { r.Server, r.Certain = netip.AddrPortFrom(r.Server.Addr(), 1123), true }),
			safe:  with(safeNTP(), func(r *flow.Record) { r.Server = netip.AddrPortFrom(r.Server.Addr(), 1123) }),
			frame: 4, msg: []string{"ntp on udp port 1123"}},
	}
}

// sweep is n SIP OPTIONS flows from one client to n hosts, a second apart.
func sweep(n int) []*flow.Record {
	var out []*flow.Record
	for i := range n {
		out = append(out, sweepTo(byte(i+1), i))
	}
	return out
}

func sweepTo(host byte, sec int) *flow.Record {
	r := cleartextSIP()
	r.Server = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, host}), 5060)
	r.ProtoTime = flow.TimeOf(t0.Add(time.Duration(sec) * time.Second))
	return r
}

func with1(b flow.LDAPBind, mod func(*flow.LDAPBind)) flow.LDAPBind { mod(&b); return b }

func checkAll(p *Policy, recs ...*flow.Record) []*Finding {
	c := p.NewChecker()
	var out []*Finding
	for _, r := range recs {
		c.Check(r, func(f *Finding) { out = append(out, f) })
	}
	return out
}

// checkLast checks before and then last with one checker, and returns the findings of last.
func checkLast(p *Policy, before []*flow.Record, last *flow.Record) []*Finding {
	c := p.NewChecker()
	for _, r := range before {
		c.Check(r, func(*Finding) {})
	}
	var out []*Finding
	c.Check(last, func(f *Finding) { out = append(out, f) })
	return out
}

func ids(fs []*Finding) []string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Rule.ID)
	}
	return s
}

// TestDefaultRules: every rule of the default policy fires on a crafted record, points at
// the right packet and says what it saw, and does not fire on a safe record.
func TestDefaultRules(t *testing.T) {
	p := Default()
	cases := defaultRuleCases()
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.id] = true
	}
	for _, r := range p.Rules {
		if !covered[r.ID] {
			t.Errorf("default rule %s has no test case", r.ID)
		}
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			if !slices.ContainsFunc(p.Rules, func(r *Rule) bool { return r.ID == c.id }) {
				t.Fatalf("no rule %s in the default policy", c.id)
			}
			var f *Finding
			for _, g := range checkLast(p, c.before, c.fire) {
				switch {
				case g.Rule.ID == c.id:
					f = g
				case !slices.Contains(c.ignore, g.Rule.ID):
					t.Errorf("the fire record also raised %s: %s", g.Rule.ID, g.Message)
				}
			}
			if f == nil {
				t.Fatalf("did not fire; findings %v", ids(checkLast(p, c.before, c.fire)))
			}
			if c.frame != 0 && f.Evidence.Frame != c.frame {
				t.Errorf("evidence frame %d, want %d", f.Evidence.Frame, c.frame)
			}
			if f.Evidence.Time.IsZero() || f.Client != c.fire.Client || f.Server != c.fire.Server || f.Label != c.fire.Label ||
				f.Transport != c.fire.Transport || f.File != "x.pcap" || f.FlowFirstFrame != 1 {
				t.Errorf("finding does not describe its flow: %+v", f)
			}
			for _, m := range c.msg {
				if !strings.Contains(f.Message, m) {
					t.Errorf("message %q lacks %q", f.Message, m)
				}
			}
			if strings.Contains(f.Message, "{{") {
				t.Errorf("message %q has an unfilled placeholder", f.Message)
			}
			// The safe record raises nothing of this rule (TestSafeTrafficRaisesNothing checks
			// that safe records raise nothing at all).
			for _, g := range checkLast(p, c.before, c.safe) {
				if g.Rule.ID == c.id {
					t.Errorf("the safe record raised it: %s", g.Message)
				}
			}
			// No condition, placeholder or evidence of any rule fails on these records.
			ch := p.NewChecker()
			ch.Check(c.fire, func(*Finding) {})
			ch.Check(c.safe, func(*Finding) {})
			if s := ch.Stats(); len(s.EvalErrors) != 0 {
				t.Errorf("evaluation errors: %v", s.FirstEvalError)
			}
		})
	}
}

// TestSafeTrafficRaisesNothing runs the default policy over well-configured flows of every
// protocol.
func TestSafeTrafficRaisesNothing(t *testing.T) {
	c := Default().NewChecker()
	for _, r := range []*flow.Record{safeLDAP(), safeLDAPS(), safeSIPTLS(), safeNTP()} {
		c.Check(r, func(f *Finding) { t.Errorf("%s on a safe %s flow: %s", f.Rule.ID, r.Label, f.Message) })
	}
	if s := c.Stats(); s.Flows != 4 || s.Findings != 0 || len(s.EvalErrors) != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestEachEvidenceIsTheFirstMatch: a rule with each points at the first element that matched,
// counts all of them, and its message speaks of that element.
func TestEachEvidenceIsTheFirstMatch(t *testing.T) {
	anon := with1(simpleBind(4, "", 0), func(b *flow.LDAPBind) { b.Kind = "anonymous" })
	pw := simpleBind(9, "cn=first,dc=example,dc=org", 9)
	pw.Result, pw.ResultName = 49, "invalidCredentials"
	pw2 := simpleBind(12, "cn=second,dc=example,dc=org", 5)
	var f *Finding
	for _, g := range checkAll(Default(), cleartextLDAP(anon, pw, pw2)) {
		if g.Rule.ID == "ldap.cleartext-password" {
			f = g
		}
	}
	if f == nil {
		t.Fatal("no finding")
	}
	if f.Evidence != at(9) || f.Count != 2 {
		t.Errorf("evidence %+v count %d: want the first matching bind (frame 9) and 2 matches", f.Evidence, f.Count)
	}
	if !strings.Contains(f.Message, "cn=first") || strings.Contains(f.Message, "cn=second") || !strings.Contains(f.Message, "invalidCredentials") {
		t.Errorf("message %q is not about the first match", f.Message)
	}
	want := []KV{{"it.dn", "cn=first,dc=example,dc=org"}, {"it.password_len", "9"}, {`it.answered ? it.result_name : "not seen"`, "invalidCredentials"}}
	if !reflect.DeepEqual(f.Observed, want) {
		t.Errorf("observed %v, want %v", f.Observed, want)
	}
}

// TestEvidenceExpression: an evidence expression overrides the default; the default is the
// packet where the protocol was recognised.
func TestEvidenceExpression(t *testing.T) {
	src := strings.Replace(minimal, "    remedy: r", "    remedy: r\n    evidence: ldap.starttls.response", 1)
	p, err := Load("e.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r := safeLDAP()
	fs := checkAll(p, r)
	if len(fs) != 1 || fs[0].Evidence != at(5) {
		t.Errorf("evidence expression: %+v", fs)
	}
	r.LDAP.StartTLS = nil // evidence fails: the default remains, the error is counted
	c := p.NewChecker()
	c.Check(r, func(f *Finding) {
		if f.Evidence.Frame != r.ProtoFrame {
			t.Errorf("default evidence %+v, want ProtoFrame %d", f.Evidence, r.ProtoFrame)
		}
	})
	if c.Stats().EvalErrors["t.rule"] != 1 {
		t.Errorf("eval errors %v", c.Stats().EvalErrors)
	}
}

func TestAllowList(t *testing.T) {
	for _, c := range []struct {
		allow        string
		client, srv  string
		wantFindings int
	}{
		{"{cidrs: [192.0.2.0/24]}", "192.0.2.10:40000", "198.51.100.5:389", 0},    // client in CIDR
		{"{cidrs: [198.51.100.0/28]}", "192.0.2.10:40000", "198.51.100.5:389", 0}, // server in CIDR
		{"{cidrs: [10.0.0.0/8]}", "192.0.2.10:40000", "198.51.100.5:389", 1},
		{"{cidrs: ['2001:db8::/32']}", "[2001:db8::1]:40000", "[2001:db9::2]:389", 0},
		{"{cidrs: [192.0.2.0/24]}", "[::ffff:192.0.2.10]:40000", "198.51.100.5:389", 0}, // IPv4-mapped
		{"{hosts: [198.51.100.5]}", "192.0.2.10:40000", "198.51.100.5:389", 0},
		{"{hosts: [198.51.100.6]}", "192.0.2.10:40000", "198.51.100.5:389", 1},
		{"{ports: [10389]}", "192.0.2.10:40000", "198.51.100.5:10389", 0},
		{"{ports: [10389]}", "192.0.2.10:40000", "198.51.100.5:389", 1},
	} {
		src := strings.Replace(minimal, "    remedy: r", "    remedy: r\n    allow: "+c.allow, 1)
		p, err := Load("a.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		r := cleartextLDAP()
		r.Client, r.Server = netip.MustParseAddrPort(c.client), netip.MustParseAddrPort(c.srv)
		if got := checkAll(p, r); len(got) != c.wantFindings {
			t.Errorf("allow %s, %s → %s: %d findings, want %d", c.allow, c.client, c.srv, len(got), c.wantFindings)
		}
	}
}

func thresholdPolicy(t *testing.T, th string) *Policy {
	t.Helper()
	src := strings.Replace(minimal, "    remedy: r", "    remedy: r\n    threshold: "+th, 1)
	src = strings.Replace(src, "message: 'm'", "message: '{{ client.ip }} reached {{ server.ip }}'", 1)
	p, err := Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// flowTo is an LDAP flow from client to server host .n, at packet time t0+sec.
func flowTo(client string, n byte, sec int) *flow.Record {
	r := cleartextLDAP()
	r.Client = netip.MustParseAddrPort(client + ":40000")
	r.Server = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, n}), 389)
	r.ProtoTime = flow.TimeOf(t0.Add(time.Duration(sec) * time.Second))
	return r
}

func TestThresholdDistinct(t *testing.T) {
	p := thresholdPolicy(t, "{count: 3, by: client.ip, distinct: server.ip, window: 60s}")
	type hit struct {
		flow  int
		count int
		msg   string
	}
	run := func(recs ...*flow.Record) (hits []hit) {
		c := p.NewChecker()
		for i, r := range recs {
			c.Check(r, func(f *Finding) { hits = append(hits, hit{i, f.Count, f.Message}) })
		}
		c.Flush(func(f *Finding) { t.Errorf("flush emitted %v", f) })
		return hits
	}
	// Fires once, at the third distinct server within the window; repeats and later servers
	// of the same burst do not fire again; another client has its own count.
	got := run(flowTo("192.0.2.1", 1, 0), flowTo("192.0.2.1", 1, 1), flowTo("192.0.2.1", 2, 2),
		flowTo("192.0.2.9", 7, 3), flowTo("192.0.2.1", 3, 4), flowTo("192.0.2.1", 4, 5), flowTo("192.0.2.1", 5, 6))
	if want := []hit{{4, 3, "192.0.2.1 reached 198.51.100.3"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Three distinct servers spread over more than the window: no finding.
	if got := run(flowTo("192.0.2.1", 1, 0), flowTo("192.0.2.1", 2, 50), flowTo("192.0.2.1", 3, 120)); len(got) != 0 {
		t.Errorf("fired across windows: %v", got)
	}
	// The window slides: 50s, 70s, 100s are within 60s of each other although no fixed window
	// from the first match holds them.
	if got := run(flowTo("192.0.2.1", 1, 0), flowTo("192.0.2.1", 2, 50), flowTo("192.0.2.1", 3, 70), flowTo("192.0.2.1", 4, 100)); len(got) != 1 || got[0].flow != 3 {
		t.Errorf("sliding window: %v", got)
	}
	// After firing, a key is quiet until a window passes without a match; then it counts again.
	got = run(flowTo("192.0.2.1", 1, 0), flowTo("192.0.2.1", 2, 1), flowTo("192.0.2.1", 3, 2),
		flowTo("192.0.2.1", 4, 50), flowTo("192.0.2.1", 5, 100), // quiet: each within 60s of the last
		flowTo("192.0.2.1", 6, 200), flowTo("192.0.2.1", 7, 201), flowTo("192.0.2.1", 8, 202))
	if len(got) != 2 || got[0].flow != 2 || got[1].flow != 7 {
		t.Errorf("re-arming: %v", got)
	}
	// Flows out of time order (records are emitted when flows end) still count by packet time.
	if got := run(flowTo("192.0.2.1", 1, 30), flowTo("192.0.2.1", 2, 0), flowTo("192.0.2.1", 3, 10)); len(got) != 1 {
		t.Errorf("out of order: %v", got)
	}
}

func TestThresholdCountsFlowsOrElements(t *testing.T) {
	p := thresholdPolicy(t, "{count: 4, by: client.ip, window: 1m}")
	var n int
	c := p.NewChecker()
	for i := range 4 {
		c.Check(flowTo("192.0.2.1", 1, i), func(f *Finding) {
			n++
			if i != 3 || f.Count != 4 {
				t.Errorf("fired at flow %d count %d, want flow 3 count 4", i, f.Count)
			}
		})
	}
	if n != 1 {
		t.Errorf("fired %d times", n)
	}
	// With each, the matching elements count: five failed binds on one connection are
	// five matches.
	fs := checkAll(Default(), cleartextLDAP(failedBind(4), failedBind(6)), cleartextLDAP(failedBind(8), failedBind(10), failedBind(12)))
	var got []*Finding
	for _, f := range fs {
		if f.Rule.ID == "ldap.bind-failures" {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].Count != 5 || got[0].Evidence.Frame != 8 {
		t.Errorf("bind failures over two connections: %+v", got)
	}
}

// A weight makes one flow count for many matches: guesses on one socket and guesses on one
// socket each add up the same way.
func TestThresholdWeight(t *testing.T) {
	count := func(recs ...*flow.Record) (n, last int) {
		for _, f := range checkAll(Default(), recs...) {
			if f.Rule.ID == "sip.register-bruteforce" {
				n, last = n+1, f.Count
			}
		}
		return n, last
	}
	if n, c := count(sipGuesses(10, 5000)); n != 1 || c != 10 {
		t.Errorf("ten guesses on one flow: %d findings (count %d), want 1 (10)", n, c)
	}
	if n, _ := count(sipGuesses(9, 5000)); n != 0 {
		t.Errorf("nine guesses on one flow raised %d findings", n)
	}
	var many []*flow.Record
	for i := range 9 {
		many = append(many, sipGuesses(1, uint16(5000+i)))
	}
	if n, _ := count(many...); n != 0 {
		t.Errorf("nine one-guess flows raised %d findings", n)
	}
	if n, c := count(append(many, sipGuesses(3, 6000))...); n != 1 || c != 12 {
		t.Errorf("nine one-guess flows and a three-guess flow: %d findings (count %d), want 1 (12)", n, c)
	}
	if _, err := Load("w.yaml", []byte(strings.Replace(minimal, "    remedy: r",
		"    remedy: r\n    threshold: {count: 2, by: client.ip, weight: 'client.ip', window: 1m}", 1))); err == nil ||
		!strings.Contains(err.Error(), "threshold.weight") {
		t.Errorf("a weight that is not an integer loaded: %v", err)
	}
}

func TestThresholdKeysAreBounded(t *testing.T) {
	p := thresholdPolicy(t, "{count: 2, by: client.ip, window: 1h}")
	c := p.NewChecker()
	r := cleartextLDAP()
	for i := range maxAggKeys + 10 {
		r.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1)
		c.Check(r, func(*Finding) { t.Fatal("one flow per client must not fire") })
	}
	if len(c.agg) > maxAggKeys || c.Stats().ThresholdDropped != 10 {
		t.Errorf("%d keys, %d dropped", len(c.agg), c.Stats().ThresholdDropped)
	}
	// Keys whose window has passed are forgotten.
	r.ProtoTime = flow.TimeOf(t0.Add(2 * time.Hour))
	c.Check(r, func(*Finding) {})
	if len(c.agg) > 2 {
		t.Errorf("%d keys after every window passed", len(c.agg))
	}
}

// TestRuntimeErrorsAreCountedNotFatal: a condition that reads through a nil pointer is no
// match, counted per rule, with the first error kept.
func TestRuntimeErrorsAreCountedNotFatal(t *testing.T) {
	src := strings.Replace(minimal, "'ldap.messages > 0'", "'ldap.starttls.result == 0'", 1)
	p, err := Load("e.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewChecker()
	for range 3 {
		c.Check(cleartextLDAP(), func(*Finding) { t.Error("a nil StartTLS matched") })
	}
	s := c.Stats()
	if s.EvalErrors["t.rule"] != 3 || !strings.Contains(s.FirstEvalError["t.rule"], "starttls") {
		t.Errorf("stats %+v", s)
	}
	// A record of the rule's protocol without its facts at all.
	c.Check(&flow.Record{Label: flow.LDAP}, func(*Finding) { t.Error("nil facts matched") })
	// Stats are a copy.
	s.EvalErrors["t.rule"] = 100
	if c.Stats().EvalErrors["t.rule"] != 4 {
		t.Error("Stats shares its maps with the checker")
	}
	// The ?. operator is the way to write it.
	src = strings.Replace(minimal, "'ldap.messages > 0'", "'ldap.starttls?.result == 0'", 1)
	p, _ = Load("e.yaml", []byte(src))
	c = p.NewChecker()
	c.Check(cleartextLDAP(), func(*Finding) { t.Error("matched") })
	if len(c.Stats().EvalErrors) != 0 {
		t.Errorf("?. errors: %v", c.Stats().EvalErrors)
	}
}

// TestEnvFields: every Env name is usable and filled from the record.
func TestEnvFields(t *testing.T) {
	cond := `protocol == "ldap" && transport == "tcp" && client.ip == "192.0.2.10" && client.port == 40000 &&
  server.port == 389 && client.packets == 5 && server.bytes == 900 && server.payload_bytes == 600 &&
  packets == 10 && bytes == 1400 && payload_bytes == 800 && file == "x.pcap" && first_frame == 1 &&
  start.Before(end) && duration == 2 && end_reason == "fin" && client_known && parse_errors == 0 &&
  gaps == 0 && !cut && ldap != nil && ntp == nil && sip == nil && tls == nil && standard_port && !tls_port &&
  "x" in lists.names`
	src := strings.Replace(minimal, "version: 1", "version: 1\nsettings: {lists: {names: [x, y]}}", 1)
	src = strings.Replace(src, "    when: 'ldap.messages > 0'", "    when: >-\n      "+strings.ReplaceAll(cond, "\n", "\n     "), 1)
	p, err := Load("env.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := checkAll(p, cleartextLDAP()); len(got) != 1 {
		t.Errorf("the env condition did not hold")
	}
	// Every exported Env field has an expr tag (its name in conditions).
	for _, f := range reflect.VisibleFields(envType) {
		if f.Tag.Get("expr") == "" {
			t.Errorf("Env.%s has no expr tag", f.Name)
		}
	}
}

// secretish matches what a secret would look like in a message: a digest response (hex), a
// Basic token or an SDES inline key (base64).
var (
	hexOrInline = regexp.MustCompile(`[0-9a-f]{16,}|inline:`)
	b64Run      = regexp.MustCompile(`[A-Za-z0-9+/]{20,}`)
)

// secretish reports whether s holds a run of 16 hex digits, an SDES inline key, or a run of
// 20 base64 characters with a digit, + or / and both cases in it (what random key material
// looks like, not a word such as servicePrincipalName).
func secretish(s string) bool {
	if hexOrInline.MatchString(s) {
		return true
	}
	for _, run := range b64Run.FindAllString(s, -1) {
		if strings.ContainsAny(run, "0123456789+/") && strings.ToLower(run) != run && strings.ToUpper(run) != run {
			return true
		}
	}
	return false
}

// TestFindingsCarryNoSecrets: facts describe secrets by presence and length, and the default
// policy prints only that: the findings on records with a password, SASL credentials, a
// digest response, a Basic token and SDES keys give lengths, never anything shaped like the
// secret. And no facts type has a string field named like a secret, which a message
// placeholder could print.
func TestFindingsCarryNoSecrets(t *testing.T) {
	recs := []*flow.Record{}
	for _, c := range defaultRuleCases() {
		recs = append(recs, c.fire)
	}
	for _, probe := range []string{"6f8b1f7e2d0c4a3b9e8d7c6b5a493827", "QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "inline:WVhNQ0FyZ1JlYWxseQ"} {
		if !secretish(probe) || secretish("search for servicePrincipalName") {
			t.Fatalf("secretish does not tell %q", probe)
		}
	}
	n := 0
	lengths := map[string]string{"ldap.cleartext-password": "9-byte password", "ldap.cleartext-sasl-password": "22 bytes",
		"sip.basic-credentials": "24 bytes"}
	for _, f := range checkAll(Default(), recs...) {
		n++
		if l, ok := lengths[f.Rule.ID]; ok && !strings.Contains(f.Message, l) {
			t.Errorf("%s: %q does not give the length %q", f.Rule.ID, f.Message, l)
		}
		if secretish(f.Message) {
			t.Errorf("%s: %q", f.Rule.ID, f.Message)
		}
		for _, kv := range f.Observed {
			if secretish(kv.Value) {
				t.Errorf("%s: observed %v", f.Rule.ID, kv)
			}
		}
	}
	if n < len(defaultRuleCases()) {
		t.Fatalf("only %d findings", n)
	}
	// The facts types have no string field named like a secret: a detector that added one
	// would put it in reach of every message placeholder.
	bad := regexp.MustCompile(`(?i)password|secret|token|credential|passphrase|inline|^key$|keyvalue`)
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for _, f := range reflect.VisibleFields(typ) {
			ft := f.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.String && bad.MatchString(f.Name) {
				t.Errorf("%s.%s is a string named like a secret", path, f.Name)
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[flow.NTPFacts](), reflect.TypeFor[flow.SIPFacts](), reflect.TypeFor[flow.LDAPFacts](), reflect.TypeFor[flow.TLSFacts]()} {
		walk(typ, typ.Name())
	}
}

// TestMessageValuesAreCleaned: values that come off the wire cannot put control characters
// (terminal escapes, line breaks) into a report.
func TestMessageValuesAreCleaned(t *testing.T) {
	r := cleartextLDAP(simpleBind(5, "cn=x\x1b[2J\nFAKE: critical\xff", 4))
	n := 0
	for _, f := range checkAll(Default(), r) {
		if !strings.Contains(f.Message, "cn=x") {
			continue
		}
		n++
		if strings.ContainsAny(f.Message, "\x1b\n") || !strings.Contains(f.Message, `cn=x\x1b[2J\nFAKE: critical\xff`) {
			t.Errorf("%s: %q", f.Rule.ID, f.Message)
		}
	}
	if n == 0 {
		t.Fatal("no message shows the bind name")
	}
	long := strings.Repeat("é", 1000)
	if got := clean(long); len(got) > maxValue+8 || !strings.HasSuffix(got, "…") {
		t.Errorf("long value: %d bytes", len(got))
	}
	for in, want := range map[string]string{"plain": "plain", "tab\there": `tab\there`, "\u0085": `\u0085`, "ünï": "ünï"} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormat(t *testing.T) {
	yes := true
	for _, c := range []struct {
		v    any
		want string
	}{
		{nil, ""}, {"s", "s"}, {42, "42"}, {uint32(7), "7"}, {12.3456, "12.35"}, {1e6, "1000000"}, {true, "true"},
		{&yes, "true"}, {(*bool)(nil), ""}, {[]string{"a", "b"}, "a, b"}, {[]int{6, 7}, "6, 7"},
		{t0, "2026-01-01T00:00:00Z"}, {time.Time{}, ""}, {90 * time.Second, "1m30s"}, {at(3), "frame 3"},
		{flow.LDAPS, "ldaps"},
	} {
		if got := format(c.v); got != c.want {
			t.Errorf("format(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
}

// TestCheckerSkipsOtherProtocols: rules run only on their protocols, and a record no rule
// applies to is not even put in the environment.
func TestCheckerSkipsOtherProtocols(t *testing.T) {
	c := Default().NewChecker()
	c.Check(&flow.Record{Label: flow.Unknown}, func(f *Finding) { t.Errorf("unknown flow raised %s", f.Rule.ID) })
	c.Check(&flow.Record{Label: flow.NumLabels + 3}, func(f *Finding) { t.Errorf("bad label raised %s", f.Rule.ID) })
	if a := testing.AllocsPerRun(100, func() { c.Check(&flow.Record{Label: flow.Unknown}, nil) }); a != 0 {
		t.Errorf("an unknown flow costs %v allocations", a)
	}
}

// Match on several Checkers (as the audit's workers run it) followed by Apply on one, in flow
// order, raises exactly what Check raises: the same findings with the same counts, messages
// and evidence, thresholds included.
func TestMatchOnWorkersApplyInOrder(t *testing.T) {
	var recs []*flow.Record
	for i := range 12 {
		recs = append(recs, sipGuesses(uint32(1+i%3), uint16(5000+i)), cleartextLDAP(failedBind(uint64(4+i)), failedBind(uint64(40+i))))
	}
	recs = append(recs, safeNTP(), safeLDAPS(), cleartextLDAP(simpleBind(4, "cn=admin,dc=example,dc=org", 9)))
	want := checkAll(Default(), recs...)
	fired := map[string]int{}
	for _, f := range want {
		if f.Rule.thresh != nil {
			fired[f.Rule.ID]++
		}
	}
	if fired["sip.register-bruteforce"] == 0 || fired["ldap.bind-failures"] == 0 {
		t.Fatalf("thresholds fired %v: the test needs both kinds (weight, each) to fire", fired)
	}

	p := Default()
	workers := []*Checker{p.NewChecker(), p.NewChecker()}
	merger := p.NewChecker()
	var got []*Finding
	for i, r := range recs {
		ms := workers[i%len(workers)].Match(r, nil)
		merger.Apply(ms, func(f *Finding) { got = append(got, f) })
	}
	if len(got) != len(want) {
		t.Fatalf("%d findings, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Rule.ID != w.Rule.ID || g.Count != w.Count || g.Message != w.Message || g.Evidence != w.Evidence {
			t.Errorf("finding %d: %s count %d %q at %v; want %s count %d %q at %v", i,
				g.Rule.ID, g.Count, g.Message, g.Evidence, w.Rule.ID, w.Count, w.Message, w.Evidence)
		}
	}
	if s := merger.Stats(); s.Findings != uint64(len(want)) {
		t.Errorf("Apply counted %d findings, want %d", s.Findings, len(want))
	}
}

// sipGuesses is a SIP flow from port of a client that sent n REGISTERs with credentials, each
// refused (2n requests in all, the first of each pair challenged).
func sipGuesses(n uint32, port uint16) *flow.Record {
	r := with(cleartextSIP(), func(r *flow.Record) {
		r.SIP.Methods.Register = 2 * n
		r.SIP.CredentialCount = n
		r.SIP.Status = flow.SIPStatus{ClientError: 2 * n}
	})
	r.Client = netip.AddrPortFrom(r.Client.Addr(), port)
	return r
}

// failedBind is a simple bind at frame that the server refused (invalidCredentials).
func failedBind(frame uint64) flow.LDAPBind {
	b := simpleBind(frame, "uid=x", 3)
	b.Result, b.ResultName = 49, "invalidCredentials"
	return b
}

// Stats of several checkers add up; the first error of a rule is the first one added.
func TestStatsAdd(t *testing.T) {
	src := strings.Replace(minimal, "'ldap.messages > 0'", "'ldap.starttls.result == 0'", 1)
	p, err := Load("e.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a, b := p.NewChecker(), p.NewChecker()
	a.Check(cleartextLDAP(), func(*Finding) {})
	b.Check(cleartextLDAP(), func(*Finding) {})
	b.Check(safeNTP(), func(*Finding) {})
	var sum Stats
	sum.Add(a.Stats())
	sum.Add(b.Stats())
	if sum.Flows != 3 || sum.EvalErrors["t.rule"] != 2 || !strings.Contains(sum.FirstEvalError["t.rule"], "starttls") {
		t.Errorf("sum %+v", sum)
	}
	sum.FirstEvalError["t.rule"] = "kept"
	sum.Add(a.Stats())
	if sum.FirstEvalError["t.rule"] != "kept" || sum.EvalErrors["t.rule"] != 3 {
		t.Errorf("after a third Add: %+v", sum)
	}
}
