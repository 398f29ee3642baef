package rules

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// text is what one expression came to: its text, or a failure.
type text struct {
	s   string
	err bool
}

// vmText runs prog on the VM and writes its value as the checker did before rendering was
// compiled: format of the VM's value.
func vmText(c *Checker, prog *vm.Program, env any) text {
	v, err := c.vm.Run(prog, env)
	if err != nil {
		return text{err: true}
	}
	return text{s: format(v)}
}

// caught runs a compiled expression: its result, or "error" for the run-time error it
// raised (a field read through nil).
func caught(f func() string) (s string) {
	defer func() {
		if x := recover(); x != nil {
			if _, ok := x.(evalError); !ok {
				panic(x)
			}
			s = "error"
		}
	}()
	return f()
}

// fastText runs a compiled renderer, which appends to what dst already holds.
func fastText(f renderFn, fr frame) text {
	var out []byte
	if s := caught(func() string { out = f(&fr, []byte("…")); return "" }); s == "error" {
		return text{err: true}
	}
	return text{s: string(out[len("…"):])}
}

func vmEvent(c *Checker, e *evidenceProg, env any) string {
	v, err := c.vm.Run(e.prog, env)
	if err != nil {
		return "error"
	}
	ev, ok := eventIn(reflect.ValueOf(v), e.path)
	return fmt.Sprint(ev, ok)
}

func fastEvent(f eventFn, fr frame) string {
	return caught(func() string { ev, ok := f(&fr); return fmt.Sprint(ev, ok) })
}

func vmWeight(c *Checker, th *threshold, env any) string {
	v, err := c.vm.Run(th.weight, env)
	if err != nil {
		return "error"
	}
	n, _ := v.(int)
	return fmt.Sprint(n)
}

func fastWeight(f func(*frame) int64, fr frame) string {
	return caught(func() string { return fmt.Sprint(int(f(&fr))) })
}

// renderAgree evaluates every message placeholder, evidence and threshold expression of p
// both ways — on the VM with the address strings written, compiled with them left to be
// written when read, as the checker runs them — on every record (and every element of an
// each rule), and reports where they differ. It returns how many texts were not empty and
// how many evaluations failed, to show that both were exercised. With all, an expression
// left to the VM is an error.
func renderAgree(t *testing.T, p *Policy, recs []*flow.Record, all bool) (nonEmpty, failed int) {
	t.Helper()
	c := p.NewChecker()
	type pair struct {
		name string
		vm   func(env any) string
		fast func(fr frame) string
	}
	for _, r := range p.Rules {
		var pairs []pair
		for _, pt := range r.message {
			if pt.prog == nil {
				continue
			}
			if pt.render == nil {
				if all {
					t.Errorf("rule %s: placeholder {{ %s }} is not compiled", r.ID, pt.text)
				}
				continue
			}
			pairs = append(pairs, pair{"{{ " + pt.text + " }}",
				func(env any) string { return fmt.Sprint(vmText(c, pt.prog, env)) },
				func(fr frame) string { return fmt.Sprint(fastText(pt.render, fr)) }})
		}
		if e := r.evidence; e != nil {
			if e.fast == nil && all {
				t.Errorf("rule %s: evidence is not compiled", r.ID)
			} else if e.fast != nil {
				pairs = append(pairs, pair{"evidence",
					func(env any) string { return vmEvent(c, e, env) },
					func(fr frame) string { return fastEvent(e.fast, fr) }})
			}
		}
		if th := r.thresh; th != nil {
			for _, x := range []struct {
				name string
				prog *vm.Program
				f    renderFn
			}{{"threshold.by", th.by, th.byR}, {"threshold.distinct", th.distinct, th.distinctR}} {
				if x.prog == nil {
					continue
				}
				if x.f == nil {
					if all {
						t.Errorf("rule %s: %s is not compiled", r.ID, x.name)
					}
					continue
				}
				pairs = append(pairs, pair{x.name,
					func(env any) string { return fmt.Sprint(vmText(c, x.prog, env)) },
					func(fr frame) string { return fmt.Sprint(fastText(x.f, fr)) }})
			}
			if th.weight != nil && th.weightF == nil && all {
				t.Errorf("rule %s: threshold.weight is not compiled", r.ID)
			} else if th.weight != nil {
				pairs = append(pairs, pair{"threshold.weight",
					func(env any) string { return vmWeight(c, th, env) },
					func(fr frame) string { return fastWeight(th.weightF, fr) }})
			}
		}
		for _, pr := range pairs {
			for i, rec := range recs {
				var want, got []string
				// On the VM: the env as fillEnv writes it, every string there.
				fillEnv(&c.env, rec, &p.Settings)
				if r.each == nil {
					want = append(want, pr.vm(&c.env))
				} else if list := r.each.list(&c.env); list.IsValid() {
					ee := c.each[r.index]
					for j := range list.Len() {
						ee.it.Set(list.Index(j))
						want = append(want, pr.vm(ee.env))
					}
				}
				// Compiled: the address strings are left to be written when read, and each
				// evaluation starts from an env where they are not written yet.
				fill := func() {
					fillEnvLazy(&c.env, rec, p.Settings.Lists, &c.ports)
					if r.each != nil && r.each.tunnel {
						materialize(&c.env) // as eval does before it reads the list
					}
				}
				fill()
				if r.each == nil {
					got = append(got, pr.fast(frame{env: &c.env, sc: &c.sc}))
				} else {
					if list := r.each.list(&c.env); list.IsValid() {
						for j := range list.Len() {
							fill()
							got = append(got, pr.fast(frame{env: &c.env, it: list.Index(j).Addr().UnsafePointer(), sc: &c.sc}))
						}
					}
				}
				c.env = Env{}
				if fmt.Sprint(want) != fmt.Sprint(got) {
					t.Errorf("rule %s, %s, record %d (%s):\nVM       %q\ncompiled %q", r.ID, pr.name, i, rec.Label, want, got)
					continue
				}
				for _, w := range want {
					switch {
					case strings.HasPrefix(w, "{ true}"), w == "error":
						failed++
					case w != "{ false}" && w != "" && w != "0" && w != "{0 0001-01-01 00:00:00 +0000 UTC } false":
						nonEmpty++
					}
				}
			}
		}
	}
	return nonEmpty, failed
}

