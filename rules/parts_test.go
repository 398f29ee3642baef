package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// partsRecords are records of each protocol whose facts kept out of line (flow.NTPRare,
// flow.NTPAuth, flow.NTPTimeAuth, flow.SIPAuthPart, flow.SIPMediaPart, flow.SIPScannerPart,
// flow.SIPMethodsRare, TLSFacts.Client, TLSFacts.Server, flow.LDAPOpsRare,
// flow.LDAPExtendedPart) are unset, as the detectors leave them (the shared empty blocks), and
// the same records with those parts set.
func partsRecords() (unset, set []*flow.Record) {
	ntp := func() *flow.Record {
		r := baseRecord(flow.NTP, flow.UDP, 123)
		x := flow.NewNTPFacts()
		x.First, x.Version, x.Mode, x.Messages = at(4), 4, 3, 2
		x.SetAuth(flow.NTPAuth{Auth: "none"})
		r.NTP = x
		return r
	}
	sip := func() *flow.Record {
		r := baseRecord(flow.SIP, flow.UDP, 5060)
		s := flow.NewSIPFacts()
		s.First, s.Messages, s.Requests, s.Method, s.UserAgent = at(4), 1, 1, "REGISTER", "Linphone/5.2"
		s.Methods.Register = 1
		r.SIP = s
		return r
	}
	ldaps := func() *flow.Record {
		r := baseRecord(flow.LDAPS, flow.TCP, 636)
		t := flow.NewTLSFacts()
		t.Version, t.VersionProtocol, t.Cipher, t.Kex, t.Established = "1.2", "tls", "TLS_RSA_WITH_AES_128_CBC_SHA", "rsa", true
		r.TLS = t
		return r
	}
	ldap := func() *flow.Record {
		r := baseRecord(flow.LDAP, flow.TCP, 389)
		x := flow.NewLDAPFacts()
		x.First, x.Messages, x.Cleartext = at(4), 2, true
		x.Ops.BindRequest, x.Ops.BindResponse = 1, 1
		r.LDAP = x
		return r
	}
	unset = []*flow.Record{ntp(), sip(), ldaps(), ldap()}

	n := ntp()
	rare := n.NTP.Rare()
	rare.KeyID, rare.MACLength, rare.MACType = 7, 16, "md5/aes-cmac"
	rare.Mode6Requests, rare.Mode6 = 2, []flow.NTPControl{{At: at(5), Opcode: 2, Name: "readvar"}}
	rare.Monlist = flow.NTPMonlist{Seen: true, Requests: 1, Request: at(6)}
	n.NTP.SetAuth(flow.NTPAuth{KissCode: "RATE", Auth: "symmetric", ClientAuthenticated: true})
	n.NTP.Request.Seen, n.NTP.Request.NTPTimeAuth = true, flow.NTPTimeAuthOf("symmetric")
	s := sip()
	a := s.SIP.AuthPart()
	a.CredentialCount, a.Auth.Digest, a.Auth.First = 3, true, at(5)
	a.Credentials = []flow.SIPCredential{{Event: at(5), Header: "authorization", Scheme: "Digest", Username: "alice"}}
	m := s.SIP.MediaPart()
	m.SDESKeys, m.SDESKeysAt, m.MediaCount = true, at(6), 1
	m.Media = []flow.SIPMedia{{Event: at(6), Type: "audio", Port: 4000, Proto: "RTP/SAVP", Crypto: 1}}
	sc := s.SIP.ScannerPart()
	sc.Scanner, sc.ScannerName = true, "sipvicious"
	s.SIP.Methods.Rare().Subscribe = 2
	l := ldaps()
	l.TLS.Server = &flow.TLSServerFacts{Subject: "CN=x", Issuer: "CN=x", SelfIssued: true, Expired: true, ChainLength: 1,
		X509: flow.X509Facts{PublicKeyAlgorithm: "RSA", PublicKeySize: 1024}}
	l.TLS.Client = &flow.TLSClientFacts{ServerName: "ldap.example.org", ALPN: []string{"ldap"}, CipherCount: 3}
	d := ldap()
	ops := d.LDAP.Ops.Rare()
	ops.ModifyRequest, ops.ExtendedRequest = 2, 1
	ext := d.LDAP.ExtendedPart()
	ext.ExtendedCount, ext.PasswordModify = 2, true
	ext.Extended = []flow.LDAPExtended{{Event: at(5), Name: "password_modify", CarriesPassword: true}}
	set = []*flow.Record{n, s, l, d}
	return unset, set
}

