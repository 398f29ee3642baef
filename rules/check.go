package rules

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/expr-lang/expr/vm"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Bounds of the threshold state of one Checker.
const (
	maxAggKeys = 1 << 16 // (rule, by) keys tracked at once; more are counted in Stats.ThresholdDropped
	sweepEvery = 1024    // threshold updates between sweeps of expired keys
	maxValue   = 512     // bytes of one interpolated value in a message
)

// Stats counts a Checker's work. The maps are copies: the caller may keep them.
type Stats struct {
	// Flows is the number of records checked, Findings the number of findings emitted.
	Flows, Findings uint64
	// ByRule counts the findings per rule id.
	ByRule map[string]uint64
	// EvalErrors counts, per rule id, evaluations that failed at run time, such as a
	// condition reading a field through a nil pointer (ldap.starttls.result on a flow without
	// StartTLS: write `ldap.starttls?.result` or test for nil). A failed condition counts as
	// no match; a failed message placeholder is written as "?". FirstEvalError keeps the
	// first such error per rule, on one line.
	EvalErrors     map[string]uint64
	FirstEvalError map[string]string
	// ThresholdDropped counts matches of threshold rules that were not counted because the
	// checker already tracked its maximum number of keys.
	ThresholdDropped uint64
}

// Add adds o's counters to s: the Stats of several Checkers of one audit (one per worker
// running Match) as one. A rule's first evaluation error stays s's when s has one.
func (s *Stats) Add(o Stats) {
	s.Flows += o.Flows
	s.Findings += o.Findings
	s.ThresholdDropped += o.ThresholdDropped
	s.ByRule = addCounts(s.ByRule, o.ByRule)
	s.EvalErrors = addCounts(s.EvalErrors, o.EvalErrors)
	for k, e := range o.FirstEvalError {
		if s.FirstEvalError == nil {
			s.FirstEvalError = map[string]string{}
		}
		if _, ok := s.FirstEvalError[k]; !ok {
			s.FirstEvalError[k] = e
		}
	}
}

func addCounts(to, from map[string]uint64) map[string]uint64 {
	for k, n := range from {
		if to == nil {
			to = map[string]uint64{}
		}
		to[k] += n
	}
	return to
}

// Checker runs a policy over the records of one audit. It holds the state of the threshold
// rules and reuses one expression VM and one Env, so a Checker must be used by one goroutine
// at a time (the command runs one Checker's Match on each engine worker and another's Apply
// on the engine's merging goroutine). Any number of Checkers may share a Policy.
type Checker struct {
	p       *Policy
	vm      vm.VM
	env     Env
	fr      frame      // what a compiled condition reads
	each    []*eachEnv // by rule index; nil for flow-level rules
	byLabel [flow.NumLabels][]*Rule
	ports   portSets

	agg        map[aggKey]*aggState
	latest     int64 // latest packet time a threshold rule saw (Unix ns; math.MinInt64: none)
	sinceSweep int
	pend       []Match // Check's matches, reused

	stats Stats
	buf   []byte   // the text of the finding being made: its message, then its threshold key and distinct value
	val   []byte   // one value before it is cleaned into buf
	key   []byte   // a threshold key and distinct value, until they follow the message in buf
	spans [][2]int // where in buf each observed value is
	sc    [][]byte // scratch of compiled upper and lower (frame.recase)
}

type aggKey struct {
	rule int
	by   string
}

// aggState is the window of one (rule, by) key. Its times are packet times in Unix
// nanoseconds: 8 bytes each where a time.Time takes 24, for a state kept per client.
type aggState struct {
	times []int64 // without distinct: one per match, within the window
	// With distinct: the latest time of each distinct value, in a list for a count up to
	// smallDistinct (most keys see one or two values: a map would cost ten times the bytes),
	// in a map for a larger count.
	seen   []seenValue
	seenM  map[string]int64
	latest int64 // math.MinInt64 until the first match (newAggState)
	fired  bool  // fired; quiet until a window passes without a match
}

// seenValue is a distinct value of a threshold key and the latest time it was seen.
type seenValue struct {
	v  string
	at int64
}

// since returns t - u in nanoseconds, saturated at the ends of int64 (as time.Time.Sub
// saturates at the ends of time.Duration).
func since(t, u int64) time.Duration {
	d := t - u
	switch {
	case u < 0 && d < t: // t - u overflowed upwards
		return math.MaxInt64
	case u > 0 && d > t:
		return math.MinInt64
	}
	return time.Duration(d)
}

