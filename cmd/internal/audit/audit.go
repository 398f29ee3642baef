// Package audit is the one pipeline behind every front end of pcapaudit — the audit of
// capture files, the live sensor and triage: packets from capture sources go through the
// engine's workers, the policy raises findings on each flow that ends, and a list of sinks
// (text, NDJSON, metrics, ...) receives every flow with its findings and, at the end, the
// summary. A command holds its flags and chooses its sources and sinks; it does not wire
// the stages itself.
//
//	capture.Source ─▶ classify.Parallel ─▶ rules (Match on the workers, Apply in flow order)
//	                                     ─▶ sinks, on a goroutine of their own, in flow order
package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// A Sink receives every flow that ended, with the findings raised on it, and the summary at
// the end. The sinks of an audit are called from one goroutine, in flow order.
type Sink = report.Reporter

// Options configure an audit.
type Options struct {
	Policy *rules.Policy
	// Workers is the number of flow workers (≥ 1). The output is the same for any number.
	Workers int
	// MaxFlows bounds the flows tracked at once (shared among the workers).
	MaxFlows int
	// InspectWindow is the bytes per flow direction a detector may wait on (0: the default).
	InspectWindow int
	// All keeps unknown flows for the sinks (otherwise they are counted and skipped).
	All bool
	// Sinks receive the flows and the summary, in this order.
	Sinks []Sink
	// Log receives the audit's warnings (files cut short, undecodable packets, policy
	// evaluation errors).
	Log zerolog.Logger
	// Progress, if set, is kept up to date for a debug server (NewProgress).
	Progress *Progress
	// Suppress, when positive, reports a finding for the same client, server and rule once
	// per this window of packet time; the next report says how many were held back. Its
	// state holds at most SuppressKeys keys (default 100,000).
	Suppress     time.Duration
	SuppressKeys int
	// FlushEvery, when positive, hands the sinks what the policy has passed within this
	// interval and flushes the sinks that buffer (a live sensor: output is not held back on a
	// quiet link). Files leave it at zero: sinks flush when their buffers fill and at Close.
	FlushEvery time.Duration
	// Engine, if set, adjusts the engine's configuration after the options above were
	// applied (a front end's own settings).
	Engine func(*classify.Config)
}

// Audit runs the pipeline. Feed it with File or Read (from one goroutine), then Close.
type Audit struct {
	eng   *classify.Parallel
	log   zerolog.Logger
	prog  *Progress
	out   *reportPipe
	sinks []Sink

	pol atomic.Pointer[policyState] // the rules in force; swapped by SetPolicy

	matches  sync.Pool // *note: from a worker's Match to the merger's Apply
	findings []*rules.Finding
	worst    rules.Severity
	sup      *suppressor      // nil: every finding is reported
	readers  atomic.Int32     // live readers running
	frames   atomic.Uint64    // live packets numbered, all rings
	now      func() time.Time // the wall clock of live reading (tests set their own)

	retiredMu sync.Mutex
	retired   []*policyState // replaced policies, for their evaluation errors
	sum       report.Summary
	closed    bool
}

// policyState is one generation of the policy: a Checker per worker for the conditions
// (Match) and one on the merging goroutine for the thresholds (Apply).
type policyState struct {
	pol     *rules.Policy
	applier *rules.Checker
	workers []*rules.Checker
}

func newPolicyState(pol *rules.Policy, workers int) *policyState {
	st := &policyState{pol: pol, applier: pol.NewChecker(), workers: make([]*rules.Checker, workers)}
	for i := range st.workers {
		st.workers[i] = pol.NewChecker()
	}
	return st
}

// note travels with a record from its worker to the merger: the matches and the policy
// generation that made them.
type note struct {
	st *policyState
	ms []rules.Match
}

