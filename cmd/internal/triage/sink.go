package triage

import (
	"errors"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// Sink applies a Filter in front of other sinks: a flow that does not pass is not handed
// on, and its findings are narrowed to those that pass. Every output of a triage sits
// behind one Sink, so they all show the same flows and findings.
type Sink struct {
	f     *Filter
	next  []report.Reporter
	buf   []*rules.Finding
	worst rules.Severity
	// Flows and Findings count what was handed on.
	Flows, Findings uint64
}

// NewSink filters what next receive.
func NewSink(f *Filter, next ...report.Reporter) *Sink { return &Sink{f: f, next: next} }

// Flow implements report.Reporter.
func (s *Sink) Flow(r *flow.Record, findings []*rules.Finding) {
	if !s.f.KeepFlow(r) {
		return
	}
	s.buf = append(s.buf[:0], findings...)
	fs := s.f.Findings(s.buf)
	if !s.f.Keep(r, fs) {
		clear(s.buf)
		return
	}
	for _, x := range fs {
		s.worst = max(s.worst, x.Rule.Severity)
	}
	s.Flows++
	s.Findings += uint64(len(fs))
	for _, n := range s.next {
		n.Flow(r, fs)
	}
	clear(s.buf) // the findings go with the flow
}

// Close implements report.Reporter: it closes every sink behind it, each even if another
// failed, and joins their errors.
func (s *Sink) Close(sum *report.Summary) error {
	var errs []error
	for _, n := range s.next {
		errs = append(errs, n.Close(sum))
	}
	return errors.Join(errs...)
}

// Worst is the highest severity among the findings handed on (0 for none).
func (s *Sink) Worst() rules.Severity { return s.worst }
