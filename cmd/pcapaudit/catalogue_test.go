package main

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

// catalogue pairs every rule of the default policy with a shipped capture that must raise it
// and a capture of the same protocol that must not: the raising capture proves the rule sees
// the problem in real bytes, the safe one that it does not fire on the protocol as such.
var catalogue = map[string]struct{ raise, safe string }{
	"ldap.cleartext-password":        {"real/ldap-simple-bind", "real/ldap-anonymous-search"},
	"ldap.cleartext-sasl-password":   {"real/ldap-sasl-plain", "real/ldap-sasl-digest-md5"},
	"ldap.anonymous-bind":            {"real/ldap-anonymous-search", "real/ldap-simple-bind"},
	"ldap.unauthenticated-bind":      {"real/ldap-unauthenticated-bind", "real/ldap-anonymous-search"},
	"ldap.cleartext":                 {"real/ldap-simple-bind", "real/ldap-starttls"},
	"ldap.starttls-failed":           {"real/ldap-starttls-failed", "real/ldap-starttls"},
	"ldap.deprecated-sasl":           {"real/ldap-sasl-digest-md5", "real/ldap-sasl-plain"},
	"ldap.password-modify-cleartext": {"real/ldap-passwd-modify", "real/ldap-simple-bind"},
	"ldap.bind-failures":             {"real/ldap-bind-failures", "real/ldap-unauthenticated-bind"},
	"ldap.spn-search":                {"real/ldap-spn-search", "real/ldap-anonymous-search"},
	"ldap.cldap-amplification":       {"gen/cldap", "gen/cldap-ping"},
	"sip.cleartext":                  {"real/sip-options-tcp", "real/sip-tls-5061"},
	"sip.digest-cleartext":           {"real/sip-register-digest-udp", "real/sip-options-tcp"},
	"sip.basic-credentials":          {"gen/sip-basic", "real/sip-register-digest-udp"},
	"sip.sdes-cleartext":             {"real/sip-invite-srtp-sdes-udp", "real/sip-invite-rtp-udp"},
	"sip.unencrypted-media":          {"real/sip-invite-rtp-udp", "real/sip-invite-srtp-sdes-udp"},
	"sip.scanner":                    {"gen/sip-scanner", "real/sip-options-udp-5080"},
	"sip.sweep":                      {"gen/sip-scanner", "real/sip-register-bruteforce"},
	"sip.register-bruteforce":        {"real/sip-register-bruteforce", "real/sip-register-digest-udp"},
	"ntp.monlist":                    {"gen/ntp-monlist", "gen/ntp-mode7-other"},
	"ntp.mode7":                      {"gen/ntp-mode7-other", "real/ntp-mode6-rv-mrulist"},
	"ntp.mode6":                      {"real/ntp-mode6-rv-mrulist", "real/ntp-client"},
	"ntp.amplification":              {"gen/ntp-monlist", "real/ntp-mode6-rv-mrulist"},
	"ntp.unauthenticated":            {"real/ntp-client", "real/ntp-client-auth-md5"},
	"ntp.old-version":                {"gen/ntp-v3-offport", "real/ntp-client"},
	"tls.obsolete-version":           {"real/ldaps-tls10", "real/ldaps-tls12"},
	"tls.weak-cipher":                {"real/ldaps-weak-server", "real/ldaps-tls12-rsa-kx"},
	"tls.no-forward-secrecy":         {"real/ldaps-tls12-rsa-kx", "real/ldaps-tls12"},
	"tls.cert-expired":               {"real/ldaps-weak-server", "real/ldaps-ca-signed"},
	"tls.self-signed":                {"real/ldaps-tls12", "real/ldaps-ca-signed"},
	"tls.weak-key":                   {"real/ldaps-weak-server", "real/ldaps-ca-signed"},
	"tls.name-mismatch":              {"real/ldaps-weak-server", "real/ldaps-ca-signed"},
	"tls-port.cleartext":             {"gen/ldap-cleartext-636", "real/ldaps-tls12"},
	"proto.nonstandard-port":         {"real/ldap-port-10389", "real/ldap-anonymous-search"},
}

// auditOne runs the command with JSON output on one shipped capture and returns the rule ids it
// raised and the protocols of its flows.
func auditOne(t *testing.T, name string) (raised, protocols []string) {
	t.Helper()
	r := runCmd(t, nil, "-f", "json", filepath.Join(repo, "testdata", name+".pcap"))
	if r.code != 0 && r.code != 1 {
		t.Fatalf("%s: exit %d: %s", name, r.code, r.stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var doc struct {
			Event   struct{ Kind string }
			Rule    struct{ ID string }
			Network struct{ Protocol string }
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("%s: %v in %s", name, err, sc.Text())
		}
		switch doc.Event.Kind {
		case "alert":
			raised = append(raised, doc.Rule.ID)
		case "event":
			protocols = append(protocols, doc.Network.Protocol)
		}
	}
	return raised, protocols
}

func TestCatalogue(t *testing.T) {
	type result struct{ raised, protocols []string }
	cache := map[string]result{}
	get := func(name string) result {
		if r, ok := cache[name]; ok {
			return r
		}
		var r result
		r.raised, r.protocols = auditOne(t, name)
		cache[name] = r
		return r
	}
	for _, rule := range rules.Default().Rules {
		c, ok := catalogue[rule.ID]
		if !ok {
			t.Errorf("rule %s has no capture that raises it and none that must not: add both to the catalogue", rule.ID)
			continue
		}
		if got := get(c.raise); !slices.Contains(got.raised, rule.ID) {
			t.Errorf("%s does not raise %s (it raises %v)", c.raise, rule.ID, got.raised)
		}
		safe := get(c.safe)
		if slices.Contains(safe.raised, rule.ID) {
			t.Errorf("%s raises %s, but it is the safe capture for that rule", c.safe, rule.ID)
		}
		// The safe capture must be traffic the rule is about: one of its protocols, or the
		// same protocol over TLS (the safe form of a cleartext finding).
		if len(rule.Protocols) > 0 && !slices.ContainsFunc(safe.protocols, func(p string) bool {
			return slices.ContainsFunc(rule.Protocols, func(l flow.Label) bool { return family(l.String()) == family(p) })
		}) {
			t.Errorf("safe capture %s for %s has protocols %v, none of the rule's %v", c.safe, rule.ID, safe.protocols, rule.Protocols)
		}
	}
	for id := range catalogue {
		if !slices.ContainsFunc(rules.Default().Rules, func(r *rules.Rule) bool { return r.ID == id }) {
			t.Errorf("catalogue names %s, which the default policy does not have", id)
		}
	}
}

// family is the protocol without its TLS form: ldaps is ldap, sip-tls is sip.
func family(label string) string {
	switch label {
	case "ldaps":
		return "ldap"
	case "sip-tls":
		return "sip"
	}
	return label
}