// before returns t - d in nanoseconds, saturated at the lower end of int64.
func before(t int64, d time.Duration) int64 {
	if c := t - int64(d); c <= t {
		return c
	}
	return math.MinInt64
}

// smallDistinct is the largest threshold count whose distinct values are kept in a list
// (searched one by one, at most count-1 of them). A variable for the tests of the map.
var smallDistinct = 64

// NewChecker returns a Checker of p with empty threshold state.
func (p *Policy) NewChecker() *Checker {
	c := &Checker{
		p:      p,
		each:   make([]*eachEnv, len(p.Rules)),
		agg:    map[aggKey]*aggState{},
		latest: math.MinInt64,
		stats: Stats{ByRule: map[string]uint64{}, EvalErrors: map[string]uint64{},
			FirstEvalError: map[string]string{}},
	}
	c.ports = newPortSets(&p.Settings)
	for i, r := range p.Rules {
		if r.eachT != nil {
			c.each[i] = r.eachT.newEnv(&c.env)
		}
		for _, l := range r.Protocols {
			if l < flow.NumLabels {
				c.byLabel[l] = append(c.byLabel[l], r)
			}
		}
	}
	return c
}

// Stats returns the counters so far.
func (c *Checker) Stats() Stats {
	s := c.stats
	s.ByRule = maps.Clone(c.stats.ByRule)
	s.EvalErrors = maps.Clone(c.stats.EvalErrors)
	s.FirstEvalError = maps.Clone(c.stats.FirstEvalError)
	return s
}

// Check evaluates, in policy order, every rule whose protocols include the record's label
// and whose allow-list does not cover the flow, and calls emit with each finding. A threshold
// rule counts the match and emits only when its threshold is crossed. Evaluation errors are
// counted in Stats, never returned, and never panic. Check does not keep rec after it returns.
//
// Check is Match followed by Apply on the same Checker.
func (c *Checker) Check(rec *flow.Record, emit func(*Finding)) {
	c.pend = c.Match(rec, c.pend[:0])
	c.Apply(c.pend, emit)
	clear(c.pend)
}

// A Match is a rule that matched a flow: its finding, message included, and for a threshold
// rule what the threshold counts. Match makes them; Apply decides the thresholds.
type Match struct {
	f *Finding
	// Threshold rules only (f.Rule has a threshold).
	by       string // the threshold's key
	distinct string // the distinct value, when the threshold counts distinct values
	n        int    // matches the flow adds: elements matched, or its weight
	noWeight bool   // the weight failed to evaluate: the match updates the window only
	at       int64  // packet time of the match (Unix ns)
}

// Aggregate reports whether r has a threshold: it fires on the flow that crosses it, counting
// flows (of a client, a server, ...) in a window, rather than on one flow by itself.
func (r *Rule) Aggregate() bool { return r.thresh != nil }

// Counts reports whether m belongs to a threshold rule: it counts towards a window, and Apply
// decides whether it fires.
func (m *Match) Counts() bool { return m.f.Rule.Aggregate() }

// Match is the part of Check that needs no order: it evaluates every rule on rec, builds the
// findings and their messages, and returns them appended to out, in policy order, for Apply.
// Threshold rules are matched here too; whether they fire is Apply's to decide. Different
// Checkers of one Policy may run Match on different goroutines (the threshold state of a
// Checker is not touched); Apply then runs on one Checker, in flow order. A threshold rule's
// weight and message are evaluated for every match, also one its window will not count (their
// evaluation errors are counted then too).
func (c *Checker) Match(rec *flow.Record, out []Match) []Match {
	c.stats.Flows++
	if rec.Label >= flow.NumLabels {
		return out
	}
	filled := false
	for _, r := range c.byLabel[rec.Label] {
		if r.allow.covers(rec) {
			continue
		}
		if !filled {
			fillEnvLazy(&c.env, rec, c.p.Settings.Lists, &c.ports)
			filled = true
		}
		if m, ok := c.eval(r, rec); ok {
			out = append(out, m)
		}
	}
	if filled {
		c.env, c.fr = Env{}, frame{} // do not keep the record's facts alive
	}
	return out
}

// Apply takes the matches of one flow (from Match, on this Checker or another of the same
// Policy) in flow order: it counts the threshold rules' matches in their windows and calls
// emit with every finding that stands.
func (c *Checker) Apply(ms []Match, emit func(*Finding)) {
	for i := range ms {
		m := &ms[i]
		if m.f.Rule.thresh != nil {
			n, fire := c.window(m)
			if !fire {
				continue
			}
			m.f.Count = n
		}
		c.stats.Findings++
		c.stats.ByRule[m.f.Rule.ID]++
		emit(m.f)
	}
}

