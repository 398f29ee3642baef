// Package triage holds what narrows an audit down after an incident: the filters (hosts,
// ports, protocols, a time window, findings by severity and rule) shared by every output,
// the flagged-flow capture (pcapng with the evidence commented), CSV output, and the
// walk of directories of captures.
//
// A Filter has a cheap part, asked about every decoded packet before the detectors run
// (Admit, for classify.Config.Admit), and a part on what the audit reports (KeepFlow,
// Findings), applied by Sink in front of every output.
package triage

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

// Spec is a filter as the user wrote it (flag values); Parse checks and compiles it.
type Spec struct {
	Hosts        []string // IP or CIDR; a flow matches if either end is in one
	Ports        []string // port numbers; a flow matches if either end uses one
	Protocols    []string // labels (ntp, sip, sip-tls, ldap, ldaps, unknown), comma lists allowed
	Since, Until string   // RFC 3339, or a duration from the start of the input ("90s", "1h")
	OnlyFindings bool     // keep only flows with a finding (that passes the finding filters)
	MinSeverity  string   // findings of this severity or higher
	Rules        []string // rule ids, with * ? [ ] globs
}

// Filter is a compiled Spec. The zero Filter (or nil) keeps everything.
type Filter struct {
	Hosts     []netip.Prefix
	Ports     []uint16
	Protocols []flow.Label
	// Since and Until bound packet time (Until exclusive); zero: unbounded. SinceAfter and
	// UntilAfter are offsets from the start of the input, used when Since or Until is zero
	// and the offset was given: they are fixed by the first packet Admit sees (or Start).
	Since, Until           time.Time
	SinceAfter, UntilAfter time.Duration
	hasSinceAfter          bool
	hasUntilAfter          bool
	OnlyFindings           bool
	MinSeverity            rules.Severity // 0: any
	Rules                  []string       // globs over rule ids

	started bool
}

// ErrFilter wraps every error of Parse.
var ErrFilter = errors.New("bad filter")

func bad(flag, val, why string) error {
	return fmt.Errorf("%w: --%s %q: %s", ErrFilter, flag, val, why)
}

// split turns repeated flags with comma lists into their items; an empty item is an error.
func split(flag string, vals []string) ([]string, error) {
	var out []string
	for _, v := range vals {
		for _, it := range strings.Split(v, ",") {
			it = strings.TrimSpace(it)
			if it == "" {
				return nil, bad(flag, v, "an empty item matches nothing")
			}
			out = append(out, it)
		}
	}
	return out, nil
}

// Parse compiles s. An error names the flag and the value (wrapping ErrFilter).
func Parse(s Spec) (*Filter, error) {
	f := &Filter{OnlyFindings: s.OnlyFindings}
	hosts, err := split("host", s.Hosts)
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		var p netip.Prefix
		if strings.Contains(h, "/") {
			p, err = netip.ParsePrefix(h)
			if err != nil {
				return nil, bad("host", h, "not an IP address or CIDR prefix")
			}
			p = p.Masked()
		} else {
			a, err := netip.ParseAddr(h)
			if err != nil {
				return nil, bad("host", h, "not an IP address or CIDR prefix")
			}
			a = a.WithZone("")
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		f.Hosts = append(f.Hosts, p)
	}
	ports, err := split("port", s.Ports)
	if err != nil {
		return nil, err
	}
	for _, v := range ports {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			return nil, bad("port", v, "want a port number, 1 to 65535")
		}
		f.Ports = append(f.Ports, uint16(n))
	}
	protos, err := split("protocol", s.Protocols)
	if err != nil {
		return nil, err
	}
	for _, v := range protos {
		l, ok := flow.ParseLabel(strings.ToLower(v))
		if !ok {
			return nil, bad("protocol", v, "want ntp, sip, sip-tls, ldap, ldaps or unknown")
		}
		f.Protocols = append(f.Protocols, l)
	}
	if s.Since != "" {
		if f.Since, f.SinceAfter, err = parseTime("since", s.Since); err != nil {
			return nil, err
		}
		f.hasSinceAfter = f.Since.IsZero()
	}
	if s.Until != "" {
		if f.Until, f.UntilAfter, err = parseTime("until", s.Until); err != nil {
			return nil, err
		}
		f.hasUntilAfter = f.Until.IsZero()
	}
	switch {
	case !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until),
		f.hasSinceAfter && f.hasUntilAfter && f.SinceAfter >= f.UntilAfter:
		return nil, bad("until", s.Until, "is not after --since "+s.Since+": the window keeps nothing")
	}
	if s.MinSeverity != "" {
		if f.MinSeverity, err = rules.ParseSeverity(s.MinSeverity); err != nil {
			return nil, bad("min-severity", s.MinSeverity, "want low, medium, high or critical")
		}
	}
	if f.Rules, err = split("rule", s.Rules); err != nil {
		return nil, err
	}
	for _, g := range f.Rules {
		if _, err := path.Match(g, ""); err != nil {
			return nil, bad("rule", g, "not a valid glob")
		}
	}
	return f, nil
}