// A condition reads a part of the facts kept out of line as it read the fields when they were
// inline: on a flow that never set the part, its fields are zero (no error, no nil), on a
// flow that did, their values; on expr's VM and compiled alike.
func TestUnsetFactsPartsReadAsZero(t *testing.T) {
	conds := []struct {
		proto, when string
		unset, set  bool
	}{
		{"ntp", `ntp.mode6_requests > 0`, false, true},
		{"ntp", `ntp.key_id == 0 && ntp.mac_length == 0 && ntp.mac_type == ""`, true, false},
		{"ntp", `len(ntp.mode6) == 0 && ntp.mode6 == nil`, true, false},
		{"ntp", `ntp.monlist.requests > 0 || ntp.monlist.seen`, false, true},
		{"ntp", `ntp.monlist.request.frame == 0 && ntp.monlist.response.frame == 0`, true, false},
		{"ntp", `ntp.auth == "symmetric" && ntp.kiss_code == "RATE" && ntp.client_authenticated && !ntp.server_authenticated`, false, true},
		{"ntp", `ntp.auth == "none" && ntp.kiss_code == "" && !ntp.client_authenticated && ntp.request.auth == ""`, true, false},
		{"ntp", `ntp.request.seen && ntp.request.auth == "symmetric" && ntp.response.auth == ""`, false, true},
		{"sip", `sip.credential_count > 0 || sip.auth.digest`, false, true},
		{"sip", `sip.methods.register > 0 && sip.credential_count > sip.status.success`, false, true},
		{"sip", `sip.sdes_keys`, false, true},
		{"sip", `len(sip.media) == 0 && sip.media_count == 0`, true, false},
		{"sip", `sip.scanner && sip.scanner_name == "sipvicious" && sip.methods.subscribe == 2`, false, true},
		{"sip", `!sip.scanner && sip.scanner_name == "" && sip.methods.prack + sip.methods.other == 0`, true, false},
		{"ldaps", `tls.server.x509.public_key_size < 2048`, true, true},
		{"ldaps", `tls.server.x509.public_key_size > 0 && tls.server.x509.public_key_size < 2048`, false, true},
		{"ldaps", `tls.server.expired || tls.server.self_issued`, false, true},
		{"ldaps", `tls.server.subject == "" && tls.server.x509.alternative_names == nil`, true, false},
		{"ldaps", `tls.client.server_name == "ldap.example.org" && "ldap" in tls.client.alpn && tls.client.cipher_count == 3`, false, true},
		{"ldaps", `tls.client.server_name == "" && tls.client.alpn == nil && tls.client.cipher_count == 0`, true, false},
		{"ldap", `ldap.ops.modify_request > 1 && ldap.ops.extended_request == 1`, false, true},
		{"ldap", `ldap.ops.modify_request + ldap.ops.intermediate_response == 0 && ldap.ops.bind_request == 1`, true, false},
		{"ldap", `ldap.extended_count == 2 && ldap.password_modify && len(ldap.extended) == 1`, false, true},
		{"ldap", `ldap.extended_count == 0 && !ldap.password_modify && len(ldap.extended) == 0`, true, false},
	}
	var b strings.Builder
	b.WriteString(settingsHead())
	for i, c := range conds {
		fmt.Fprintf(&b, "  - {id: t.r%d, name: n, description: d, severity: low, protocol: %s, when: '%s', message: m, remedy: r, references: [x]}\n",
			i, c.proto, strings.ReplaceAll(c.when, "'", "''"))
	}
	p, err := Load("t.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewChecker()
	unset, set := partsRecords()
	for i, r := range p.Rules {
		if r.fast == nil {
			t.Errorf("%s: not compiled", r.When)
			continue
		}
		for k := range unset {
			if unset[k].Label.String() != conds[i].proto {
				continue
			}
			for _, w := range []struct {
				rec  *flow.Record
				want bool
				name string
			}{{unset[k], conds[i].unset, "unset"}, {set[k], conds[i].set, "set"}} {
				want := fmt.Sprint([]outcome{{match: w.want}})
				if got := fmt.Sprint(vmOutcomes(c, r, w.rec)); got != want {
					t.Errorf("%s, part %s: the VM gives %s, want %s", r.When, w.name, got, want)
				}
				if got := fmt.Sprint(fastOutcomes(c, r, w.rec)); got != want {
					t.Errorf("%s, part %s: compiled gives %s, want %s", r.When, w.name, got, want)
				}
			}
		}
	}
}