// Flush ends the audit: every threshold window closes without firing (a threshold fires when
// it is crossed, never at the end), so it emits nothing today; it is where an aggregate that
// reports at the end would emit. The Checker can be used again afterwards.
func (c *Checker) Flush(emit func(*Finding)) {
	clear(c.agg)
	c.latest = math.MinInt64
}

func (c *Checker) evalErr(r *Rule, err any) {
	c.stats.EvalErrors[r.ID]++
	if _, ok := c.stats.FirstEvalError[r.ID]; !ok {
		s := fmt.Sprint(err)
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[:i]
		}
		c.stats.FirstEvalError[r.ID] = s
	}
}

func (c *Checker) run(r *Rule, p *vm.Program, env any) (any, bool) {
	materialize(&c.env) // the VM may read any field
	v, err := c.vm.Run(p, env)
	if err != nil {
		c.evalErr(r, err)
		return nil, false
	}
	return v, true
}

func (c *Checker) cond(r *Rule, env any) bool {
	v, ok := c.run(r, r.when, env)
	return ok && v == true
}

// eval runs one rule on the filled env and returns its match; ok is false when the rule
// does not match.
func (c *Checker) eval(r *Rule, rec *flow.Record) (m Match, ok bool) {
	defer func() {
		if x := recover(); x != nil { // expr recovers its own panics; this is for ours
			c.evalErr(r, x)
			m, ok = Match{}, false
		}
	}()
	ev := flow.Event{Frame: rec.ProtoFrame, Time: rec.ProtoTime, File: rec.ProtoFile}
	if ev.Frame == 0 {
		ev = flow.Event{Frame: rec.FirstFrame, Time: rec.Start}
	}
	var env any = &c.env
	c.fr = frame{env: &c.env, sc: &c.sc}
	count := 1
	if r.each != nil {
		ee := c.each[r.index]
		env = ee.env
		if r.each.tunnel {
			materialize(&c.env)
		}
		base, n, ok := r.each.at(&c.env)
		if !ok {
			return Match{}, false
		}
		size := r.each.elem.Size()
		elem := func(i int) reflect.Value { // addressable, no copy
			return reflect.NewAt(r.each.elem, unsafe.Add(base, uintptr(i)*size)).Elem()
		}
		first := -1
		count = 0
		for i := range n {
			if r.fast != nil {
				// The element is read where it is, not copied into `it`.
				c.fr = frame{env: &c.env, it: unsafe.Add(base, uintptr(i)*size), sc: &c.sc}
				if !r.fast(&c.fr) {
					continue
				}
			} else if ee.it.Set(elem(i)); !c.cond(r, env) {
				continue
			}
			if first < 0 {
				first = i
			}
			count++
		}
		if first < 0 {
			return Match{}, false
		}
		el := elem(first)
		ee.it.Set(el) // `it` is the first match for the message, evidence and threshold
		c.fr = frame{env: &c.env, it: el.Addr().UnsafePointer(), sc: &c.sc}
		if e, ok := eventIn(el, r.eachT.event); ok {
			ev = e
		}
	} else if r.fast != nil {
		if !r.fast(&c.fr) {
			return Match{}, false
		}
	} else if !c.cond(r, env) {
		return Match{}, false
	}
	c.fr.have = 0
	if r.evidence != nil {
		if e, ok := c.evidenceOf(r, env); ok && e.Frame != 0 {
			ev = e
		}
	}
	c.key = c.key[:0]
	var byLen int
	if r.thresh != nil {
		if m, byLen, ok = c.thresholdInputs(r, env, ev, rec, count); !ok {
			return Match{}, false
		}
	}
	f := newFinding(r.observed)
	f.Rule, f.Evidence, f.Count = r, ev, count
	f.Client, f.Server, f.Transport, f.Label = rec.Client, rec.Server, rec.Transport, rec.Label
	f.File, f.FlowFirstFrame = rec.File.String(), rec.FirstFrame
	c.message(r, env, f)
	// One string holds the message, the observed values (parts of it) and the threshold's
	// key and distinct value.
	end := len(c.buf)
	c.buf = append(c.buf, c.key...)
	text := string(c.buf)
	f.Message = text[:end]
	for i, sp := range c.spans {
		f.Observed[i].Value = text[sp[0]:sp[1]]
	}
	if r.thresh != nil {
		m.by = text[end : end+byLen]
		if r.thresh.distinct != nil {
			m.distinct = text[end+byLen:]
		}
	}
	m.f = f
	return m, true
}

