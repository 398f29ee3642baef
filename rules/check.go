package rules

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Endpoint is one side of a flow as conditions see it: client.ip, server.port, ...
type Endpoint struct {
	IP           string `expr:"ip"`
	Port         int    `expr:"port"`
	Packets      int    `expr:"packets"`
	Bytes        int    `expr:"bytes"`
	PayloadBytes int    `expr:"payload_bytes"`
}

// The names a condition can use. The protocol facts are the detectors' structs, read through
// their expr tags; see rules/README.md for every field.
const (
	envProtocol     = "protocol"
	envTransport    = "transport"
	envClient       = "client"
	envServer       = "server"
	envPackets      = "packets"
	envBytes        = "bytes"
	envFile         = "file"
	envFirstFrame   = "first_frame"
	envStart        = "start"
	envEnd          = "end"
	envDuration     = "duration"
	envParseErrors  = "parse_errors"
	envGaps         = "gaps"
	envStandardPort = "standard_port"
	envTLSPort      = "tls_port"
	envLists        = "lists"
	envIt           = "it"
)

type envTypes struct {
	base map[string]any
}

func newEnvTypes(s *Settings) *envTypes {
	return &envTypes{base: map[string]any{
		envProtocol: "", envTransport: "", envClient: Endpoint{}, envServer: Endpoint{},
		envPackets: 0, envBytes: 0, envFile: "", envFirstFrame: 0, envStart: time.Time{}, envEnd: time.Time{},
		envDuration: 0.0, envParseErrors: 0, envGaps: 0, envStandardPort: false, envTLSPort: false,
		envLists: s.Lists,
		"ntp":    (*flow.NTPFacts)(nil), "sip": (*flow.SIPFacts)(nil), "ldap": (*flow.LDAPFacts)(nil), "tls": (*flow.TLSFacts)(nil),
	}}
}

func (e *envTypes) withIt(v any) map[string]any {
	m := maps.Clone(e.base)
	m[envIt] = v
	return m
}

// Stats counts the checker's work.
type Stats struct {
	Flows, Findings uint64
	// EvalErrors counts, per rule id, evaluations that failed at run time (for example a
	// condition reading facts the flow does not have). They count as "no match".
	EvalErrors map[string]uint64
}

// Checker runs a policy over flow records. It keeps the state of aggregate (threshold) rules,
// so one Checker is used by one goroutine, over the flows of one audit.
type Checker struct {
	vm    vm.VM // reused: expr.Run would make a new one per evaluation
	p     *Policy
	env   map[string]any
	agg   map[aggKey]*aggState
	stats Stats
}

type aggKey struct {
	rule string
	key  string
}

type aggState struct {
	start    time.Time
	count    int
	distinct map[string]bool
	fired    bool
}

// NewChecker returns a checker of p.
func (p *Policy) NewChecker() *Checker {
	return &Checker{p: p, env: map[string]any{}, agg: map[aggKey]*aggState{}, stats: Stats{EvalErrors: map[string]uint64{}}}
}

// Stats returns the counters so far.
func (c *Checker) Stats() Stats { return c.stats }

func endpoint(ap netip.AddrPort, pk, by, pl uint64) Endpoint {
	return Endpoint{IP: ap.Addr().Unmap().String(), Port: int(ap.Port()), Packets: int(pk), Bytes: int(by), PayloadBytes: int(pl)}
}

func (c *Checker) fill(r *flow.Record) {
	e := c.env
	s := &c.p.Settings
	e[envProtocol] = r.Label.String()
	e[envTransport] = r.Transport.String()
	e[envClient] = endpoint(r.Client, r.Packets[0], r.Bytes[0], r.Payload[0])
	e[envServer] = endpoint(r.Server, r.Packets[1], r.Bytes[1], r.Payload[1])
	e[envPackets] = int(r.Packets[0] + r.Packets[1])
	e[envBytes] = int(r.Bytes[0] + r.Bytes[1])
	e[envFile] = r.File
	e[envFirstFrame] = int(r.FirstFrame)
	e[envStart], e[envEnd] = r.Start, r.End
	e[envDuration] = r.End.Sub(r.Start).Seconds()
	e[envParseErrors] = int(r.ParseErrors)
	e[envGaps] = int(r.Gaps)
	e[envStandardPort] = slices.Contains(s.StandardPorts[r.Label], r.Server.Port())
	_, tlsPort := s.TLSPorts[r.Server.Port()]
	e[envTLSPort] = tlsPort
	e[envLists] = s.Lists
	e["ntp"], e["sip"], e["ldap"], e["tls"] = r.NTP, r.SIP, r.LDAP, r.TLS
	delete(e, envIt)
}

