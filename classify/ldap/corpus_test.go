package ldap

import (
	"slices"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
)

func allBinds(fs []*flow.Flow) []flow.LDAPBind {
	var out []flow.LDAPBind
	for _, f := range fs {
		out = append(out, f.LDAP.Binds...)
	}
	return out
}

// secrets are the passwords carried by the captures; no fact may hold them.
var secrets = []string{"passwor8d1", "/dev/rdsk/c0t0d0s0", "cloudshark123!", "Secret123", "adminpass", "alicepass", "wrongpass"}

type corpusCase struct {
	file  string
	flows int // least number of LDAP flows
	check func(t *testing.T, fs []*flow.Flow)
}

func wantBind(t *testing.T, fs []*flow.Flow, n int, pred func(b flow.LDAPBind) bool, what string) {
	t.Helper()
	got := 0
	for _, b := range allBinds(fs) {
		if pred(b) {
			got++
		}
	}
	if got < n {
		t.Errorf("want at least %d %s binds, got %d: %+v", n, what, got, allBinds(fs))
	}
}

func wantFact(t *testing.T, fs []*flow.Flow, pred func(l *flow.LDAPFacts) bool, what string) {
	t.Helper()
	for _, f := range fs {
		if pred(f.LDAP) {
			return
		}
	}
	t.Errorf("no flow with %s", what)
}

func noFlow(t *testing.T, fs []*flow.Flow, pred func(l *flow.LDAPFacts) bool, what string) {
	t.Helper()
	for _, f := range fs {
		if pred(f.LDAP) {
			t.Errorf("a flow has %s", what)
		}
	}
}

// wantTLS13 checks the TLS handshake read after StartTLS by the shared TLS parser.
func wantTLS13(t *testing.T, fs []*flow.Flow, sni string) {
	t.Helper()
	for _, f := range fs {
		if f.TLS != nil && f.TLS.Version == "1.3" && f.TLS.Cipher == "TLS_AES_256_GCM_SHA384" && f.TLS.Client.ServerName == sni {
			return
		}
	}
	t.Errorf("no TLS 1.3 handshake (SNI %q) after StartTLS", sni)
}

func cleartextPassword(l *flow.LDAPFacts) bool { return l.CleartextPassword }