// New starts an audit: the engine's workers, its merger and the sinks' goroutine.
func New(o Options) *Audit {
	if o.Workers < 1 {
		o.Workers = 1
	}
	prog := o.Progress
	if prog == nil {
		prog = NewProgress(0)
	}
	sink := Sink(multi(o.Sinks))
	if len(o.Sinks) == 1 {
		sink = o.Sinks[0]
	}
	a := &Audit{log: o.Log, prog: prog, out: newReportPipe(sink, o.FlushEvery), sinks: o.Sinks}
	if o.Suppress > 0 {
		a.sup = newSuppressor(o.Suppress, cmp.Or(o.SuppressKeys, 100_000))
	}
	a.sum.Policy = o.Policy.Name
	a.pol.Store(newPolicyState(o.Policy, o.Workers))
	a.matches.New = func() any { return new(note) }
	a.now = time.Now
	cfg := classify.DefaultConfig()
	if o.MaxFlows > 0 {
		cfg.MaxFlows = o.MaxFlows
	}
	if o.InspectWindow > 0 {
		cfg.InspectWindow = o.InspectWindow
	}
	cfg.SkipUnknown = !o.All // unknown flows raise no finding: count them, list them only on request
	st := &o.Policy.Settings
	cfg.TCPTimeout, cfg.TCPClosedTimeout, cfg.UDPTimeout = st.Timeouts.TCP, st.Timeouts.TCPClosed, st.Timeouts.UDP
	cfg.UDPAnswered = st.Timeouts.UDPAnswered
	cfg.Detectors = classify.Detectors(st.TLSPorts)
	if o.Engine != nil {
		o.Engine(&cfg)
	}
	a.eng = classify.NewParallelAnnotated(cfg, o.Workers, func(w int) classify.Annotator {
		return func(r *flow.Record) any { return a.match(w, r) }
	}, a.flow)
	return a
}

// Engine is the audit's engine, for a front end that feeds it from several goroutines
// (classify.Parallel.NewFeeder) or reads its statistics.
func (a *Audit) Engine() *classify.Parallel { return a.eng }

// Policy is the policy in force.
func (a *Audit) Policy() *rules.Policy { return a.pol.Load().pol }

// SetPolicy replaces the rules: flows that end after the call are checked against pol (a
// flow already handed to the policy keeps the old rules). Threshold windows start afresh.
// The engine's settings (timeouts, TLS ports) are not changed. Safe from any goroutine.
func (a *Audit) SetPolicy(pol *rules.Policy) {
	old := a.pol.Swap(newPolicyState(pol, len(a.pol.Load().workers)))
	a.retire(old)
}

func (a *Audit) retire(st *policyState) {
	a.retiredMu.Lock()
	a.retired = append(a.retired, st)
	a.retiredMu.Unlock()
}

// match runs on worker w: the policy's rules on a flow that ended, without the thresholds.
func (a *Audit) match(w int, r *flow.Record) any {
	st := a.pol.Load()
	n := a.matches.Get().(*note)
	n.st = st
	n.ms = st.workers[w].Match(r, n.ms[:0])
	if len(n.ms) == 0 {
		n.st = nil
		a.matches.Put(n)
		return nil
	}
	return n
}

// flow decides the thresholds of a flow's matches, in flow order, and hands the flow and its
// findings to the sinks.
func (a *Audit) flow(r *flow.Record, ann any) {
	a.findings = a.findings[:0]
	if n, ok := ann.(*note); ok {
		if r.Interim {
			// Thresholds count each flow once, with its final record.
			n.ms = slices.DeleteFunc(n.ms, func(m rules.Match) bool { return m.Counts() })
		}
		n.st.applier.Apply(n.ms, a.collect)
		clear(n.ms) // let the findings go with the flow
		n.st = nil
		a.matches.Put(n)
	}
	a.prog.flows.Add(1)
	a.prog.findings.Add(uint64(len(a.findings)))
	a.out.flow(r, a.findings)
}

