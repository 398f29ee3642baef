package audit

import (
	"sync"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// reportPipe runs the reporter on a goroutine of its own, so that formatting the output
// overlaps the policy. The policy must stay on the engine's merging goroutine (its threshold
// rules see flows in order), but what the reporter does with a flow and its findings depends
// on nothing else; at the end of input, when the flows still open are all emitted at once,
// the two would otherwise run one after the other on one core.
//
// Flows travel in batches (one channel send per pipeFlows flows, not per flow); the batches
// are recycled, so steady state allocates nothing here.
//
// With a flush interval (a live sensor), the sinks' goroutine also takes the batch being
// filled at each interval and flushes the sinks that buffer (Flusher), so a flow reaches the
// output within the interval even on a quiet link.
type reportPipe struct {
	rep   report.Reporter
	every time.Duration
	mu    sync.Mutex // guards cur, when every > 0
	cur   *pipeBatch
	full  chan *pipeBatch
	free  chan *pipeBatch
	done  chan struct{}
}

const (
	pipeFlows   = 64 // flows per batch
	pipeBatches = 4  // batches in flight at most
)

type pipeItem struct {
	rec      flow.Record
	findings []*rules.Finding
}

type pipeBatch struct {
	items []pipeItem
	n     int
}

// A Flusher is a sink that buffers its output: Flush writes what it holds.
type Flusher interface{ Flush() error }

func newReportPipe(rep report.Reporter, every time.Duration) *reportPipe {
	p := &reportPipe{
		rep:   rep,
		every: every,
		full:  make(chan *pipeBatch, pipeBatches),
		free:  make(chan *pipeBatch, pipeBatches+1),
		done:  make(chan struct{}),
	}
	for i := 0; i < pipeBatches+1; i++ {
		p.free <- &pipeBatch{items: make([]pipeItem, pipeFlows)}
	}
	go p.run()
	return p
}

// flow queues r and its findings for the reporter. It copies r (which the engine recycles);
// the findings are new for each flow and are kept as they are.
func (p *reportPipe) flow(r *flow.Record, findings []*rules.Finding) {
	if p.every > 0 {
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	if p.cur == nil {
		p.cur = <-p.free
	}
	it := &p.cur.items[p.cur.n]
	it.rec = *r
	it.findings = append(it.findings[:0], findings...)
	if p.cur.n++; p.cur.n == len(p.cur.items) {
		p.full <- p.cur
		p.cur = nil
	}
}

// close hands over what is queued and returns once the reporter has seen every flow. The
// reporter may be used directly (Close) afterwards.
func (p *reportPipe) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		p.full <- p.cur
		p.cur = nil
	}
	close(p.full)
	<-p.done
}

func (p *reportPipe) run() {
	defer close(p.done)
	var tick <-chan time.Time
	if p.every > 0 {
		t := time.NewTicker(p.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case b, ok := <-p.full:
			if !ok {
				return
			}
			p.write(b)
		case <-tick:
			// The producer holds mu while it fills and hands over batches, also while it
			// waits for this goroutine to take one: never wait for mu here. If it is busy,
			// its batches are on their way anyway.
			if !p.mu.TryLock() {
				continue
			}
			b := p.cur
			p.cur = nil
			older := len(p.full) // batches handed over before b; only this goroutine takes them
			p.mu.Unlock()
			for range older {
				p.write(<-p.full)
			}
			if b != nil {
				p.write(b)
			}
			if f, ok := p.rep.(Flusher); ok {
				f.Flush() //nolint:errcheck // a write error is the sink's to keep and report at Close
			}
		}
	}
}

// write hands a batch's flows to the reporter and recycles the batch.
//
// It is where a record's protocol facts end: the engine handed them over with the record, the
// policy read them on a worker (Match) and kept nothing of them but strings, and the reporter
// has returned, having copied what it keeps (report.Reporter). So the facts go back to their
// pools here, once per flow and in flow order. An interim record's facts are not released:
// the open flow still writes them, and its final record carries them again. The findings end
// here too, an interim record's as well (they are its own): the reporter has copied what it
// keeps of them, so they go back to the policy's pools (rules.ReleaseFinding).
func (p *reportPipe) write(b *pipeBatch) {
	for i := range b.items[:b.n] {
		it := &b.items[i]
		p.rep.Flow(&it.rec, it.findings)
		if !it.rec.Interim {
			it.rec.ReleaseFacts()
		}
		it.rec = flow.Record{} // let the rest go
		for _, f := range it.findings {
			rules.ReleaseFinding(f) // nil where a filter dropped one
		}
		clear(it.findings)
	}
	b.n = 0
	p.free <- b
}
