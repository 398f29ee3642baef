package rules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

func TestDefaultPolicyLoads(t *testing.T) {
	p := Default()
	if p.Name != "default" || len(p.Rules) < 7 {
		t.Fatalf("default policy: name %q, %d rules", p.Name, len(p.Rules))
	}
	for _, r := range p.Rules {
		if r.Name == "" || r.Description == "" || r.Remedy == "" || len(r.References) == 0 || r.Severity == 0 || len(r.Protocols) == 0 {
			t.Errorf("%s: every default rule needs a name, description, severity, protocol, remedy and references", r.ID)
		}
	}
	// What `pcapaudit policy` prints loads back to the same rules.
	q, err := Load("copy.yaml", p.Source)
	if err != nil || len(q.Rules) != len(p.Rules) {
		t.Fatalf("reloading the printed policy: %v", err)
	}
	s := p.Settings
	var lingers [flow.NumLabels]time.Duration
	lingers[flow.NTP], lingers[flow.LDAP], lingers[flow.SIP] = 5*time.Second, 2*time.Second, 5*time.Second
	if s.TLSPorts[636] != flow.LDAPS || s.TLSPorts[3269] != flow.LDAPS || s.TLSPorts[5061] != flow.SIPTLS ||
		s.Timeouts != (Timeouts{TCP: 10 * time.Minute, TCPClosed: 5 * time.Second, UDP: 2 * time.Minute, UDPAnswered: lingers}) {
		t.Errorf("settings: %+v", s)
	}
	if len(s.StandardPorts[flow.LDAP]) != 2 || s.StandardPorts[flow.NTP][0] != 123 || len(s.Lists["sip_scanners"]) == 0 || len(s.Lists["weak_ciphers"]) == 0 {
		t.Errorf("standard ports or lists: %+v %v", s.StandardPorts, s.Lists)
	}
	// The built-in settings a policy without a settings block gets are the default policy's.
	if d := defaultSettings(); d.Timeouts != s.Timeouts || len(d.TLSPorts) != len(s.TLSPorts) || len(d.StandardPorts) != len(s.StandardPorts) {
		t.Errorf("built-in settings %+v differ from the default policy's %+v", d, s)
	}
}

func TestSeverity(t *testing.T) {
	for _, c := range []struct {
		s     Severity
		name  string
		score int
	}{{Low, "low", 21}, {Medium, "medium", 47}, {High, "high", 73}, {Critical, "critical", 99}} {
		got, err := ParseSeverity(c.name)
		if err != nil || got != c.s || c.s.String() != c.name || c.s.Score() != c.score {
			t.Errorf("%s: parse %v %v, string %q, score %d", c.name, got, err, c.s.String(), c.s.Score())
		}
	}
	if _, err := ParseSeverity("High"); err == nil {
		t.Error("severity words are lower case")
	}
	if Severity(0).String() != "unknown" || Severity(9).Score() != 0 {
		t.Error("out-of-range severity")
	}
}

// minimal is a valid policy with one rule; the error table breaks it one way at a time.
const minimal = `version: 1
rules:
  - id: t.rule
    name: a rule
    description: d
    severity: high
    protocol: ldap
    when: 'ldap.messages > 0'
    message: 'm'
    remedy: r
    references: [x]
`