func (a *Audit) collect(f *rules.Finding) {
	if a.sup != nil && !a.sup.keep(f) {
		return
	}
	if f.Rule.Severity > a.worst {
		a.worst = f.Rule.Severity
	}
	a.findings = append(a.findings, f)
}

// Worst is the highest severity of the findings raised so far (0 for none). Call it after
// Close, or from the goroutine that feeds the audit after a Flush.
func (a *Audit) Worst() rules.Severity { return a.worst }

// badWhy says in words what a decode status means for a packet that could not be read.
var badWhy = map[decode.Status]string{
	decode.Truncated:       "cut short: the capture holds fewer bytes than its headers need",
	decode.Malformed:       "malformed: its headers contradict themselves or exceed a bound",
	decode.UnsupportedLink: "a link type pcapaudit does not read",
	decode.TunnelLimit:     "tunnels nested deeper than pcapaudit follows",
	decode.TunnelMalformed: "a damaged tunnel header; the flow inside was skipped",
}

// File audits one input by name ("-" reads stdin) and ends its flows at its end. A file that
// cannot be read is reported in the summary and logged; a file cut short is audited up to
// the cut, with a warning. It returns what was read (also kept for the summary).
func (a *Audit) File(ctx context.Context, name string, stdin io.Reader) report.FileSummary {
	var src capture.Source
	var err error
	if name == capture.Stdin {
		src, err = capture.OpenReader(name, stdin)
	} else {
		src, err = capture.Open(name)
	}
	a.prog.file.Store(&name)
	if err != nil {
		fs := report.FileSummary{Name: name, Err: err.Error()}
		a.log.Error().Str("file", name).Msg(err.Error())
		a.prog.fileDone(&fs)
		a.sum.Files = append(a.sum.Files, fs)
		return fs
	}
	defer src.Close()
	fs := a.Read(ctx, name, src)
	a.eng.Flush()
	return fs
}

