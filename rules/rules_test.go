package rules

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

func TestDefaultPolicyLoads(t *testing.T) {
	p := Default()
	if p.Name != "default" || len(p.Rules) < 25 {
		t.Fatalf("default policy: name %q, %d rules", p.Name, len(p.Rules))
	}
	seen := map[string]bool{}
	for _, r := range p.Rules {
		if seen[r.ID] {
			t.Errorf("duplicate id %s", r.ID)
		}
		seen[r.ID] = true
		if r.Name == "" || r.Description == "" || r.Remedy == "" || len(r.References) == 0 || r.Severity == 0 {
			t.Errorf("%s: every rule needs a name, description, severity, remedy and references", r.ID)
		}
	}
	// What `pcapaudit policy` prints loads back to the same rules.
	q, err := Load("copy.yaml", p.Source)
	if err != nil || len(q.Rules) != len(p.Rules) {
		t.Fatalf("reloading the printed policy: %v", err)
	}
	if p.Settings.TLSPorts[636] != flow.LDAPS || p.Settings.TLSPorts[5061] != flow.SIPTLS || p.Settings.Timeouts.UDP != 2*time.Minute {
		t.Errorf("settings: %+v", p.Settings)
	}
}

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
// says where.
func TestLoadErrorsNameFileLineAndRule(t *testing.T) {
	cases := []struct {
		name, old, new string
		line           int
		rule, want     string
	}{
		{"yaml syntax", "version: 1", "version: [1", 0, "", "site.yaml"},
		{"unknown key", "    remedy: r", "    remedy: r\n    severty: low", 11, "t.rule", `unknown key "severty"`},
		{"unknown field", "ldap.messages > 0", "ldap.mesages > 0", 8, "t.rule", "mesages"},
		{"not bool", "ldap.messages > 0", "ldap.messages", 8, "t.rule", "bool"},
		{"bad severity", "severity: high", "severity: dire", 6, "t.rule", `severity "dire"`},
		{"bad protocol", "protocol: ldap", "protocol: smtp", 7, "t.rule", `protocol "smtp"`},
		{"bad placeholder", "message: 'm'", "message: 'x {{ ldap.nope }}'", 9, "t.rule", "nope"},
		{"each not a list", "    when:", "    each: ldap.messages\n    when:", 8, "t.rule", "not a list"},
		{"bad cidr", "    remedy: r", "    remedy: r\n    allow: {cidrs: [10.0.0.0/33]}", 11, "t.rule", "CIDR"},
		{"bad duration", "version: 1", "version: 1\nsettings: {timeouts: {udp: soon}}", 2, "", "duration"},
		{"missing key", "    remedy: r\n", "", 3, "t.rule", `missing "remedy"`},
		{"bad version", "version: 1", "version: 2", 1, "", "version"},
		{"tls port label", "version: 1", "version: 1\nsettings: {tls_ports: {443: ntp}}", 2, "", "ldaps or sip-tls"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(minimal, c.old, c.new, 1)
			_, err := Load("site.yaml", []byte(src))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LoadError", err)
			}
			if le.File != "site.yaml" || (c.line > 0 && le.Line != c.line) || le.Rule != c.rule {
				t.Errorf("error %q: file %q line %d rule %q, want line %d rule %q", err, le.File, le.Line, le.Rule, c.line, c.rule)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line mentioning %q", err, c.want)
			}
		})
	}
	dup := minimal + strings.SplitN(minimal, "rules:\n", 2)[1]
	if _, err := Load("d.yaml", []byte(dup)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate id: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	if _, err := LoadFile(filepath.Join(t.TempDir(), "absent.yaml")); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "ok.yaml")
	os.WriteFile(p, []byte(minimal), 0o644)
	pol, err := LoadFile(p)
	if err != nil || pol.Name != "ok.yaml" {
		t.Errorf("LoadFile: %v %v", pol, err)
	}
}

var (
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cli = netip.MustParseAddrPort("127.0.0.1:40000")
	srv = netip.MustParseAddrPort("127.0.0.2:389")
)

func ldapRecord(binds ...flow.LDAPBind) *flow.Record {
	return &flow.Record{
		File: "x.pcap", FirstFrame: 1, Start: t0, End: t0.Add(time.Second), Transport: flow.TCP,
		Client: cli, Server: srv, Label: flow.LDAP, ProtoFrame: 4, ProtoTime: t0,
		LDAP: &flow.LDAPFacts{Messages: uint32(2*len(binds) + 1), Binds: binds, Cleartext: true, First: flow.Event{Frame: 4, Time: t0}},
	}
}

func check(p *Policy, recs ...*flow.Record) map[string]*Finding {
	c := p.NewChecker()
	out := map[string]*Finding{}
	for _, r := range recs {
		c.Check(r, func(f *Finding) { out[f.Rule.ID] = f })
	}
	return out
}