// addrRecords are records whose endpoints are written in other ways: IPv6 with a zone,
// IPv4-mapped IPv6 (unmapped in the text), and no address at all.
func addrRecords() []*flow.Record {
	var recs []*flow.Record
	for _, a := range []string{"[2001:db8::1%eth0]:5060", "[::ffff:192.0.2.7]:5060", ""} {
		r := cleartextSIP()
		if a != "" {
			r.Client = netip.MustParseAddrPort(a)
		} else {
			r.Client = netip.AddrPort{}
		}
		recs = append(recs, r)
	}
	return recs
}

// TestRenderAgreesWithVM: every message placeholder, evidence expression and threshold key,
// distinct value and weight of the default policy is compiled, and writes exactly the text
// the VM's value is written as (and fails where the VM fails), on the rule cases and on
// thousands of random records.
func TestRenderAgreesWithVM(t *testing.T) {
	recs := append(testRecords(3000), addrRecords()...)
	nonEmpty, _ := renderAgree(t, Default(), recs, true)
	if nonEmpty < 10000 {
		t.Errorf("only %d texts were written: the records do not exercise the messages", nonEmpty)
	}
}

// TestRenderCoversTheLanguage: placeholders a user may write, beyond the default policy's —
// every type a value may have, the builtins that make text, lists, errors through nil facts
// — either run on the VM or, compiled, write what the VM's value is written as.
func TestRenderCoversTheLanguage(t *testing.T) {
	exprs := []struct{ proto, each, x string }{
		{"ntp", "tunnel", "it.source + \">\" + it.destination + \"/\" + it.type"},
		{"ntp", "tunnel", "it.id"},
		{"ntp", "tunnel", "client.ip"},
		{"ldap", "", "client.ip + \" \" + server.ip"},
		{"ldap", "", "lower(client.ip) + string(client.port)"},
		{"ldap", "", "client.port"},
		{"ldap", "", "start"},
		{"ldap", "", "end"},
		{"ldap", "", "duration"},
		{"ldap", "", "ldap.first"},
		{"ldap", "", "ldap.first.time"},
		{"ldap", "", "ldap.amplification / 3"},
		{"ldap", "", "ldap.request_bytes"},
		{"ldap", "", "string(ldap.request_bytes)"},
		{"ldap", "", "ldap.request_bytes + ldap.response_bytes"},
		{"ldap", "", "ldap.cleartext"},
		{"ldap", "", "len(ldap.binds)"},
		{"ldap", "", "ldap.starttls.result_name"},
		{"ldap", "", "ldap.starttls.result"},
		{"ldap", "", "ldap.binds != nil ? \"binds\" : ldap.messages"},
		{"ldap", "", "ldap.starttls?.result_name"}, // optional chaining: on the VM
		{"ldap", "", "ldap.binds[0].dn"},           // indexing: on the VM
		{"ldap", "", "ldap.starttls"},              // a pointer: on the VM
		{"ntp", "", "ntp.modes"},
		{"ntp", "", "ntp.request.poll"},
		{"ntp", "", "-ntp.request.poll"}, // an int8 negation: on the VM
		{"ntp", "", "ntp.request.transmit"},
		{"ntp", "", "ntp.amplification"},
		{"ntp", "", "ntp.monlist"}, // a struct: on the VM
		{"sip", "", "lower(sip.user_agent) + upper(sip.server) + trim(sip.server)"},
		{"sip", "", "sip.crypto_suites"},
		{"sip", "", "join(sip.crypto_suites)"},
		{"sip", "", "join(map(sip.media, .type), \"|\")"},
		{"sip", "", "join(map(filter(sip.media, .port > 5000 || .response), lower(.proto) + \":\" + string(.port)), \"; \")"},
		{"sip", "", "join(filter(sip.media, .unencrypted), \",\")"}, // a list of structs: on the VM
		{"sip", "", "sip.methods.options + sip.methods.register * 2"},
		{"ldaps", "", "tls.name_matches_sni"}, // a pointer: on the VM
		{"ldaps", "", "tls.server.not_after"},
		{"ldaps", "", "join(tls.client.alpn, \"|\")"},
		{"ldaps", "", "tls.server.x509.public_key_size"},
		{"ldap", "", "vni + vlan"},
		{"ldap", "", "protocol + \"/\" + transport + \" \" + end_reason"},
	}
	onVM := map[string]bool{"ldap.starttls?.result_name": true, "ldap.binds[0].dn": true, "ldap.starttls": true,
		"-ntp.request.poll": true, "ntp.monlist": true, "join(filter(sip.media, .unencrypted), \",\")": true,
		"tls.name_matches_sni": true}
	var b strings.Builder
	b.WriteString(settingsHead())
	for i, e := range exprs {
		each := ""
		if e.each != "" {
			each = "each: " + e.each + ", "
		}
		fmt.Fprintf(&b, "  - {id: t.r%d, name: n, description: d, severity: low, protocol: %s, %swhen: 'true', message: '{{ %s }}', remedy: r, references: [x]}\n",
			i, e.proto, each, strings.ReplaceAll(e.x, "'", "''"))
	}
	// Evidence and thresholds beyond the default policy's.
	b.WriteString("  - {id: t.ev1, name: n, description: d, severity: low, protocol: ldap, when: 'true', message: m, remedy: r, evidence: ldap.starttls.response}\n")
	b.WriteString("  - {id: t.ev2, name: n, description: d, severity: low, protocol: ldap, when: 'true', message: m, remedy: r, evidence: ldap.starttls}\n")
	b.WriteString("  - {id: t.ev3, name: n, description: d, severity: low, protocol: ntp, when: 'true', message: m, remedy: r, evidence: ntp.monlist.request}\n")
	b.WriteString("  - {id: t.th1, name: n, description: d, severity: low, protocol: sip, when: 'true', message: m, remedy: r, threshold: {count: 3, by: 'upper(sip.user_agent) + client.ip', distinct: 'server.port', window: 1m}}\n")
	b.WriteString("  - {id: t.th2, name: n, description: d, severity: low, protocol: ntp, when: 'true', message: m, remedy: r, threshold: {count: 3, by: 'ntp.request.transmit', weight: 'int(ntp.request.poll) * 2', window: 1m}}\n")
	p, err := Load("t.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range exprs {
		if got := p.Rules[i].message[0].render != nil; got == onVM[e.x] {
			t.Errorf("{{ %s }}: compiled %v, want %v", e.x, got, !onVM[e.x])
		}
	}
	nonEmpty, failed := renderAgree(t, p, append(testRecords(3000), addrRecords()...), false)
	if nonEmpty < 10000 || failed < 1000 {
		t.Errorf("%d texts written and %d evaluations failed: the records do not exercise the expressions", nonEmpty, failed)
	}
}