// Read feeds src to the engine until its end (or until ctx is done), without ending the
// flows that are still open, and adds what was read to the summary under name.
func (a *Audit) Read(ctx context.Context, name string, src capture.Source) report.FileSummary {
	fr := fileRead{fs: report.FileSummary{Name: name}}
	a.prog.file.Store(&name)
	var p capture.Packet
	done := ctx.Done()
	var err error
	for n := 0; ; n++ {
		if n&1023 == 0 { // now and then: publish the progress, heed an interrupt
			a.prog.read(&fr.fs)
			a.prog.consumed.Store(capture.Consumed(src))
			select {
			case <-done:
				a.prog.fileDone(&fr.fs)
				a.sum.Files = append(a.sum.Files, fr.fs)
				return fr.fs
			default:
			}
		}
		err = src.Next(&p)
		if err != nil {
			break
		}
		a.packet(&fr, &p)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	a.prog.consumed.Store(capture.Consumed(src))
	a.endFile(&fr, err)
	a.prog.fileDone(&fr.fs)
	a.sum.Files = append(a.sum.Files, fr.fs)
	return fr.fs
}

// fileRead is what was read of one input so far.
type fileRead struct {
	fs report.FileSummary
	// Packets the decoder could not read (cut by the snap length, contradicting headers, an
	// unknown link type, a tunnel too deep or damaged): counted, and the first one named in a
	// warning at the end.
	bad struct {
		n      uint64
		frame  uint64
		status decode.Status
	}
}

// count adds p to what was read of its input.
func count(fs *report.FileSummary, p *capture.Packet) {
	if fs.Packets == 0 {
		fs.First = p.Timestamp
	}
	if p.Timestamp.After(fs.Last) {
		fs.Last = p.Timestamp
	}
	fs.Packets++
	fs.Bytes += uint64(len(p.Data))
}

// packet counts p in fr and hands it to the engine.
func (a *Audit) packet(fr *fileRead, p *capture.Packet) {
	count(&fr.fs, p)
	switch st := a.eng.Packet(p); st {
	case decode.Truncated, decode.Malformed, decode.UnsupportedLink, decode.TunnelLimit, decode.TunnelMalformed:
		if fr.bad.n++; fr.bad.n == 1 {
			fr.bad.frame, fr.bad.status = p.Frame, st
		}
	}
}

// endFile records how an input ended: its undecodable packets, and err (nil: read to the
// end; a *capture.TruncatedError: a warning, what came before it was read; else an error).
func (a *Audit) endFile(fr *fileRead, err error) {
	fs, name := &fr.fs, fr.fs.Name
	if bad := &fr.bad; bad.n > 0 {
		m := fmt.Sprintf("%s: %d packet(s) could not be decoded, the first at frame %d (%s)", name, bad.n, bad.frame, badWhy[bad.status])
		fs.Warnings = append(fs.Warnings, m)
		a.log.Warn().Str("file", name).Uint64("frame", bad.frame).Uint64("packets", bad.n).Msg(m)
	}
	var te *capture.TruncatedError
	switch {
	case err == nil:
	case errors.As(err, &te):
		fs.Warnings = append(fs.Warnings, err.Error())
		a.log.Warn().Str("file", name).Msg(err.Error())
	default:
		fs.Err = err.Error()
		a.log.Error().Str("file", name).Msg(err.Error())
	}
}

// Close ends every open flow, stops the engine, and closes the sinks with the summary, which
// it returns. Errors of the sinks are joined.
func (a *Audit) Close() (*report.Summary, error) {
	if a.closed {
		return &a.sum, nil
	}
	a.closed = true
	a.eng.Flush()
	a.eng.Close()
	a.sum.Stats = a.eng.Stats()
	a.sum.Suppressed, a.sum.SuppressEvicted = a.Suppressed()
	a.sum.PolicyErrors = a.policyErrors()
	for _, e := range a.sum.PolicyErrors {
		a.log.Warn().Str("rule", e.Rule).Uint64("count", e.Count).Str("first", e.First).
			Msgf("%s: rule %s failed to evaluate %d time(s), counted as no match: %s", a.sum.Policy, e.Rule, e.Count, e.First)
	}
	a.out.close()
	var errs []error
	for _, s := range a.sinks {
		if err := s.Close(&a.sum); err != nil {
			errs = append(errs, err)
		}
	}
	return &a.sum, errors.Join(errs...)
}

// policyErrors lists, in policy order, the rules whose expressions failed while running on
// the workers' checkers (of the policy in force and of any it replaced), with their counts
// and first errors. Call it when every flow has been checked (after the engine's Flush).
func (a *Audit) policyErrors() []report.PolicyError {
	var st rules.Stats
	a.retiredMu.Lock()
	states := append(slices.Clip(a.retired), a.pol.Load())
	a.retiredMu.Unlock()
	for _, s := range states {
		for _, ch := range s.workers {
			st.Add(ch.Stats())
		}
	}
	var out []report.PolicyError
	seen := map[string]bool{}
	for _, s := range states {
		for _, r := range s.pol.Rules {
			if n := st.EvalErrors[r.ID]; n > 0 && !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, report.PolicyError{Rule: r.ID, Count: n, First: st.FirstEvalError[r.ID]})
			}
		}
	}
	return out
}

// multi hands each flow to every sink in turn.
type multi []Sink

// Flush flushes the sinks that buffer.
func (m multi) Flush() error {
	var errs []error
	for _, s := range m {
		if f, ok := s.(Flusher); ok {
			errs = append(errs, f.Flush())
		}
	}
	return errors.Join(errs...)
}

func (m multi) Flow(r *flow.Record, findings []*rules.Finding) {
	for _, s := range m {
		s.Flow(r, findings)
	}
}

// Close is not used: Audit.Close closes each sink itself, so that one failing does not keep
// the others from writing their end.
func (m multi) Close(*report.Summary) error { return nil }