func TestEachPointsAtFirstMatchAndHidesSecrets(t *testing.T) {
	anon := flow.LDAPBind{Event: flow.Event{Frame: 4, Time: t0}, Auth: "simple", Kind: "anonymous", Result: 0, Answered: true, ResultName: "success"}
	pw := flow.LDAPBind{Event: flow.Event{Frame: 9, Time: t0.Add(time.Millisecond)}, Auth: "simple", Kind: "simple",
		DN: "cn=admin,dc=example,dc=org", PasswordPresent: true, PasswordLen: 9, Result: 49, Answered: true, ResultName: "invalidCredentials"}
	pw2 := pw
	pw2.Frame = 12
	got := check(Default(), ldapRecord(anon, pw, pw2))
	f := got["ldap.cleartext-password"]
	if f == nil {
		t.Fatalf("no cleartext-password finding; got %v", keys(got))
	}
	if f.Evidence.Frame != 9 || f.Count != 2 || f.Rule.Severity != Critical {
		t.Errorf("evidence frame %d count %d severity %v: want the first matching bind (frame 9), 2 matches, critical", f.Evidence.Frame, f.Count, f.Rule.Severity)
	}
	if !strings.Contains(f.Message, "cn=admin,dc=example,dc=org") || !strings.Contains(f.Message, "9-byte") || !strings.Contains(f.Message, "invalidCredentials") {
		t.Errorf("message %q lacks the observed values", f.Message)
	}
	if got["ldap.anonymous-bind"] == nil || got["ldap.anonymous-bind"].Evidence.Frame != 4 {
		t.Errorf("anonymous bind: %+v", got["ldap.anonymous-bind"])
	}
	if got["ldap.cleartext"] == nil {
		t.Error("no ldap.cleartext finding")
	}
	// A session upgraded by StartTLS, with no bind in cleartext, raises no cleartext finding.
	safe := ldapRecord()
	safe.LDAP.Cleartext, safe.LDAP.Upgraded, safe.LDAP.Messages = false, true, 2
	if got := check(Default(), safe); len(got) != 0 {
		t.Errorf("StartTLS-protected session raised %v", keys(got))
	}
}

func keys(m map[string]*Finding) []string {
	var k []string
	for id := range m {
		k = append(k, id)
	}
	return k
}

func TestAllowListSuppresses(t *testing.T) {
	src := strings.Replace(minimal, "    remedy: r", "    remedy: r\n    allow: {cidrs: [127.0.0.0/30], ports: [10389]}", 1)
	p, err := Load("a.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := check(p, ldapRecord()); len(got) != 0 {
		t.Errorf("allow-listed client still raised %v", keys(got))
	}
	r := ldapRecord()
	r.Client = netip.MustParseAddrPort("127.0.9.1:40000")
	r.Server = netip.MustParseAddrPort("127.0.9.2:389")
	if got := check(p, r); got["t.rule"] == nil {
		t.Error("a flow outside the allow-list raised nothing")
	}
	r.Server = netip.MustParseAddrPort("127.0.9.2:10389")
	if got := check(p, r); len(got) != 0 {
		t.Error("allow-listed port still raised")
	}
}

func TestThresholdFiresOnceAtTheNthDistinctTarget(t *testing.T) {
	src := strings.Replace(minimal, "    remedy: r", "    remedy: r\n    threshold: {count: 3, by: client.ip, distinct: server.ip, window: 1m}", 1)
	p, err := Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewChecker()
	var fired []int
	for i := 0; i < 6; i++ {
		r := ldapRecord()
		r.Server = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(i % 4)}), 389)
		r.ProtoTime = t0.Add(time.Duration(i) * time.Second)
		c.Check(r, func(f *Finding) { fired = append(fired, i); _ = f })
	}
	if len(fired) != 1 || fired[0] != 2 {
		t.Errorf("fired at flows %v, want once at the third distinct server", fired)
	}
	// Outside the window, counting starts again.
	c = p.NewChecker()
	fired = nil
	for i := 0; i < 3; i++ {
		r := ldapRecord()
		r.Server = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}), 389)
		r.ProtoTime = t0.Add(time.Duration(i) * 2 * time.Minute)
		c.Check(r, func(*Finding) { fired = append(fired, i) })
	}
	if len(fired) != 0 {
		t.Errorf("fired across windows: %v", fired)
	}
}

func TestRuntimeErrorsAreCountedNotFatal(t *testing.T) {
	src := strings.Replace(minimal, "'ldap.messages > 0'", "'ldap.starttls.result == 0'", 1)
	p, err := Load("e.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewChecker()
	c.Check(ldapRecord(), func(*Finding) { t.Error("a nil StartTLS matched") })
	if c.Stats().EvalErrors["t.rule"] != 1 {
		t.Errorf("eval errors %v", c.Stats().EvalErrors)
	}
}

func BenchmarkCheck(b *testing.B) {
	p := Default()
	c := p.NewChecker()
	r := ldapRecord(flow.LDAPBind{Event: flow.Event{Frame: 4}, Auth: "simple", Kind: "simple", DN: "cn=a", PasswordPresent: true, PasswordLen: 5})
	b.ReportAllocs()
	for b.Loop() {
		c.Check(r, func(*Finding) {})
	}
}