// evidenceOf evaluates a rule's evidence expression: the event it names, ok false when it
// names none or fails (a failure is counted).
func (c *Checker) evidenceOf(r *Rule, env any) (e flow.Event, ok bool) {
	if f := r.evidence.fast; f != nil {
		defer c.recoverEval(r, &ok)
		return f(&c.fr)
	}
	v, ok := c.run(r, r.evidence.prog, env)
	if !ok {
		return flow.Event{}, false
	}
	return eventIn(reflect.ValueOf(v), r.evidence.path)
}

// recoverEval, deferred around a compiled expression, counts the run-time error it raised
// (a field read through nil) as the VM's would be, and sets *ok to false. Any other panic goes
// on to eval's recover.
func (c *Checker) recoverEval(r *Rule, ok *bool) {
	if x := recover(); x != nil {
		e, isEval := x.(evalError)
		if !isEval {
			panic(x)
		}
		c.evalErr(r, e)
		*ok = false
	}
}

// appendValue appends the text of one expression of r, compiled (f) or on the VM (p); ok is
// false when it fails (counted), and dst is then returned as it was.
func (c *Checker) appendValue(r *Rule, p *vm.Program, f renderFn, env any, dst []byte) (out []byte, ok bool) {
	if f == nil {
		v, ok := c.run(r, p, env)
		if !ok {
			return dst, false
		}
		return appendFormat(dst, v), true
	}
	ok = true
	defer c.recoverEval(r, &ok)
	out = dst
	out = f(&c.fr, dst)
	return out, ok
}

// eventIn reads the flow.Event that v holds at path (v itself when path is nil), following
// pointers. ok is false for a nil pointer or a value that is not an event.
func eventIn(v reflect.Value, path []int) (flow.Event, bool) {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return flow.Event{}, false
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return flow.Event{}, false
	}
	if path != nil {
		if v.Kind() != reflect.Struct {
			return flow.Event{}, false
		}
		v = v.FieldByIndex(path)
	}
	if v.Type() != eventType {
		return flow.Event{}, false
	}
	if v.CanAddr() {
		return *(v.Addr().Interface().(*flow.Event)), true
	}
	return v.Interface().(flow.Event), true
}

// message writes f's message into c.buf, and its observed values' keys into f.Observed and
// their places in c.buf into c.spans (eval makes the strings).
func (c *Checker) message(r *Rule, env any, f *Finding) {
	c.buf, c.spans = c.buf[:0], c.spans[:0]
	for i := range r.message {
		p := &r.message[i]
		if p.prog == nil {
			c.buf = append(c.buf, p.text...)
			continue
		}
		start := len(c.buf)
		v, ok := c.appendValue(r, p.prog, p.render, env, c.val[:0])
		if ok {
			c.val = v
			c.buf = appendClean(c.buf, v)
		} else {
			c.buf = append(c.buf, '?')
		}
		if !slices.ContainsFunc(f.Observed, func(kv KV) bool { return kv.Key == p.text }) {
			f.Observed = append(f.Observed, KV{Key: p.text})
			c.spans = append(c.spans, [2]int{start, len(c.buf)})
		}
	}
}

// thresholdInputs evaluates what a threshold rule counts for one matching flow: its key, its
// distinct value (written to c.key, byLen bytes of key first) and its weight (n matches
// without a weight). ok is false when the key or the distinct value fails to evaluate: the
// match is then not counted at all.
func (c *Checker) thresholdInputs(r *Rule, env any, ev flow.Event, rec *flow.Record, n int) (m Match, byLen int, ok bool) {
	th := r.thresh
	m = Match{n: n, at: ev.Time.UnixNano()}
	if c.key, ok = c.appendValue(r, th.by, th.byR, env, c.key[:0]); !ok {
		return m, 0, false
	}
	byLen = len(c.key)
	if th.distinct != nil {
		if c.key, ok = c.appendValue(r, th.distinct, th.distinctR, env, c.key); !ok {
			return m, 0, false
		}
	} else if th.weight != nil {
		if w, ok := c.weight(r, env); !ok {
			m.noWeight = true
		} else {
			m.n = w
		}
	}
	if ev.Time.IsZero() {
		m.at = rec.End.UnixNano()
	}
	return m, byLen, true
}

