package rules

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// words are the strings the random records are made of: the values the default policy's
// conditions look for (so that conditions hold as often as they fail), a few others, and
// case variants.
var words = []string{
	"", "simple", "sasl", "anonymous", "unauthenticated", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "GSSAPI",
	"Digest", "Basic", "Bearer", "MD5", "SHA-256", "1.0", "1.1", "1.2", "1.3", "3.0", "2.0", "ssl", "tls",
	"rsa", "dh", "ecdh", "ecdhe", "anon", "null", "psk", "rsa_psk", "tls13", "RSA", "ECDSA",
	"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_RC4_128_SHA", "TLS_AES_128_GCM_SHA256", "NULL", "EXPORT",
	"friendly-scanner", "SIPVicious", "sipcli/v1", "Linphone/5.2", "OPTIONS", "REGISTER", "INVITE",
	"readvar", "mon_getlist_1", "none", "nts", "symmetric", "cn=admin,dc=example,dc=org", "x",
	"héllo wörld", "bad\xffutf8", " padded\t", "ÉCOLE",
}

// randomValue fills v (settable) at random. depth bounds the nesting of pointers and lists.
func randomValue(rng *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := []int64{0, 0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 20, 42, 49, 100, 1000, 2048, 4096, -1}[rng.IntN(19)]
		if v.OverflowInt(n) {
			n = 1
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := []uint64{0, 0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 20, 42, 49, 123, 389, 636, 1000, 2048, 5061, 65535, 1<<32 - 1, 1 << 40, 1<<63 + 5}[rng.IntN(24)]
		if v.OverflowUint(n) {
			n = 1
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		v.SetFloat([]float64{0, 0.5, 1, 9.99, 10, 25, 500}[rng.IntN(7)])
	case reflect.String:
		v.SetString(words[rng.IntN(len(words))])
	case reflect.Pointer:
		if depth <= 0 || rng.IntN(4) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		randomValue(rng, p.Elem(), depth-1)
		v.Set(p)
	case reflect.Slice:
		if depth <= 0 || rng.IntN(3) == 0 {
			v.SetZero()
			return
		}
		n := rng.IntN(4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			randomValue(rng, s.Index(i), depth-1)
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			randomValue(rng, v.Index(i), depth)
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if rng.IntN(4) > 0 {
				v.Set(reflect.ValueOf(t0.Add(time.Duration(rng.IntN(5)-2) * 24 * time.Hour)))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				randomValue(rng, v.Field(i), depth)
			}
		}
	}
}

// randomRecord is a record of a random label with random facts.
func randomRecord(rng *rand.Rand) *flow.Record {
	r := baseRecord(flow.Label(1+rng.IntN(int(flow.NumLabels)-1)), flow.Transport(rng.IntN(2)), []uint16{123, 389, 636, 5060, 5061, 8080}[rng.IntN(6)])
	r.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(4))}), 40000)
	r.End = flow.TimeOf(r.Start.Time().Add(time.Duration(rng.IntN(600)) * time.Second))
	for _, f := range []any{&r.NTP, &r.SIP, &r.LDAP, &r.TLS} {
		randomValue(rng, reflect.ValueOf(f).Elem(), 4)
	}
	// How it arrived: untagged or tagged, plain or in up to three tunnel layers.
	r.NVLAN = uint8(rng.IntN(3))
	r.VLAN = [2]uint16{uint16(rng.IntN(3) * 10), uint16(rng.IntN(3) * 10)}
	types := []string{"vxlan", "geneve", "gre", "mpls", "erspan"}
	var tun []flow.Tunnel
	for range rng.IntN(4) {
		t := flow.Tunnel{Type: types[rng.IntN(len(types))], ID: uint32(5000 + rng.IntN(3)), HasID: rng.IntN(4) > 0,
			VLAN: uint16(rng.IntN(2) * 5), HasVLAN: rng.IntN(2) == 0}
		if t.Type != "mpls" {
			t.Source, t.Destination = netip.AddrFrom4([4]byte{127, 0, 0, byte(rng.IntN(2))}), netip.AddrFrom4([4]byte{127, 0, 0, 9})
		}
		tun = append(tun, t)
	}
	if tun != nil {
		r.Tunnel = &flow.Tunnels{Layers: tun}
	}
	return r
}

