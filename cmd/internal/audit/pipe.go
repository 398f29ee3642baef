package audit

import (
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
type reportPipe struct {
	rep  report.Reporter
	cur  *pipeBatch
	full chan *pipeBatch
	free chan *pipeBatch
	done chan struct{}
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

func newReportPipe(rep report.Reporter) *reportPipe {
	p := &reportPipe{
		rep:  rep,
		full: make(chan *pipeBatch, pipeBatches),
		free: make(chan *pipeBatch, pipeBatches+1),
		done: make(chan struct{}),
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
	if p.cur != nil {
		p.full <- p.cur
		p.cur = nil
	}
	close(p.full)
	<-p.done
}

func (p *reportPipe) run() {
	defer close(p.done)
	for b := range p.full {
		for i := range b.items[:b.n] {
			it := &b.items[i]
			p.rep.Flow(&it.rec, it.findings)
			it.rec = flow.Record{} // let the facts go
			clear(it.findings)
		}
		b.n = 0
		p.free <- b
	}
}