// TestLoadErrorsNameFileLineAndRule: every way a policy can be wrong is a load error that
// says where, on one line.
func TestLoadErrorsNameFileLineAndRule(t *testing.T) {
	cases := []struct {
		name, old, new string
		line           int
		rule, want     string
	}{
		{"yaml syntax", "version: 1", "version: [1", 1, "", "YAML"},
		{"not a mapping", minimal, "- 1\n", 1, "", "YAML mapping"},
		{"bad version", "version: 1", "version: 2", 1, "", `version "2"`},
		{"missing version", "version: 1\n", "", 1, "", `missing "version"`},
		{"unknown top-level key", "version: 1", "version: 1\nrulez: []", 2, "", `unknown key "rulez"`},
		{"unknown rule key", "    remedy: r", "    remedy: r\n    severty: low", 11, "t.rule", `unknown key "severty"`},
		{"unknown key before the id", "  - id: t.rule\n    name: a rule", "  - nmae: a rule\n    id: t.rule", 3, "t.rule", `unknown key "nmae"`},
		{"key twice", "    remedy: r", "    remedy: r\n    remedy: s", 11, "t.rule", `"remedy" given twice`},
		{"missing key", "    remedy: r\n", "", 3, "t.rule", `missing "remedy"`},
		{"missing id", "  - id: t.rule\n", "  -\n", 4, "", `missing "id"`},
		{"bad id", "id: t.rule", "id: T Rule", 3, "T Rule", "lower case"},
		{"bad severity", "severity: high", "severity: dire", 6, "t.rule", `severity "dire"`},
		{"unknown protocol", "protocol: ldap", "protocol: smtp", 7, "t.rule", `unknown protocol "smtp"`},
		{"unknown protocol in a list", "protocol: ldap", "protocol:\n      - ldap\n      - ntps", 9, "t.rule", `unknown protocol "ntps"`},
		{"unknown field", "ldap.messages > 0", "ldap.bindz[0].dn != \"\"", 8, "t.rule", `unknown field "ldap.bindz" in when`},
		{"unknown name", "ldap.messages > 0", "ldapp.messages > 0", 8, "t.rule", `unknown name "ldapp" in when`},
		{"type error", "ldap.messages > 0", "ldap.messages > \"a\"", 8, "t.rule", "mismatched types"},
		{"syntax error", "ldap.messages > 0", "ldap.messages >", 8, "t.rule", "in when"},
		{"not bool", "ldap.messages > 0", "ldap.messages", 8, "t.rule", "want a bool condition"},
		{"error in a block", "    when: 'ldap.messages > 0'", "    when: |\n      ldap.messages > 0 &&\n      ldap.nope", 10, "t.rule", `unknown field "ldap.nope"`},
		{"now is not allowed", "ldap.messages > 0", "now().Year() > 2000", 8, "t.rule", `unknown name "now"`},
		{"unknown list", "ldap.messages > 0", "\"x\" in lists.nope", 8, "t.rule", `unknown list "lists.nope"`},
		{"bad placeholder", "message: 'm'", "message: 'x {{ ldap.nope }}'", 9, "t.rule", `unknown field "ldap.nope" in message placeholder {{ ldap.nope }}`},
		{"unclosed placeholder", "message: 'm'", "message: 'x {{ ldap.messages'", 9, "t.rule", "{{ without }}"},
		{"each not a list", "    when:", "    each: ldap.messages\n    when:", 8, "t.rule", "not a list"},
		{"each unknown", "    when:", "    each: ldap.bindz\n    when:", 8, "t.rule", `unknown field "ldap.bindz"`},
		{"each not a path", "    when:", "    each: ldap.binds[0]\n    when:", 8, "t.rule", "dotted name of a list"},
		{"it without each", "ldap.messages > 0", "it.dn != \"\"", 8, "t.rule", `unknown name "it"`},
		{"it of the wrong type", "    when: 'ldap.messages > 0'", "    each: ldap.binds\n    when: 'it.oid != \"\"'", 9, "t.rule", `unknown field "it.oid"`},
		{"evidence not an event", "    remedy: r", "    remedy: r\n    evidence: ldap.messages", 11, "t.rule", "want an event"},
		{"bad cidr", "    remedy: r", "    remedy: r\n    allow: {cidrs: [10.0.0.0/33]}", 11, "t.rule", `"10.0.0.0/33" is not a CIDR`},
		{"host name in hosts", "    remedy: r", "    remedy: r\n    allow:\n      hosts:\n        - 10.0.0.1\n        - ldap.example.org", 14, "t.rule", "not an IP address"},
		{"bad port", "    remedy: r", "    remedy: r\n    allow: {ports: [70000]}", 11, "t.rule", `port "70000"`},
		{"unknown allow key", "    remedy: r", "    remedy: r\n    allow: {cidr: [10.0.0.0/8]}", 11, "t.rule", `unknown key "cidr"`},
		{"threshold without by", "    remedy: r", "    remedy: r\n    threshold: {count: 3, window: 1m}", 11, "t.rule", `missing "by"`},
		{"threshold bad window", "    remedy: r", "    remedy: r\n    threshold: {count: 3, by: client.ip, window: 60}", 11, "t.rule", `duration "60"`},
		{"threshold bad count", "    remedy: r", "    remedy: r\n    threshold: {count: 0, by: client.ip, window: 1m}", 11, "t.rule", "positive number"},
		{"threshold bad by", "    remedy: r", "    remedy: r\n    threshold: {count: 3, by: client.address, window: 1m}", 11, "t.rule", `unknown field "client.address" in threshold.by`},
		{"bad duration", "version: 1", "version: 1\nsettings: {timeouts: {udp: soon}}", 2, "", `duration "soon"`},
		{"unknown timeout", "version: 1", "version: 1\nsettings:\n  timeouts: {icmp: 1m}", 3, "", `unknown key "icmp"`},
		{"linger of a TCP protocol", "version: 1", "version: 1\nsettings:\n  timeouts:\n    udp_answered: {ldaps: 2s}", 4, "", `unknown protocol "ldaps"`},
		{"negative linger", "version: 1", "version: 1\nsettings:\n  timeouts:\n    udp_answered: {ntp: -2s}", 4, "", `duration "-2s"`},
		{"tls port label", "version: 1", "version: 1\nsettings: {tls_ports: {443: ntp}}", 2, "", "ldaps or sip-tls"},
		{"standard port label", "version: 1", "version: 1\nsettings:\n  standard_ports:\n    dns: [53]", 4, "", `unknown protocol "dns"`},
		{"list name", "version: 1", "version: 1\nsettings:\n  lists:\n    Bad-Name: [x]", 4, "", "list name"},
		{"list not a list", "version: 1", "version: 1\nsettings:\n  lists:\n    names: x", 4, "", "want a list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(minimal, c.old, c.new, 1)
			if src == minimal {
				t.Fatalf("the case does not change the policy")
			}
			_, err := Load("site.yaml", []byte(src))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LoadError", err)
			}
			if le.File != "site.yaml" || le.Line != c.line || le.Rule != c.rule {
				t.Errorf("error %q: file %q line %d rule %q, want line %d rule %q", err, le.File, le.Line, le.Rule, c.line, c.rule)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line mentioning %q", err, c.want)
			}
		})
	}
}