// stamp is a time as an integer with a String method: a value the policy prints through
// String. (flow.Time is such a type, but the policy reads it through its Time method.)
type stamp int64

func (s stamp) Time() time.Time { return time.Unix(0, int64(s)).UTC() }
func (s stamp) String() string {
	if s == 0 {
		return ""
	}
	return s.Time().Format(time.RFC3339Nano)
}

type word string

// row is an element type with the kinds of value the facts do not have today.
type row struct {
	At    stamp         `expr:"at"`
	Label flow.Label    `expr:"label"`
	Word  word          `expr:"word"`
	Small float32       `expr:"small"`
	Wait  time.Duration `expr:"wait"`
	Flag  bool          `expr:"flag"`
	Count uint16        `expr:"count"`
}

// TestRenderStringers: a value with a String method is written through it (an integer time
// as its time), a named string as it is, a float32 with two decimals — by the compiled
// renderer exactly as by the VM; a duration runs on the VM.
func TestRenderStringers(t *testing.T) {
	et := newEachType(reflect.TypeFor[row]())
	env := reflect.New(et.typ).Elem().Interface()
	rows := []row{
		{At: stamp(t0.Add(1500 * time.Millisecond).UnixNano()), Label: flow.LDAPS, Word: "wörd", Small: 2.345, Flag: true, Count: 65535},
		{Label: flow.NumLabels + 1, Small: -0.125, Wait: time.Second},
	}
	p := Default()
	c := p.NewChecker()
	ee := et.newEnv(&c.env)
	for _, x := range []string{"it.at", "it.label", "it.word", "it.small", "it.flag", "it.count", "it.wait", `string(it.count) + "/"`} {
		prog, err := expr.Compile(x, expr.Env(env))
		if err != nil {
			t.Fatal(err)
		}
		f := compileRender(prog.Node(), reflect.TypeFor[row](), nil)
		if (f == nil) != (x == "it.wait") {
			t.Errorf("%s: compiled %v", x, f != nil)
			continue
		}
		if f == nil {
			continue
		}
		for i := range rows {
			ee.it.Set(reflect.ValueOf(rows[i]))
			want := vmText(c, prog, ee.env)
			got := fastText(f, frame{env: &c.env, it: reflect.ValueOf(&rows[i]).UnsafePointer()})
			if want != got || want.err {
				t.Errorf("%s on row %d: VM %q, compiled %q", x, i, want.s, got.s)
			}
		}
	}
	if got := format(rows[0].At); got != "2026-01-01T00:00:01.5Z" {
		t.Errorf("an integer time is written %q", got)
	}
}