// Check evaluates every rule whose protocol is the record's label and calls emit with each
// finding. The Finding is new for each call and may be kept.
func (c *Checker) Check(r *flow.Record, emit func(*Finding)) {
	c.stats.Flows++
	filled := false
	for _, rule := range c.p.Rules {
		if !slices.Contains(rule.Protocols, r.Label) || rule.allowed(r) {
			continue
		}
		if !filled {
			c.fill(r)
			filled = true
		}
		if f := c.eval(rule, r); f != nil {
			c.stats.Findings++
			emit(f)
		}
	}
}

// Flush ends the audit: aggregate windows close. Nothing is pending between flows, so it
// emits nothing today; it is the place for aggregates that fire at the end.
func (c *Checker) Flush(func(*Finding)) { clear(c.agg) }

func (c *Checker) run(rule *Rule, p *vm.Program) (any, bool) {
	v, err := c.vm.Run(p, c.env)
	if err != nil {
		c.stats.EvalErrors[rule.ID]++
		return nil, false
	}
	return v, true
}

func (c *Checker) eval(rule *Rule, r *flow.Record) *Finding {
	f := &Finding{Rule: rule, Evidence: flow.Event{Frame: r.ProtoFrame, Time: r.ProtoTime}}
	if f.Evidence.Frame == 0 {
		f.Evidence = flow.Event{Frame: r.FirstFrame, Time: r.Start}
	}
	if rule.each != nil {
		list, ok := c.run(rule, rule.each)
		if !ok {
			return nil
		}
		lv := reflect.ValueOf(list)
		for lv.Kind() == reflect.Pointer && !lv.IsNil() {
			lv = lv.Elem()
		}
		if lv.Kind() != reflect.Slice {
			return nil
		}
		var first any
		for i := 0; i < lv.Len(); i++ {
			it := lv.Index(i).Interface()
			c.env[envIt] = it
			if v, ok := c.run(rule, rule.when); ok && v == true {
				if f.Count == 0 {
					first = it
				}
				f.Count++
			}
		}
		if f.Count == 0 {
			return nil
		}
		c.env[envIt] = first
		if ev, ok := eventOf(first); ok {
			f.Evidence = ev
		}
	} else {
		if v, ok := c.run(rule, rule.when); !ok || v != true {
			return nil
		}
		f.Count = 1
	}
	if rule.evidence != nil {
		if v, ok := c.run(rule, rule.evidence); ok {
			if ev, ok := eventOf(v); ok && ev.Frame != 0 {
				f.Evidence = ev
			}
		}
	}
	if rule.thresh != nil && !c.threshold(rule, f) {
		return nil
	}
	for _, p := range rule.message {
		if p.prog == nil {
			f.Message += p.text
			continue
		}
		v, _ := c.run(rule, p.prog)
		s := format(v)
		f.Message += s
		f.Observed = append(f.Observed, KV{Key: p.text, Value: s})
	}
	return f
}

// threshold counts a matching flow for an aggregate rule and reports whether it fires now.
func (c *Checker) threshold(rule *Rule, f *Finding) bool {
	t := rule.thresh
	by, ok := c.run(rule, t.by)
	if !ok {
		return false
	}
	k := aggKey{rule.ID, format(by)}
	st := c.agg[k]
	now := f.Evidence.Time
	if st == nil || now.Sub(st.start) > t.window {
		st = &aggState{start: now}
		c.agg[k] = st
	}
	if st.fired {
		return false
	}
	if t.distinct != nil {
		d, ok := c.run(rule, t.distinct)
		if !ok {
			return false
		}
		if st.distinct == nil {
			st.distinct = map[string]bool{}
		}
		st.distinct[format(d)] = true
		st.count = len(st.distinct)
	} else {
		st.count += f.Count
	}
	if st.count < t.count {
		return false
	}
	st.fired = true
	f.Count = st.count
	return true
}

func eventOf(v any) (flow.Event, bool) {
	switch x := v.(type) {
	case flow.Event:
		return x, true
	case *flow.Event:
		if x != nil {
			return *x, true
		}
		return flow.Event{}, false
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() == reflect.Struct {
		for _, name := range []string{"Event", "At"} {
			if fv := rv.FieldByName(name); fv.IsValid() && fv.Type() == reflect.TypeOf(flow.Event{}) {
				return fv.Interface().(flow.Event), true
			}
		}
	}
	return flow.Event{}, false
}

func format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		return fmt.Sprintf("%.4g", x)
	}
	return fmt.Sprint(v)
}

// allowed reports whether the allow-list of the rule covers the flow.
func (r *Rule) allowed(rec *flow.Record) bool {
	a := &r.allow
	if len(a.prefixes)+len(a.hosts)+len(a.ports) == 0 {
		return false
	}
	cl, sv := rec.Client.Addr().Unmap(), rec.Server.Addr().Unmap()
	for _, p := range a.prefixes {
		if p.Contains(cl) || p.Contains(sv) {
			return true
		}
	}
	for _, h := range a.hosts {
		if h == cl || h == sv {
			return true
		}
	}
	for _, p := range a.ports {
		if p == rec.Client.Port() || p == rec.Server.Port() {
			return true
		}
	}
	return false
}