var corpusCases = []corpusCase{
	{"shared:zeek/Traces/ldap/simpleauth.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 2, func(b flow.LDAPBind) bool {
			return b.Kind == "simple" && b.PasswordPresent && b.Result == 0
		}, "successful simple")
		wantFact(t, fs, func(l *flow.LDAPFacts) bool { return l.CleartextPassword && l.Cleartext }, "a cleartext password")
	}},
	{"shared:zeek/Traces/ldap/ldap-starttls.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return l.StartTLS != nil && l.StartTLS.Answered && l.StartTLS.Result == 0 && l.Upgraded && !l.Cleartext
		}, "a successful StartTLS")
		noFlow(t, fs, cleartextPassword, "a cleartext password")
		wantTLS13(t, fs, "ubuntu-01.example.com")
	}},
	{"shared:zeek/Traces/ldap/ldap-who-am-i.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool {
			return b.DN == "cn=admin,dc=example,dc=com" && b.PasswordPresent && b.Result == 0
		}, "admin")
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return len(l.Extended) == 1 && l.Extended[0].Name == "whoami" && l.Extended[0].Answered && l.Ops.UnbindRequest == 1
		}, "a WhoAmI and an unbind")
	}},
	{"shared:zeek/Traces/ldap/ldap-add.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return l.Ops.AddRequest == 2 && l.Ops.AddResponse == 2 && l.CleartextPassword
		}, "two adds")
	}},
	{"shared:zeek/Traces/ldap/sasl-ntlm.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool { return b.Auth == "sasl" && b.Mechanism == "NTLM" && b.Result == 14 }, "NTLM in progress")
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool { return b.Mechanism == "NTLM" && b.Result == 0 }, "NTLM success")
		noFlow(t, fs, cleartextPassword, "a cleartext password")
	}},
	{"shared:zeek/Traces/ldap/sasl-srp-who-am-i.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool { return b.Mechanism == "SRP" && b.Result == 14 }, "SRP in progress")
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool { return b.Mechanism == "SRP" && b.Result == 0 }, "SRP success")
		wantFact(t, fs, func(l *flow.LDAPFacts) bool { return l.SASLLayer }, "a SASL security layer")
	}},
	{"shared:zeek/Traces/ldap/aduser1.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool { return b.Mechanism == "GSS-SPNEGO" && b.Result == 0 }, "GSS-SPNEGO success")
		noFlow(t, fs, cleartextPassword, "a cleartext password")
	}},
	{"shared:zeek/Traces/ldap/ldap_invalid_credentials.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool {
			return b.Mechanism == "GSS-SPNEGO" && b.Result == 49 && b.ResultName == "invalidCredentials" && strings.Contains(b.Diagnostic, "data 52e")
		}, "failed GSS-SPNEGO")
		wantFact(t, fs, func(l *flow.LDAPFacts) bool { return l.FailedBinds >= 1 }, "failed binds")
		noFlow(t, fs, cleartextPassword, "a cleartext password")
	}},
	{"shared:zeek/Traces/ldap/ctu-sme-11-win7ad-1-ldap-tcp-50041.pcap", 2, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 2, func(b flow.LDAPBind) bool { return b.Mechanism == "GSS-SPNEGO" }, "GSS-SPNEGO")
	}},
	{"shared:suricata-verify/ldap-bind/ldap.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool { return b.Mechanism == "CRAM-MD5" && b.MessageID == 1 }, "CRAM-MD5")
		wantFact(t, fs, func(l *flow.LDAPFacts) bool { return l.DeprecatedSASL && !l.CleartextPassword }, "a deprecated mechanism")
	}},
	{"shared:suricata-verify/ldap-search/ldap.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return len(l.Searches) == 1 && l.Searches[0].Base == "dc=example,dc=com" && l.Searches[0].Scope == "sub" &&
				slices.Equal(l.Searches[0].Attributes, []string{"*", "+"}) && l.Searches[0].Entries == 1 && l.Searches[0].Result == 0
		}, "the search")
	}},
	{"shared:suricata-verify/ldap-unbind/ldap.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool { return l.Ops.UnbindRequest == 1 && l.Messages == 1 }, "the unbind")
	}},
	{"shared:suricata-verify/ldap-udp/cldap.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return l.CLDAP && len(l.Searches) == 1 && l.Searches[0].Base == "" && slices.Equal(l.Searches[0].Attributes, []string{"Netlogon"}) &&
				l.Searches[0].Entries == 1 && l.Searches[0].Result == 0 && l.ResponseBytes > l.RequestBytes && l.Amplification > 1
		}, "the CLDAP netlogon search")
	}},
	{"shared:suricata-verify/krb5-request-frag-log/krb5-frag.pcap", 1, nil},
	{"shared:arkime/ldap-and-search.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool { return b.Kind == "anonymous" }, "anonymous")
		wantFact(t, fs, func(l *flow.LDAPFacts) bool { return l.AnonymousBind && l.SearchCount >= 1 }, "an anonymous bind and a search")
	}},
	{"shared:pcapplusplus/ldap.pcapng", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 2, func(b flow.LDAPBind) bool { return b.Kind == "simple" && b.PasswordPresent }, "simple with a password")
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool { return b.Mechanism == "GSS-SPNEGO" }, "GSS-SPNEGO")
	}},
	{"shared:ndpi/kerberos.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		noFlow(t, fs, cleartextPassword, "a cleartext password")
	}},
	{"shared:ndpi/log4j-webapp-exploit.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		for _, f := range fs {
			if f.Server.Port() != 1389 && f.Client.Port() != 1389 {
				t.Errorf("LDAP flow %v-%v off port 1389", f.Client, f.Server)
			}
		}
	}},
	// Captures of real servers made by the project (testdata/real/README.md).
	{"real:ldap-simple-bind.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantBind(t, fs, 1, func(b flow.LDAPBind) bool {
			return b.Kind == "simple" && b.DN == "cn=admin,dc=example,dc=org" && b.PasswordLen == 9 && b.Result == 0
		}, "admin")
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return l.CleartextPassword && l.Cleartext && l.StartTLS == nil && !l.AnonymousBind && l.FailedBinds == 0 &&
				len(l.Searches) == 1 && l.Searches[0].Base == "dc=example,dc=org"
		}, "the simple bind session")
	}},
	{"real:ldap-anonymous-search.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return l.AnonymousBind && !l.CleartextPassword && l.Cleartext && l.SearchCount == 1 && l.Binds[0].Result == 0
		}, "the anonymous session")
	}},
	{"real:ldap-unauthenticated-bind.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return l.UnauthenticatedBind && !l.AnonymousBind && !l.CleartextPassword && l.FailedBinds == 0 &&
				l.Binds[0].Result == 53 && l.Binds[0].ResultName == "unwillingToPerform"
		}, "the unauthenticated bind")
	}},
	{"real:ldap-sasl-plain.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			b := l.Binds[0]
			return b.Mechanism == "PLAIN" && b.CredentialsLen == 16 && b.ReusablePassword && b.Result == 0 &&
				l.CleartextPassword && !l.DeprecatedSASL && l.SearchCount == 1
		}, "the SASL PLAIN bind")
	}},
	{"real:ldap-sasl-digest-md5.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return len(l.Binds) == 2 && l.Binds[0].Mechanism == "DIGEST-MD5" && l.Binds[0].Result == 14 && l.Binds[1].Result == 0 &&
				l.DeprecatedSASL && !l.CleartextPassword && l.SASLLayer && l.Cleartext
		}, "the DIGEST-MD5 binds and the security layer")
		for _, f := range fs {
			if f.ParseErrors != 0 {
				t.Errorf("parse errors on the wrapped tail: %s", f.ParseError)
			}
		}
	}},
	{"real:ldap-starttls.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return l.Upgraded && !l.Cleartext && len(l.Binds) == 0 && !l.StartTLSFailed && l.StartTLS.Result == 0
		}, "the upgraded session")
		wantTLS13(t, fs, "")
	}},
	{"real:ldap-starttls-failed.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool {
			return l.StartTLSFailed && l.StartTLS.Result == 2 && l.StartTLS.ClearAfter > 0 && !l.Upgraded && l.Cleartext &&
				l.AnonymousBind && l.SearchCount == 1 && !l.CleartextPassword
		}, "the failed StartTLS")
	}},
	{"real:ldap-bind-failures.pcap", 5, func(t *testing.T, fs []*flow.Flow) {
		for _, f := range fs {
			l := f.LDAP
			if len(l.Binds) != 1 || l.Binds[0].PasswordLen != 10 || l.Binds[0].Result != 49 || l.FailedBinds != 1 || !l.CleartextPassword || l.AnonymousBind {
				t.Errorf("flow %v: %+v", f.Client, l.Binds)
			}
		}
	}},
	{"real:ldap-port-10389.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(l *flow.LDAPFacts) bool { return l.AnonymousBind && l.SearchCount == 1 && !l.TLSPort }, "the anonymous session")
	}},
	{"real:ldaps-tls13.pcap", 0, nil},
	{"real:ldaps-tls12.pcap", 0, nil},
	{"real:sip-options-tcp.pcap", 0, nil},
	{"real:ntp-client.pcap", 0, nil},
	{"shared:ndpi/synscan.pcap", 0, nil},
	{"shared:ndpi/http_on_sip_port.pcap", 0, nil},
	{"shared:arkime/openssl-ssl3.pcap", 0, nil},
	{"shared:nts-ke-dissector/ntske-sample-dsb.pcapng", 0, nil},
}