// weight evaluates a threshold rule's weight.
func (c *Checker) weight(r *Rule, env any) (n int, ok bool) {
	th := r.thresh
	if th.weightF == nil {
		w, ok := c.run(r, th.weight, env)
		if !ok {
			return 0, false
		}
		n, _ = w.(int)
		return n, true
	}
	ok = true
	defer c.recoverEval(r, &ok)
	return int(th.weightF(&c.fr)), ok
}

// window counts a threshold rule's match and reports whether the threshold is crossed now,
// with the count in the window.
//
// The window slides in packet time: a (rule, by) key fires when count matches (flows, or
// elements for a rule with each, or the sum of `weight` over the matching flows), or count
// distinct values of `distinct`, lie within window
// of the latest match of that key. It then stays quiet until a full window passes without a
// match for the key, and counts again from zero.
func (c *Checker) window(m *Match) (int, bool) {
	r := m.f.Rule
	th := r.thresh
	t := m.at
	c.latest = max(c.latest, t)
	if c.sinceSweep++; c.sinceSweep >= sweepEvery {
		c.sweep()
	}
	k := aggKey{r.index, m.by}
	st := c.agg[k]
	if st == nil {
		if len(c.agg) >= maxAggKeys {
			c.sweep()
			if len(c.agg) >= maxAggKeys {
				c.stats.ThresholdDropped++
				return 0, false
			}
		}
		st = &aggState{latest: math.MinInt64}
		k.by = strings.Clone(k.by) // m.by is part of the finding's text: keep only the key
		c.agg[k] = st
	}
	if st.fired {
		if since(t, st.latest) <= th.window {
			st.latest = max(st.latest, t)
			return 0, false
		}
		*st = aggState{latest: math.MinInt64} // a quiet window passed: count again
	}
	st.latest = max(st.latest, t)
	cutoff := before(st.latest, th.window)
	var count int
	if th.distinct != nil {
		count = st.see(m.distinct, t, cutoff, th.count)
	} else {
		if m.noWeight {
			return 0, false
		}
		if m.n < 1 {
			return len(st.times), false
		}
		for range min(m.n, th.count) {
			st.times = append(st.times, t)
		}
		st.times = slices.DeleteFunc(st.times, func(at int64) bool { return at < cutoff })
		count = len(st.times)
	}
	if count < th.count {
		return count, false
	}
	st.fired, st.times, st.seen, st.seenM = true, nil, nil, nil
	return count, true
}

// see records distinct value v at time t, forgets the values last seen before cutoff, and
// returns how many distinct values remain. v is part of a finding's text: a new value is
// kept as a copy.
func (st *aggState) see(v string, t, cutoff int64, count int) int {
	if count <= smallDistinct {
		if i := slices.IndexFunc(st.seen, func(s seenValue) bool { return s.v == v }); i < 0 {
			st.seen = append(st.seen, seenValue{strings.Clone(v), t})
		} else {
			st.seen[i].at = max(st.seen[i].at, t)
		}
		st.seen = slices.DeleteFunc(st.seen, func(s seenValue) bool { return s.at < cutoff })
		return len(st.seen)
	}
	if st.seenM == nil {
		st.seenM = map[string]int64{}
	}
	if old, ok := st.seenM[v]; !ok {
		st.seenM[strings.Clone(v)] = t
	} else if t > old {
		st.seenM[v] = t
	}
	maps.DeleteFunc(st.seenM, func(_ string, at int64) bool { return at < cutoff })
	return len(st.seenM)
}

// sweep forgets the threshold keys whose last match is more than their window before the
// latest packet time seen.
func (c *Checker) sweep() {
	c.sinceSweep = 0
	maps.DeleteFunc(c.agg, func(k aggKey, st *aggState) bool {
		return since(c.latest, st.latest) > c.p.Rules[k.rule].thresh.window
	})
}

// format writes a value for a message or a threshold key (see appendFormat).
func format(v any) string { return string(appendFormat(nil, v)) }

// clean makes a value that may come off the wire safe to print (see appendClean).
func clean(s string) string { return string(appendClean(nil, []byte(s))) }

// covers reports whether the allow-list covers the flow: the client or the server is in one
// of the CIDRs or is one of the hosts, or uses one of the ports.
func (a *allowList) covers(rec *flow.Record) bool {
	if a.empty() {
		return false
	}
	cl, sv := rec.Client.Addr().Unmap().WithZone(""), rec.Server.Addr().Unmap().WithZone("")
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
