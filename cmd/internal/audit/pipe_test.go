package audit

import (
	"time"

	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// recorder is a Reporter that keeps what it was given.
type recorder struct {
	frames   []uint64
	findings []string
	closed   bool
}

func (r *recorder) Flow(rec *flow.Record, fs []*rules.Finding) {
	r.frames = append(r.frames, rec.FirstFrame)
	for _, f := range fs {
		r.findings = append(r.findings, f.Message)
	}
}

func (r *recorder) Close(*report.Summary) error { r.closed = true; return nil }

// TestReportPipeKeepsOrderAndEveryFlow: the reporter sees every flow, in the order the
// policy saw them, with its own findings, although the engine reuses its records and the
// auditor its findings slice as soon as the call returns; and close waits for the last,
// partial batch.
func TestReportPipeKeepsOrderAndEveryFlow(t *testing.T) {
	rec := &recorder{}
	p := newReportPipe(rec, 0)
	var r flow.Record
	var fs []*rules.Finding
	const n = 10*pipeFlows + 7
	for i := 1; i <= n; i++ {
		r = flow.Record{FirstFrame: uint64(i)}
		fs = fs[:0]
		if i%3 == 0 {
			fs = append(fs, &rules.Finding{Message: string(rune('a' + i%26))})
		}
		p.flow(&r, fs)
		r.FirstFrame = 0 // the engine recycles the record
		if len(fs) > 0 {
			fs[0] = nil // and the auditor its slice
		}
	}
	p.close()
	if len(rec.frames) != n {
		t.Fatalf("reporter saw %d flows, want %d", len(rec.frames), n)
	}
	for i, f := range rec.frames {
		if f != uint64(i+1) {
			t.Fatalf("flow %d reported as frame %d: order or copy lost", i+1, f)
		}
	}
	var want []string
	for i := 3; i <= n; i += 3 {
		want = append(want, string(rune('a'+i%26)))
	}
	if len(rec.findings) != len(want) {
		t.Fatalf("reporter saw %d findings, want %d", len(rec.findings), len(want))
	}
	for i := range want {
		if rec.findings[i] != want[i] {
			t.Fatalf("finding %d is %q, want %q", i, rec.findings[i], want[i])
		}
	}
}

// slowSink takes a while over each flow, so the pipe's batches fill up.
type slowSink struct{ recorder }

func (s *slowSink) Flow(rec *flow.Record, fs []*rules.Finding) {
	time.Sleep(50 * time.Microsecond)
	s.recorder.Flow(rec, fs)
}

func (s *slowSink) Flush() error { return nil }

// TestReportPipeFlushEveryNeverDeadlocks: with a flush interval, a producer that fills the
// pipe faster than the sink drains it, while the interval's ticks come, neither stalls nor
// reorders: every flow arrives, in order.
func TestReportPipeFlushEveryNeverDeadlocks(t *testing.T) {
	rec := &slowSink{}
	p := newReportPipe(rec, time.Millisecond)
	const n = 20 * pipeFlows
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			r := flow.Record{FirstFrame: uint64(i)}
			p.flow(&r, nil)
			if i%100 == 0 {
				time.Sleep(3 * time.Millisecond) // let ticks take partial batches
			}
		}
		p.close()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the pipe stalled")
	}
	if len(rec.frames) != n {
		t.Fatalf("%d flows arrived, want %d", len(rec.frames), n)
	}
	for i, f := range rec.frames {
		if f != uint64(i+1) {
			t.Fatalf("flow %d arrived as %d: order lost", i+1, f)
		}
	}
}