// realFindings are the findings testdata/real/README.md expects of each recording, as the
// default policy raises them on each flow alone (merged over the file's flows; rules that
// count across flows, such as ldap.bind-failures, are the end-to-end tests' business).
var realFindings = map[string][]string{
	"ldap-simple-bind.pcap":          {"ldap.cleartext-password", "ldap.cleartext"},
	"ldap-anonymous-search.pcap":     {"ldap.anonymous-bind", "ldap.cleartext"},
	"ldap-unauthenticated-bind.pcap": {"ldap.unauthenticated-bind", "ldap.cleartext"},
	"ldap-sasl-plain.pcap":           {"ldap.cleartext-sasl-password", "ldap.cleartext"},
	"ldap-sasl-digest-md5.pcap":      {"ldap.deprecated-sasl", "ldap.cleartext"},
	"ldap-starttls.pcap":             nil,
	"ldap-starttls-failed.pcap":      {"ldap.starttls-failed", "ldap.anonymous-bind", "ldap.cleartext"},
	"ldap-bind-failures.pcap":        {"ldap.cleartext-password", "ldap.cleartext"},
	"ldap-port-10389.pcap":           {"ldap.anonymous-bind", "ldap.cleartext", "proto.nonstandard-port"},
}

// TestCorpus runs the detector over public LDAP captures (when the shared corpus is present
// beside the repository) and over the project's own recordings, asserting what the projects
// that published them say they hold. Captures listed with 0 flows must yield no LDAP flow.
func TestCorpus(t *testing.T) {
	for _, c := range corpusCases {
		name := corpustest.Name(c.file)
		t.Run(name, func(t *testing.T) {
			fs := detectortest.Claimed(t, corpustest.Path(t, c.file), New(), flow.LDAP)
			for _, f := range fs {
				if f.ParseErrors != 0 {
					t.Errorf("%v→%v: %d parse errors: %s", f.Client, f.Server, f.ParseErrors, f.ParseError)
				}
			}
			if c.flows == 0 && len(fs) != 0 {
				t.Fatalf("%d LDAP flows, want none", len(fs))
			}
			if len(fs) < c.flows {
				t.Fatalf("%d LDAP flows, want at least %d", len(fs), c.flows)
			}
			for _, f := range fs {
				out := detectortest.NoSecrets(t, f.LDAP, secrets...)
				if testing.Verbose() {
					t.Logf("%v→%v errors %d %s\n%s", f.Client, f.Server, f.ParseErrors, f.ParseError, out)
				}
			}
			if c.check != nil {
				c.check(t, fs)
			}
			if want, ok := realFindings[name]; ok && c.file[:5] == "real:" {
				var got []string
				for _, f := range fs {
					for _, id := range detectortest.Findings(t, &f.Record) {
						if !slices.Contains(got, id) {
							got = append(got, id)
						}
					}
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("the default policy raises %v, want %v", got, want)
				}
			}
		})
	}
}