// outcome is what a condition came to on one flow (or one element of an each rule).
type outcome struct {
	match, err bool
}

// vmOutcomes evaluates r's condition on expr's VM, once per element for an each rule.
func vmOutcomes(c *Checker, r *Rule, rec *flow.Record) []outcome {
	fillEnv(&c.env, rec, &c.p.Settings)
	defer func() { c.env = Env{} }()
	run := func(env any) outcome {
		v, err := c.vm.Run(r.when, env)
		return outcome{match: err == nil && v == true, err: err != nil}
	}
	if r.each == nil {
		return []outcome{run(&c.env)}
	}
	ee := c.each[r.index]
	list := r.each.list(&c.env)
	if !list.IsValid() {
		return nil
	}
	var out []outcome
	for i := range list.Len() {
		ee.it.Set(list.Index(i))
		out = append(out, run(ee.env))
	}
	return out
}

// fastOutcomes evaluates r's compiled condition the same way.
func fastOutcomes(c *Checker, r *Rule, rec *flow.Record) []outcome {
	fillEnv(&c.env, rec, &c.p.Settings)
	defer func() { c.env = Env{} }()
	run := func(fr frame) (o outcome) {
		defer func() {
			if x := recover(); x != nil {
				if _, ok := x.(evalError); !ok {
					panic(x)
				}
				o = outcome{err: true}
			}
		}()
		return outcome{match: r.fast(&fr)}
	}
	if r.each == nil {
		return []outcome{run(frame{env: &c.env, sc: &c.sc})} // as the checker runs it: upper and lower in its scratch
	}
	list := r.each.list(&c.env)
	if !list.IsValid() {
		return nil
	}
	var out []outcome
	for i := range list.Len() {
		out = append(out, run(frame{env: &c.env, it: list.Index(i).Addr().UnsafePointer(), sc: &c.sc}))
	}
	return out
}

// agree runs every rule of p both ways on every record and reports where they differ; it
// returns how many evaluations held and how many failed, to show that both were exercised.
func agree(t *testing.T, p *Policy, recs []*flow.Record) (matched, failed int) {
	t.Helper()
	c := p.NewChecker()
	for _, r := range p.Rules {
		if r.fast == nil {
			t.Errorf("rule %s: condition %q is not compiled (runs on the VM)", r.ID, r.When)
			continue
		}
		for i, rec := range recs {
			want, got := vmOutcomes(c, r, rec), fastOutcomes(c, r, rec)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("rule %s, record %d (%s): VM %v, compiled %v\n%s", r.ID, i, rec.Label, want, got, r.When)
				continue
			}
			for _, o := range want {
				if o.match {
					matched++
				}
				if o.err {
					failed++
				}
			}
		}
	}
	return matched, failed
}

func testRecords(n int) []*flow.Record {
	var recs []*flow.Record
	for _, c := range defaultRuleCases() {
		recs = append(recs, c.fire, c.safe)
		recs = append(recs, c.before...)
	}
	recs = append(recs, safeLDAP(), safeLDAPS(), safeSIPTLS(), safeNTP(), cleartextSIP(), &flow.Record{Label: flow.LDAP})
	unset, set := partsRecords() // the parts of the facts kept out of line, unset and set
	recs = append(append(recs, unset...), set...)
	rng := rand.New(rand.NewPCG(1, 2))
	for range n {
		recs = append(recs, randomRecord(rng))
	}
	return recs
}