func parseTime(flag, v string) (time.Time, time.Duration, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, 0, bad(flag, v, "want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration from the start of the input (90s, 1h30m)")
	}
	return time.Time{}, d, nil
}

// Start fixes the offsets of --since and --until given as durations: from t, the time of the
// first packet of the input. Admit calls it with its first packet when it was not called.
func (f *Filter) Start(t time.Time) {
	f.started = true
	if f.hasSinceAfter {
		f.Since = t.Add(f.SinceAfter)
	}
	if f.hasUntilAfter {
		f.Until = t.Add(f.UntilAfter)
	}
}

// Cheap reports whether the filter has a part Admit checks (hosts, ports, time).
func (f *Filter) Cheap() bool {
	return f != nil && (len(f.Hosts) > 0 || len(f.Ports) > 0 || f.hasTime())
}

func (f *Filter) hasTime() bool {
	return !f.Since.IsZero() || !f.Until.IsZero() || f.hasSinceAfter || f.hasUntilAfter
}

// Admit reports whether a decoded packet passes the cheap part of the filter: its time in
// the window, either address in a host prefix, either port in the ports. It allocates
// nothing. It is meant for one goroutine (the first call fixes relative times).
func (f *Filter) Admit(p *decode.Packet, ts time.Time) bool {
	if !f.started {
		f.Start(ts)
	}
	if !f.Since.IsZero() && ts.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !ts.Before(f.Until) {
		return false
	}
	if len(f.Ports) > 0 && !slices.Contains(f.Ports, p.SrcPort) && !slices.Contains(f.Ports, p.DstPort) {
		return false
	}
	if len(f.Hosts) > 0 && !f.hostIn(addr(&p.Src, p.IPv4)) && !f.hostIn(addr(&p.Dst, p.IPv4)) {
		return false
	}
	return true
}

func addr(b *[16]byte, v4 bool) netip.Addr {
	a := netip.AddrFrom16(*b)
	if v4 {
		a = a.Unmap()
	}
	return a
}

func (f *Filter) hostIn(a netip.Addr) bool {
	for _, p := range f.Hosts {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// KeepFlow reports whether a flow's record passes the flow part of the filter: hosts,
// ports, protocol, and a time span that meets the window. It does not look at findings
// (OnlyFindings is for Sink, after Findings).
func (f *Filter) KeepFlow(r *flow.Record) bool {
	if f == nil {
		return true
	}
	if len(f.Protocols) > 0 && !slices.Contains(f.Protocols, r.Label) {
		return false
	}
	if len(f.Ports) > 0 && !slices.Contains(f.Ports, r.Client.Port()) && !slices.Contains(f.Ports, r.Server.Port()) {
		return false
	}
	if len(f.Hosts) > 0 && !f.hostIn(r.Client.Addr().Unmap()) && !f.hostIn(r.Server.Addr().Unmap()) {
		return false
	}
	if !f.Since.IsZero() && r.End.Time().Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Start.Time().Before(f.Until) {
		return false
	}
	return true
}

// KeepFinding reports whether a finding passes --min-severity and --rule.
func (f *Filter) KeepFinding(x *rules.Finding) bool {
	if f == nil {
		return true
	}
	if x.Rule.Severity < f.MinSeverity {
		return false
	}
	if len(f.Rules) == 0 {
		return true
	}
	for _, g := range f.Rules {
		if ok, _ := path.Match(g, x.Rule.ID); ok {
			return true
		}
	}
	return false
}

// Findings filters fs in place (KeepFinding) and returns what is kept.
func (f *Filter) Findings(fs []*rules.Finding) []*rules.Finding {
	if f == nil || (f.MinSeverity == 0 && len(f.Rules) == 0) {
		return fs
	}
	return slices.DeleteFunc(fs, func(x *rules.Finding) bool { return !f.KeepFinding(x) })
}

// Keep reports whether a flow and its findings, already filtered, are output.
func (f *Filter) Keep(r *flow.Record, findings []*rules.Finding) bool {
	if f == nil {
		return true
	}
	if !f.KeepFlow(r) {
		return false
	}
	return !f.OnlyFindings || len(findings) > 0
}