func TestLoadErrorText(t *testing.T) {
	src := strings.Replace(minimal, "id: t.rule", "id: ldap.cleartext-password", 1)
	src = strings.Replace(src, "ldap.messages > 0", "ldap.bindz != nil", 1)
	_, err := Load("policy.yaml", []byte(src))
	want := `policy.yaml:8: rule "ldap.cleartext-password": unknown field "ldap.bindz" in when`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestDuplicateID(t *testing.T) {
	dup := minimal + strings.SplitN(minimal, "rules:\n", 2)[1]
	_, err := Load("d.yaml", []byte(dup))
	var le *LoadError
	if !errors.As(err, &le) || le.Line != 12 || le.Rule != "t.rule" || !strings.Contains(le.Msg, "already used by the rule at line 3") {
		t.Errorf("duplicate id: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadFile(filepath.Join(dir, "absent.yaml"))
	if err == nil || !strings.Contains(err.Error(), "absent.yaml") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(p, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	pol, err := LoadFile(p)
	if err != nil || pol.Name != "ok.yaml" || string(pol.Source) != minimal {
		t.Fatalf("LoadFile: %v %v", pol, err)
	}
	// A policy without settings gets the built-in ones.
	if pol.Settings.TLSPorts[636] != flow.LDAPS || pol.Settings.Timeouts.TCP != 10*time.Minute {
		t.Errorf("built-in settings: %+v", pol.Settings)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(minimal, "high", "dire", 1)), 0o644)
	if _, err := LoadFile(bad); err == nil || !strings.HasPrefix(err.Error(), bad+":6: ") {
		t.Errorf("an error of a file names its path: %v", err)
	}
}

func TestSettingsOverride(t *testing.T) {
	src := strings.Replace(minimal, "version: 1", `version: 1
settings:
  timeouts: {udp: 30s, udp_answered: {sip: 0s, ntp: 1s}}
  tls_ports: {10636: ldaps}
  standard_ports: {ldap: [10389]}
  lists: {admins: ["cn=admin,dc=example,dc=org"], empty: []}`, 1)
	p, err := Load("s.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Settings
	if s.Timeouts.UDP != 30*time.Second || s.Timeouts.TCP != 10*time.Minute {
		t.Errorf("timeouts: %+v (the ones not given keep their built-in value)", s.Timeouts)
	}
	if a := s.Timeouts.UDPAnswered; a[flow.SIP] != 0 || a[flow.NTP] != time.Second || a[flow.LDAP] != 2*time.Second {
		t.Errorf("udp_answered: %v (0s turns a linger off; a protocol not given keeps its built-in linger)", a)
	}
	if len(s.TLSPorts) != 1 || s.TLSPorts[10636] != flow.LDAPS {
		t.Errorf("tls_ports replace the built-in ones: %v", s.TLSPorts)
	}
	if len(s.StandardPorts) != 1 || s.StandardPorts[flow.LDAP][0] != 10389 {
		t.Errorf("standard_ports: %v", s.StandardPorts)
	}
	if s.Lists["admins"][0] != "cn=admin,dc=example,dc=org" || s.Lists["empty"] == nil {
		t.Errorf("lists: %v", s.Lists)
	}
}