// TestFastAgreesWithVM: every condition of the default policy is compiled to Go, and the
// compiled condition decides exactly as expr's VM on the rule cases and on thousands of
// random records (nil facts, empty and nil lists, values the conditions look for).
func TestFastAgreesWithVM(t *testing.T) {
	matched, _ := agree(t, Default(), testRecords(3000))
	if matched < 1000 {
		t.Errorf("only %d evaluations matched: the random records do not exercise the policy", matched)
	}
}

// TestFastCoversTheLanguage: conditions a user may write, beyond the default policy's, are
// compiled too and agree with the VM, run-time errors (a field read through nil facts)
// included; what the compiler does not cover runs on the VM.
func TestFastCoversTheLanguage(t *testing.T) {
	conds := []struct{ proto, when, each string }{
		// Rules with each come first: a checker of the compiled rules alone keeps their index.
		{"ntp", `it.type == "gre" && it.id > 5000 || it.source == "127.0.0.1" && it.vlan == -1 || it.destination == ""`, "tunnel"},
		{"sip", `it.port > 40000 || it.port == 65535 || it.response && it.type == "audio"`, "sip.media"},
		{"ntp", `it.assoc_id >= 65535 || it.count > 2 && !it.error`, "ntp.mode6"},
		{"ldap", `ldap.starttls.result == 0`, ""}, // an error when StartTLS is nil
		{"ldap", `ldap.binds[0].dn == "x"`, ""},   // indexing: runs on the VM
		{"ldap", `ldap.starttls?.result == 0`, ""},
		{"ldap", `len(ldap.binds) > 1 && ldap.bind_count - ldap.failed_binds >= 2`, ""},
		{"ldap", `len(file + ldap.starttls.result_name) > 12`, ""},
		{"sip", `len(sip.user_agent) == 11 || len(sip.user_agent) == 10 || lower(sip.server) == "école" || trim(sip.server) == "padded"`, ""},
		{"ldap", `ldap.amplification / 2 > 4.5 || -client.port < -40000 || ldap.amplification * 2 == 20 || ldap.request_bytes / 2 > 1e18`, ""},
		{"ldap", `(ldap.cleartext ? ldap.messages : ldap.search_count) > 2 && upper(ldap.binds != nil ? "a" : "b") == "A"`, ""},
		{"ldap", `start < end && end >= start && !start.Equal(end) && end.After(start) && duration > 100 && !end.IsZero()`, ""},
		{"ldap", `protocol + "/" + transport == "ldap/tcp" && file startsWith "x" && file endsWith ".pcap" && file contains "."`, ""},
		{"ldap", `none(lists.deprecated_sasl, # == "PLAIN") && all(lists.deprecated_sasl, len(#) > 2) && trim(" x ") == "x"`, ""},
		{"ldap", `client.port in [40000, 1.5] || server.port in [389, 636] || protocol in ["ldaps"]`, ""},
		{"ldap", `ldap.first.frame == 1.0 || ldap.first.time == start || ldap.request_bytes <= 1000.5`, ""},
		{"ldap", `lower(client.ip) == "192.0.2.1" or not client_known and parse_errors == 0`, ""},
		{"ldaps", `tls?.name_matches_sni == true`, ""},
		{"ldaps", `tls.name_matches_sni != true && tls.name_matches_sni != nil`, ""},
		{"ldaps", `tls.name_matches_sni == false || false == tls.name_matches_sni && tls.server.x509.public_key_size == 2048`, ""},
		{"ldap", `ldap.bind_count <= 2 && ldap.messages >= 3 || ldap.search_count < 1 && ldap.failed_binds > 2`, ""},
		{"ldap", `ldap.first.time <= start`, ""},
		{"ldap", `ldap.first.time >= start && ldap.first.time < end`, ""},
		{"ldap", `protocol <= "ldap" && transport > "tcp" || file >= "x.pcap" && file < "y"`, ""},
		{"ntp", `3 in ntp.modes && !(4 in ntp.modes) && ntp.mode in [3, 4] && ntp.request.stratum < 2`, ""},
		{"ntp", `ntp.monlist.response_bytes > 100000 || ntp.mode6[0].assoc_id > 1`, ""}, // indexing: runs on the VM
		{"ldap", `-ldap.request_bytes / 2 < 1`, ""},                                     // an unsigned negation: runs on the VM
		{"ldap", `nil != nil || nil == ldap || ldap.binds == nil`, ""},                  // nil against nil: runs on the VM (it once sent the compiler round in circles)
		{"ntp", `-ntp.request.poll < 0`, ""},
		{"ldap", `nil == ldap.binds || ldap.searches != nil && false == ldap.cleartext`, ""}, // an int8 negation: runs on the VM
		{"ntp", `ntp.request_bytes > 65534 && ntp.key_id >= 65535 || ntp.response_bytes > 1000000`, ""},
		{"ntp", `ntp.request.transmit > ntp.response.transmit || ntp.request.transmit == ntp.response.receive`, ""},
		{"sip", `any(sip.credentials, .username == "x")`, ""}, // a predicate over structs: runs on the VM
		{"ldap", `vni == 5001 || vlan == 10 && inner_vlan != -1 || vni > 5000 && protocol == "ldap"`, ""},
		{"sip", `any(tunnel, .type == "vxlan" && .id == 5001)`, ""}, // a predicate over structs: runs on the VM
		{"sip", `sip.methods.register + sip.methods.invite * 2 > sip.status.success - 1 && sip.user_agent in lists.sip_scanners`, ""},
		// lower() is computed once per list, but only where the VM would first compute it:
		// not at all when # != "" holds, so a nil sip is no error then.
		{"sip", `any(lists.sip_scanners, # != "" || lower(sip.user_agent) contains #)`, ""},
		{"sip", `any(lists.sip_scanners, upper(sip.user_agent) == upper(#)) || none(lists.sip_scanners, lower(# + sip.server) == "")`, ""},
	}
	onVM := map[string]bool{`ldap.binds[0].dn == "x"`: true, `ldap.starttls?.result == 0`: true,
		`tls?.name_matches_sni == true`: true, `any(sip.credentials, .username == "x")`: true,
		`ntp.monlist.response_bytes > 100000 || ntp.mode6[0].assoc_id > 1`: true, `-ldap.request_bytes / 2 < 1`: true, `-ntp.request.poll < 0`: true,
		`nil != nil || nil == ldap || ldap.binds == nil`: true, `any(tunnel, .type == "vxlan" && .id == 5001)`: true}
	var b strings.Builder
	b.WriteString(settingsHead())
	for i, c := range conds {
		each := ""
		if c.each != "" {
			each = "each: " + c.each + ", "
		}
		fmt.Fprintf(&b, "  - {id: t.r%d, name: n, description: d, severity: low, protocol: %s, %swhen: '%s', message: m, remedy: r, references: [x]}\n",
			i, c.proto, each, strings.ReplaceAll(c.when, "'", "''"))
	}
	p, err := Load("t.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	var compiled []*Rule
	for i, r := range p.Rules {
		if onVM[conds[i].when] {
			if r.fast != nil {
				t.Errorf("%s compiled; want it on the VM", r.When)
			}
			continue
		}
		compiled = append(compiled, r)
	}
	p.Rules = compiled
	matched, failed := agree(t, p, testRecords(3000))
	if matched < 500 || failed < 100 {
		t.Errorf("%d evaluations matched and %d failed: the records do not exercise the conditions", matched, failed)
	}

	// An error of a compiled condition is counted like the VM's, and names what was nil.
	p.Rules = compiled[3:4]
	c := p.NewChecker()
	c.Check(cleartextLDAP(), func(*Finding) { t.Error("a nil StartTLS matched") })
	if s := c.Stats(); s.EvalErrors["t.r3"] != 1 || !strings.Contains(s.FirstEvalError["t.r3"], "ldap.starttls is nil") {
		t.Errorf("stats %+v", s)
	}
}

// TestFastConditionAllocatesNothing: a compiled condition reads the flow in place.
func TestFastConditionAllocatesNothing(t *testing.T) {
	p := Default()
	c := p.NewChecker()
	recs := []*flow.Record{safeLDAPS(), safeNTP(), cleartextSIP(), cleartextLDAP(simpleBind(4, "cn=a", 3))}
	for _, rec := range recs {
		fillEnv(&c.env, rec, &p.Settings)
		for _, r := range c.byLabel[rec.Label] {
			if r.each != nil {
				continue
			}
			// lower(sip.user_agent) of "Linphone/5.2" (sip.scanner) is written into the
			// checker's scratch; without it, it is one string, once, not once per scanner name.
			if n := testing.AllocsPerRun(100, func() { c.fr = frame{env: &c.env, sc: &c.sc}; r.fast(&c.fr) }); n != 0 {
				t.Errorf("rule %s on %s: %v allocations", r.ID, rec.Label, n)
			}
			want := 0.0
			if r.ID == "sip.scanner" {
				want = 1
			}
			if n := testing.AllocsPerRun(100, func() { c.fr = frame{env: &c.env}; r.fast(&c.fr) }); n != want {
				t.Errorf("rule %s on %s without scratch: %v allocations", r.ID, rec.Label, n)
			}
		}
	}
}

// FuzzFastAgreesWithVM: any condition a user may write either runs on the VM or, compiled,
// decides as the VM does on varied records (errors included).
func FuzzFastAgreesWithVM(f *testing.F) {
	for _, r := range Default().Rules {
		f.Add(r.Each, r.When)
	}
	for _, s := range []string{`start < end && duration > 1.5`, `-ldap.request_bytes < -1000 || ldap.amplification / 2 > 4.5`,
		`(ldap.cleartext ? ldap.messages : ldap.search_count) > 2`, `none(lists.deprecated_sasl, # == "PLAIN")`,
		`tls.name_matches_sni == false`, `ldap.binds != nil && len(ldap.binds) > 1`, `it.port in [5060, 1.5]`} {
		f.Add("", s)
	}
	recs := testRecords(60)
	head := settingsHead()
	f.Fuzz(func(t *testing.T, each, when string) {
		if strings.ContainsAny(each+when, "\n\r'") || tooCostly(when) {
			return // one YAML line, one quoted scalar
		}
		p, err := Load("f.yaml", []byte(oneRule(head, each, "'"+when+"'", "m")))
		if err != nil || p.Rules[0].fast == nil {
			return
		}
		c := p.NewChecker()
		r := p.Rules[0]
		for i, rec := range recs {
			want, got := vmOutcomes(c, r, rec), fastOutcomes(c, r, rec)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Fatalf("record %d (%s): VM %v, compiled %v\neach %q when %q", i, rec.Label, want, got, each, when)
			}
		}
	})
}

// settingsHead is the default policy up to its rules, ending "rules:\n": the start of a test
// policy that lists its own rules under the default settings.
func settingsHead() string {
	src := string(Default().Source)
	return src[:strings.Index(src, "\nrules:")] + "\nrules:\n"
}

// oneRule is a policy of head (see settingsHead) and one low rule on every protocol with the
// given each (none when ""), when and message (YAML scalars), for the fuzz targets.
func oneRule(head, each, when, message string) string {
	y := head + "  - id: f.rule\n    name: n\n    description: d\n    severity: low\n    protocol: [ntp, sip, sip-tls, ldap, ldaps]\n"
	if each != "" {
		y += "    each: '" + each + "'\n"
	}
	return y + "    when: " + when + "\n    message: " + message + "\n    remedy: r\n    references: [x]\n"
}

// tooCostly tells a fuzzed expression the fuzz targets skip: a long one, or one with a range
// or a repeated string, which can make expr itself build gigabytes.
func tooCostly(x string) bool {
	return len(x) > 300 || strings.Contains(x, "..") || strings.Contains(x, "repeat")
}
