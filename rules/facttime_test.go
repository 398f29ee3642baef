package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestFactTimesAreTimesToThePolicy: the protocol facts hold their times as flow.Time integers,
// but a condition compares them, with each other and with `start` and `end`, with the
// operators and the time.Time methods as it always has (docs/policy.md), compiled or on the
// VM, and a message prints them as times: RFC 3339 in UTC, nothing when unset. The record's
// own times (flow.Time too) reach a condition as `start` and `end`, time.Time values in UTC.
func TestFactTimesAreTimesToThePolicy(t *testing.T) {
	rec := safeNTP()
	sent, answered := t0.Add(1500*time.Millisecond), t0.Add(3*time.Second)
	rec.NTP.Request = flow.NTPTime{Seen: true, At: at(4), Transmit: flow.TimeOf(sent), NTPTimeAuth: flow.NTPTimeAuthOf("nts")}
	rec.NTP.Response = flow.NTPTime{Seen: true, At: at(5), Origin: flow.TimeOf(sent), NTPTimeAuth: flow.NTPTimeAuthOf("nts"),
		Receive: flow.TimeOf(sent.Add(time.Second)), Transmit: flow.TimeOf(answered), Reference: flow.TimeOf(time.Unix(0, 0))}
	conds := []struct {
		when string
		want bool
	}{
		{`ntp.response.transmit > ntp.request.transmit && ntp.request.transmit < ntp.response.transmit`, true},
		{`ntp.response.transmit <= ntp.request.transmit`, false},
		{`ntp.response.origin == ntp.request.transmit && ntp.response.receive != ntp.request.transmit`, true},
		{`ntp.response.transmit.After(ntp.request.transmit) && ntp.request.transmit.Before(ntp.response.transmit)`, true},
		{`ntp.response.origin.Equal(ntp.request.transmit)`, true},
		{`ntp.response.transmit.Sub(ntp.request.transmit).Seconds() == 1.5`, true},
		{`ntp.request.transmit >= start && ntp.response.transmit > end`, true}, // end is t0 + 2 s
		{`ntp.response.transmit < end`, false},
		{`ntp.first.time.Sub(start).Milliseconds() == 4 && ntp.first.time.After(start)`, true},
		{`ntp.request.reference.IsZero() && !ntp.request.transmit.IsZero()`, true},
		{`!ntp.response.reference.IsZero() && ntp.response.reference < start`, true}, // Unix time 0 is a time, not unset
		// The record's own times are time.Time values in UTC, as the facts' are.
		{`end.Sub(start).Seconds() == duration && duration == 2 && start.Before(end) && end.After(start)`, true},
		{`start.Hour() == 0 && start.Year() == 2026 && start.Location().String() == "UTC" && end.Location().String() == "UTC"`, true},
	}
	var b strings.Builder
	b.WriteString(settingsHead())
	for i, c := range conds {
		fmt.Fprintf(&b, "  - {id: t.%d, name: n, description: d, severity: low, protocol: ntp, when: '%s', message: 'm', remedy: r, references: [x]}\n", i, c.when)
	}
	b.WriteString("  - {id: t.msg, name: n, description: d, severity: low, protocol: ntp, when: 'true', remedy: r, references: [x],\n" +
		"     message: '{{ ntp.request.transmit }} then {{ ntp.response.transmit }}, reference {{ ntp.response.reference }}, unset [{{ ntp.request.reference }}]'}\n")
	tlsRec := safeLDAPS()
	tlsRec.TLS.Server.NotAfter = flow.DateOf(t0.Add(10 * 24 * time.Hour)) // expires 10 days after the handshake
	tlsConds := []struct {
		when string
		want bool
	}{
		{`tls.server.not_after.Sub(tls.certificate.time).Hours() < 720 && !tls.server.not_after.IsZero()`, true},
		{`tls.server.not_before < start && tls.server.not_after > end && tls.server.not_before.Before(tls.server.not_after)`, true},
		{`tls.server.not_after.Before(start)`, false},
	}
	for i, c := range tlsConds {
		fmt.Fprintf(&b, "  - {id: t.tls%d, name: n, description: d, severity: low, protocol: ldaps, when: '%s', message: 'm', remedy: r, references: [x]}\n", i, c.when)
	}
	b.WriteString("  - {id: t.tlsmsg, name: n, description: d, severity: low, protocol: ldaps, when: 'true', remedy: r, references: [x],\n" +
		"     message: 'valid {{ tls.server.not_before }} to {{ tls.server.not_after }}'}\n")
	p, err := Load("t.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range []bool{false, true} {
		if vm {
			for _, r := range p.Rules {
				r.fast = nil
			}
		}
		fired := map[string]string{}
		c := p.NewChecker()
		c.Check(rec, func(f *Finding) { fired[f.Rule.ID] = f.Message })
		c.Check(tlsRec, func(f *Finding) { fired[f.Rule.ID] = f.Message })
		for i, cond := range tlsConds {
			if _, ok := fired[fmt.Sprintf("t.tls%d", i)]; ok != cond.want {
				t.Errorf("vm %v: %s is %v, want %v", vm, cond.when, ok, cond.want)
			}
		}
		if got, want := fired["t.tlsmsg"], "valid 2025-12-01T00:00:00Z to 2026-01-11T00:00:00Z"; got != want {
			t.Errorf("vm %v: message %q, want %q", vm, got, want)
		}
		for i, cond := range conds {
			if _, ok := fired[fmt.Sprintf("t.%d", i)]; ok != cond.want {
				t.Errorf("vm %v: %s is %v, want %v", vm, cond.when, ok, cond.want)
			}
		}
		want := "2026-01-01T00:00:01.5Z then 2026-01-01T00:00:03Z, reference 1970-01-01T00:00:00Z, unset []"
		if got := fired["t.msg"]; got != want {
			t.Errorf("vm %v: message %q, want %q", vm, got, want)
		}
		if st := c.Stats(); len(st.EvalErrors) != 0 {
			t.Errorf("vm %v: evaluation errors %v", vm, st.EvalErrors)
		}
	}
}