// quietRecords are records of each protocol on which the default policy raises nothing.
func quietRecords() map[string]*flow.Record {
	return map[string]*flow.Record{
		"ntp": safeNTP(), "ldap": safeLDAP(), "ldaps": safeLDAPS(), "sip-tls": safeSIPTLS(),
		// SIP in cleartext always raises sip.cleartext once it carried a message; a flow the
		// detector claimed before one was complete raises nothing, and still runs sip.scanner
		// on its User-Agent (lower() of a name with capitals).
		"sip": with(cleartextSIP(), func(r *flow.Record) {
			r.SIP.Messages, r.SIP.Requests, r.SIP.Responses, r.SIP.Methods = 0, 0, 0, flow.SIPMethods{}
		}),
		"ldap (IPv6)": with(safeLDAP(), func(r *flow.Record) {
			r.Client, r.Server = netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[2001:db8::2]:389")
		}),
	}
}

// TestQuietRecordAllocatesNothing: with the default policy, a record on which no rule fires
// costs no allocation, for every protocol: the address strings are not made, conditions
// read the facts in place, lower() writes into the checker's scratch.
func TestQuietRecordAllocatesNothing(t *testing.T) {
	c := Default().NewChecker()
	out := make([]Match, 0, 8)
	for name, rec := range quietRecords() {
		if ms := c.Match(rec, out[:0]); len(ms) != 0 {
			t.Fatalf("%s: %s fired on a quiet record", name, ms[0].f.Rule.ID)
		}
		if n := testing.AllocsPerRun(200, func() { c.Match(rec, out[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations for a record that raises nothing", name, n)
		}
	}
}

// TestFindingAllocations: a finding costs its Finding (with room for its observed values) and
// one string (its message, the observed values and a threshold's key are parts of it), and
// nothing else, for the findings the mix raises most and for a threshold rule's match.
func TestFindingAllocations(t *testing.T) {
	c := Default().NewChecker()
	out := make([]Match, 0, 8)
	unauth := with(safeNTP(), func(r *flow.Record) {
		r.NTP.Auth, r.NTP.AuthenticatedResponses, r.NTP.UnauthenticatedResponses = "none", 0, 1
	})
	for _, x := range []struct {
		name string
		rec  *flow.Record
		want []string
	}{
		{"ntp", unauth, []string{"ntp.unauthenticated"}},
		{"sip", cleartextSIP(), []string{"sip.cleartext", "sip.sweep"}},
		{"ldap", cleartextLDAP(simpleBind(4, "cn=admin,dc=example,dc=org", 9)), []string{"ldap.cleartext-password", "ldap.cleartext"}},
		{"ldap (threshold)", cleartextLDAP(failedBind(4), failedBind(6)), []string{"ldap.cleartext-password", "ldap.cleartext", "ldap.bind-failures"}},
		{"sip (threshold)", sipGuesses(3, 5060), []string{"sip.cleartext", "sip.sweep", "sip.register-bruteforce"}},
		{"ldaps", with(safeLDAPS(), func(r *flow.Record) { r.TLS.Version = "1.0"; r.TLS.Server.Expired = true }),
			[]string{"tls.obsolete-version", "tls.cert-expired"}},
	} {
		ms := c.Match(x.rec, out[:0])
		var got []string
		for _, m := range ms {
			got = append(got, m.f.Rule.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(x.want) {
			t.Fatalf("%s: matched %v, want %v", x.name, got, x.want)
		}
		if n := testing.AllocsPerRun(200, func() { c.Match(x.rec, out[:0]) }); n != float64(2*len(ms)) {
			t.Errorf("%s: %v allocations for %d findings, want %d", x.name, n, len(ms), 2*len(ms))
		}
	}
}

// FuzzRenderAgreesWithVM: any placeholder a user may write either runs on the VM or,
// compiled, writes the text the VM's value is written as, on varied records (errors
// included).
func FuzzRenderAgreesWithVM(f *testing.F) {
	for _, r := range Default().Rules {
		for _, p := range r.message {
			if p.prog != nil {
				f.Add(r.Each, p.text)
			}
		}
	}
	for _, s := range []string{`client.ip + " " + server.ip`, `ntp.modes`, `start`, `string(ldap.request_bytes)`,
		`join(map(filter(sip.media, .port > 5000), lower(.proto)), "; ")`, `ldap.starttls.result_name`, `it.source`} {
		f.Add("", s)
	}
	f.Add("tunnel", "it.source + it.type")
	recs := append(testRecords(60), addrRecords()...)
	head := settingsHead()
	f.Fuzz(func(t *testing.T, each, x string) {
		if strings.ContainsAny(each+x, "\n\r'{}") || tooCostly(x) {
			return // one YAML line, one quoted scalar, one placeholder
		}
		p, err := Load("f.yaml", []byte(oneRule(head, each, "'true'", "'{{ "+x+" }}'")))
		if err != nil || p.Rules[0].message[0].render == nil {
			return
		}
		renderAgree(t, p, recs, false)
	})
}
