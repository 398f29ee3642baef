package classify

import (
	"container/heap"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Parallel spreads flows over several Engines, one per worker goroutine, and reports their
// records in one canonical order.
//
// The goroutine that calls Packet reads and decodes (IPv4 fragments of a datagram therefore
// meet in one decoder), picks the worker by the symmetric hash of the flow — both directions
// land on the same worker — and copies the packet into that worker's batch; batches, not
// packets, cross goroutines. Every packet carries the global packet clock, so a flow expires
// at the same packet time whatever worker holds it. A merging stage orders the records by
// (EmitAt, FirstFrame), open flows last, and calls emit from a single goroutine: the output
// for a file is the same for any number of workers (unless the flow table fills: each worker
// holds MaxFlows/workers flows).
//
// Work on a record that needs no order (a policy's conditions, say) can run on the workers
// too: see NewParallelAnnotated.
type Parallel struct {
	workers []*worker
	main    *Feeder // the feeder behind Packet and Flush
	seed    maphash.Seed
	decCfg  decode.Config // each feeder's decoder
	free    chan *batch   // batches back from the workers; every batch made fits in it
	made    atomic.Int64  // batches made so far
	sink    chan output
	admit   func(*decode.Packet, time.Time) bool // Config.Admit
	done    chan struct{}
	emit    func(*flow.Record, any)
	recs    sync.Pool      // *item: copies of the workers' records, recycled after emit
	working sync.WaitGroup // the workers' goroutines
	merged  chan struct{}  // closed when the merger has returned

	feedersMu sync.Mutex
	feeders   []*Feeder // every feeder made, for Stats
}

// A Feeder decodes packets and hands them to the workers of its Parallel. A Feeder is used
// by one goroutine; a live capture with several rings uses one Feeder per ring, each on its
// own goroutine (NewFeeder), so that no single reader falls behind. Packets of one flow may
// come through different feeders: each is handed to the flow's worker, chosen by a seeded
// hash of the flow (crafted traffic cannot steer every flow onto one worker).
type Feeder struct {
	p       *Parallel
	dec     *decode.Decoder
	dp      decode.Packet
	now     int64 // the feeder's clock: the latest packet time (or Tick), Unix ns (see nanos)
	sinceTk int
	cur     []*batch // per worker: the batch being filled
	packets uint64
	bytes   uint64
	refused uint64 // turned down by Config.Admit
	file    fileCache

	mu   sync.Mutex // guards snap
	snap Stats      // packets, bytes and decoder counts as of the last tick, for LiveStats
}

// maxFeeders bounds the feeders of one Parallel: each may hold a batch per worker that it is
// filling, and the free list has room for all of them.
const maxFeeders = 64

// A batch holds up to batchPackets packets and batchBytes of their payloads: 128 payloads of
// 256 bytes on average, more than most links carry (a batch of larger payloads is sent when its
// bytes are full). The batches in flight are live memory, a few per worker, and a decoded
// packet takes 456 bytes with its room for tunnel layers: a batch is about 96 KiB. Twice as
// many packets a batch cost a megabyte more of live heap on two workers (about 6 MB of peak
// RSS on the generated mix) and saved about 2 % of the CPU, the workers waking half as often.
const (
	batchPackets = 128
	batchBytes   = 32 << 10
	tickPackets  = 8192 // every this many packets, every worker hears the clock
)

// flushChunk is how many open flows a worker hands to the merger at a time at the end of
// input (a variable so tests can make it small).
var flushChunk = 256

type batch struct {
	pkts  []decode.Packet
	meta  []meta
	buf   []byte
	clock int64 // the feeder's clock when it sent the batch
	flush bool  // end of input: flush the engine after this batch
}

// meta is what a batch says of each packet besides the packet: 40 bytes without a pointer,
// so that filling a batch copies little and leaves the garbage collector nothing to scan.
type meta struct {
	ts, now int64 // the packet time and the feeder's clock, Unix ns (see nanos)
	frame   uint64
	// h is the hash of the packet's flow key that chose the worker; the worker's flow table
	// has the same seed, so its lookup does not hash the key again.
	h    uint64
	file flow.FileRef
}

// item is a worker's record on its way to emit, with what the worker's Annotator made of it.
type item struct {
	rec  flow.Record
	note any
}

type output struct {
	w     int
	recs  []*item
	clock int64
	final bool
	// flushing: the worker is emitting its open flows (end of input). Every record it
	// emitted before is in this output or an earlier one, and the open flows come in the
	// canonical order, so the merger can merge the workers' streams as they come.
	flushing bool
}

type worker struct {
	mu    sync.Mutex // guards snap and flows, for LiveStats
	snap  Stats
	flows int

	id       int
	e        *Engine
	in       chan *batch
	cur      *batch
	recs     []*item
	flushing bool
	clock    int64
}

// NewParallel starts n workers (n ≥ 1) with cfg (MaxFlows is shared among them). emit is
// called from one goroutine, never concurrently; a record is valid only during the call (it
// is recycled afterwards: copy what must be kept). Its protocol facts are handed over as
// Engine's emit hands them (see New).
func NewParallel(cfg Config, n int, emit func(*flow.Record)) *Parallel {
	return NewParallelAnnotated(cfg, n, nil, func(r *flow.Record, _ any) { emit(r) })
}

// An Annotator works on the records of one worker, on that worker's goroutine, as each flow
// ends: what it returns travels with the record to emit. It is where per-flow work that needs
// no order goes, so that it runs on every worker instead of the one merging goroutine. It
// must not keep the record.
type Annotator func(r *flow.Record) any

// NewParallelAnnotated is NewParallel with an Annotator per worker: annotator(i) is called
// once for worker i (nil annotator: no annotation), and emit receives each record with its
// annotation.
func NewParallelAnnotated(cfg Config, n int, annotator func(worker int) Annotator, emit func(*flow.Record, any)) *Parallel {
	if n < 1 {
		n = 1
	}
	cfg.fill()
	per := cfg
	per.MaxFlows = max(cfg.MaxFlows/n, 1)
	per.MaxHalfOpen = max(cfg.MaxHalfOpen/n, 1)
	p := &Parallel{
		recs:   sync.Pool{New: func() any { return new(item) }},
		seed:   maphash.MakeSeed(),
		decCfg: cfg.Decode,
		free:   make(chan *batch, (4+maxFeeders)*n+4),
		sink:   make(chan output, 4*n),
		done:   make(chan struct{}),
		merged: make(chan struct{}),
		emit:   emit,
		admit:  cfg.Admit,
	}
	for i := 0; i < n; i++ {
		w := &worker{id: i, in: make(chan *batch, 4), clock: math.MinInt64}
		var ann Annotator
		if annotator != nil {
			ann = annotator(i)
		}
		w.e = New(per, func(r *flow.Record) {
			c := p.recs.Get().(*item)
			c.rec = *r
			if ann != nil {
				c.note = ann(r)
			}
			if r.FactsPending { // still being written on this worker: not for the merger
				c.rec.NTP, c.rec.SIP, c.rec.LDAP, c.rec.TLS = nil, nil, nil, nil
			}
			w.recs = append(w.recs, c)
			if w.flushing && len(w.recs) >= flushChunk {
				p.hand(w, false) // stream the open flows instead of holding them all
			}
		})
		w.e.flows.seed = p.seed // a feeder's hash of a key (meta.h) is then the table's
		p.workers = append(p.workers, w)
		p.working.Add(1)
		go p.work(w)
	}
	go p.merge()
	p.main = p.NewFeeder()
	return p
}

// NewFeeder returns a Feeder for another goroutine (see Feeder). It panics past 64 feeders.
// Before the last Flush, every feeder but the one behind Packet must Send what it holds.
func (p *Parallel) NewFeeder() *Feeder {
	p.feedersMu.Lock()
	defer p.feedersMu.Unlock()
	if len(p.feeders) == maxFeeders {
		panic("classify: more than 64 feeders")
	}
	f := &Feeder{p: p, dec: decode.New(p.decCfg), cur: make([]*batch, len(p.workers)), now: math.MinInt64}
	p.feeders = append(p.feeders, f)
	return f
}

// getBatch returns an empty batch: a recycled one, a new one while fewer than the free
// channel holds were made, or else the next one a worker gives back (the reader waits for
// the workers instead of allocating without end).
func (p *Parallel) getBatch() *batch {
	var b *batch
	select {
	case b = <-p.free:
	default:
		if p.made.Add(1) <= int64(cap(p.free)) {
			return &batch{pkts: make([]decode.Packet, 0, batchPackets), meta: make([]meta, 0, batchPackets),
				buf: make([]byte, 0, batchBytes)}
		}
		p.made.Add(-1)
		b = <-p.free
	}
	if cap(b.buf) > 4*batchBytes { // one huge payload grew it: do not keep that
		b.buf = make([]byte, 0, batchBytes)
	}
	b.pkts, b.meta, b.buf, b.flush = b.pkts[:0], b.meta[:0], b.buf[:0], false
	return b
}

// Packet decodes one captured packet and hands it to its flow's worker. It returns what the
// decoder made of the packet (anything but OK is counted in Stats and goes no further).
func (p *Parallel) Packet(c *capture.Packet) decode.Status { return p.main.Packet(c) }

// Packet decodes one captured packet and hands it to its flow's worker. It returns what the
// decoder made of the packet (anything but OK is counted in Stats and goes no further).
func (f *Feeder) Packet(c *capture.Packet) decode.Status {
	f.packets++
	f.bytes += uint64(len(c.Data))
	ts := nanos(c.Timestamp)
	if ts > f.now {
		f.now = ts
	}
	// A live capture's kernel strips the outer VLAN tag into the ring's metadata; the
	// decoder takes it as the frame's first tag.
	f.dp.ExtVLAN = 0
	if c.HasVLAN {
		f.dp.ExtVLAN = c.VLAN
	}
	st := f.dec.Decode(c.Data, c.LinkType, c.Timestamp, &f.dp)
	if st == decode.OK {
		if f.p.admit != nil && !f.p.admit(&f.dp, c.Timestamp) {
			f.refused++
			return st
		}
		f.dispatch(&f.dp, ts, c.Frame, f.file.of(c.File))
	}
	return st
}

// dispatch copies a decoded packet captured at ts (Unix nanoseconds, see nanos) into its
// worker's batch.
func (f *Feeder) dispatch(dp *decode.Packet, ts int64, frame uint64, file flow.FileRef) {
	p := f.p
	if ts > f.now {
		f.now = ts
	}
	k, _ := makeKey(dp)
	h := maphash.Bytes(p.seed, k[:])
	wi := h % uint64(len(p.workers))
	b := f.cur[wi]
	if b == nil {
		b = p.getBatch()
		f.cur[wi] = b
	}
	if len(b.buf)+len(dp.Payload) > cap(b.buf) && len(b.pkts) > 0 {
		f.send(int(wi))
		b = p.getBatch()
		f.cur[wi] = b
	}
	// The batch's packets are reused in place: CopyTo copies only the tunnel layers in use,
	// so a plain packet moves a fifth of the struct.
	n := len(b.pkts) // < batchPackets = cap
	b.pkts = b.pkts[:n+1]
	cp := &b.pkts[n]
	dp.CopyTo(cp)
	start := len(b.buf)
	b.buf = append(b.buf, dp.Payload...) // may grow past cap for one huge payload: fine
	cp.Payload = b.buf[start:len(b.buf):len(b.buf)]
	b.meta = append(b.meta, meta{ts: ts, now: f.now, frame: frame, h: h, file: file})
	if len(b.pkts) == batchPackets {
		f.send(int(wi))
	}
	if f.sinceTk++; f.sinceTk >= tickPackets {
		f.tick(false)
	}
}

// send hands the batch the feeder fills for worker wi to it.
func (f *Feeder) send(wi int) {
	b := f.cur[wi]
	f.cur[wi] = nil
	if b == nil {
		b = f.p.getBatch()
	}
	b.clock = f.now
	f.p.workers[wi].in <- b
}

// tick sends every worker its batch (possibly empty) so all clocks advance together.
func (f *Feeder) tick(flush bool) {
	f.sinceTk = 0
	f.mu.Lock()
	f.snap.Packets, f.snap.Bytes, f.snap.Decode, f.snap.Filtered = f.packets, f.bytes, *f.dec.Stats(), f.refused
	f.mu.Unlock()
	for wi := range f.p.workers {
		if f.cur[wi] == nil {
			f.cur[wi] = f.p.getBatch()
		}
		f.cur[wi].flush = flush
		f.send(wi)
	}
}

// Tick moves the feeder's clock to now, if later, and hands every worker what the feeder
// holds for it, with that clock: the workers expire the flows idle for longer than their
// timeouts. A live capture calls it with the wall clock when no packet has come for a while,
// so that a quiet link still ends its flows; files never need it.
func (f *Feeder) Tick(now time.Time) {
	if ns := nanos(now); ns > f.now {
		f.now = ns
	}
	f.tick(false)
}

// Send hands every worker what the feeder holds for it. A feeder other than the one behind
// Packet calls it when its input ends, before the Parallel's Flush.
func (f *Feeder) Send() {
	for wi, b := range f.cur {
		if b != nil && len(b.pkts) > 0 {
			f.send(wi)
		}
	}
}

func (p *Parallel) work(w *worker) {
	defer p.working.Done()
	// Payloads in a batch alias the batch's buffer, which is recycled only after the
	// engine has handled the batch; detectors copy what they keep.
	for b := range w.in {
		for i := range b.pkts {
			m := &b.meta[i]
			// The global clock first (Handle expires idle flows against it, once).
			w.e.setNow(m.now)
			w.e.handle(&b.pkts[i], m.ts, m.frame, m.file, m.h)
		}
		w.e.advance(b.clock)
		if b.clock > w.clock { // batches of several feeders: the clock never goes back
			w.clock = b.clock
		}
		w.mu.Lock()
		w.snap, w.flows = w.e.stats, w.e.Flows()
		w.mu.Unlock()
		if b.flush {
			w.flushing = true
			w.e.Flush()
		}
		p.hand(w, b.flush)
		w.flushing = false
		p.free <- b // never blocks: it holds every batch made
	}
}

// hand gives the merger the records w emitted so far.
func (p *Parallel) hand(w *worker, final bool) {
	recs := w.recs
	// The merger keeps recs: start a new slice, sized like the last one so that appending
	// rarely grows it.
	w.recs = make([]*item, 0, min(max(len(recs), 8), flushChunk))
	p.sink <- output{w: w.id, recs: recs, clock: w.clock, final: final, flushing: w.flushing}
}

// Flush ends the input: every worker emits its open flows, and Flush returns once every
// record has been passed to emit. Packet may be called again afterwards (the next file).
func (p *Parallel) Flush() {
	p.main.tick(true)
	<-p.done
}

// merge orders the workers' records and calls emit.
//
// Records of flows that ended (a non-zero EmitAt) wait in a heap until every worker's clock
// has passed them. The flows still open at the end of input come last: each worker emits
// them in the canonical order, in chunks, and they are merged stream by stream as they come,
// so they are never all held at once.
func (p *Parallel) merge() {
	n := len(p.workers)
	clocks := make([]int64, n)
	for i := range clocks {
		clocks[i] = math.MinInt64 // no worker has said how far it is
	}
	flushing := make([]bool, n)
	final := make([]bool, n)
	open := make([][]*item, n) // per worker: open flows not yet emitted, in order
	heads := make([]int, n)
	var h itemHeap
	defer close(p.merged)
	for o := range p.sink {
		for _, r := range o.recs {
			if r.rec.EmitAt.IsZero() {
				open[o.w] = append(open[o.w], r)
			} else {
				heap.Push(&h, r)
			}
		}
		clocks[o.w] = o.clock
		flushing[o.w] = flushing[o.w] || o.flushing
		final[o.w] = final[o.w] || o.final
		if !slices.Contains(flushing, false) {
			// Every worker is past its last ended flow.
			for h.Len() > 0 {
				p.out(heap.Pop(&h).(*item))
			}
			if p.mergeOpen(open, heads, final) {
				clear(flushing)
				clear(final)
				p.done <- struct{}{}
			}
			continue
		}
		wm := clocks[0]
		for _, c := range clocks[1:] {
			if c < wm {
				wm = c
			}
		}
		// Everything a worker will still emit ends at or after its clock.
		for w := flow.UnixNano(wm); h.Len() > 0 && h[0].rec.EmitAt.Before(w); {
			p.out(heap.Pop(&h).(*item))
		}
	}
}

// mergeOpen emits the open flows of the workers' streams in the canonical order for as long
// as every worker that has more to send has a record waiting. It reports whether every
// stream is finished and emptied.
func (p *Parallel) mergeOpen(open [][]*item, heads []int, final []bool) bool {
	for {
		best := -1
		for w := range open {
			if heads[w] == len(open[w]) {
				if !final[w] {
					return false // its next record may come first: wait for it
				}
				continue
			}
			if best < 0 || recLess(&open[w][heads[w]].rec, &open[best][heads[best]].rec) {
				best = w
			}
		}
		if best < 0 {
			for w := range open {
				open[w], heads[w] = open[w][:0], 0
			}
			return true
		}
		r := open[best][heads[best]]
		open[best][heads[best]] = nil
		heads[best]++
		if heads[best] == len(open[best]) {
			open[best], heads[best] = open[best][:0], 0
		}
		p.out(r)
	}
}

// out hands r to emit and then recycles it: emit must not keep r.
func (p *Parallel) out(it *item) {
	p.emit(&it.rec, it.note)
	*it = item{} // let the facts go
	p.recs.Put(it)
}

// Close stops the workers and the merger, and returns when their goroutines have ended.
// Call Flush first, and nothing after Close.
func (p *Parallel) Close() {
	for _, w := range p.workers {
		close(w.in)
	}
	p.working.Wait()
	close(p.sink)
	<-p.merged
}

// Stats sums the workers' counters. Call it after Flush.
func (p *Parallel) Stats() Stats {
	var s Stats
	p.feedersMu.Lock()
	for _, f := range p.feeders {
		s.Packets += f.packets
		s.Bytes += f.bytes
		s.Filtered += f.refused
		s.Decode.Add(f.dec.Stats())
	}
	p.feedersMu.Unlock()
	for _, w := range p.workers {
		ws := w.e.stats // read after Flush: the worker is idle
		ws.Packets, ws.Bytes = 0, 0
		s.Add(&ws)
	}
	return s
}

// LiveStats sums the counters as the feeders and workers last published them (a feeder at
// each tick, a worker after each batch), and the flows in the workers' tables now. Unlike
// Stats it may be called at any time, from any goroutine: a live sensor's metrics read it.
func (p *Parallel) LiveStats() (s Stats, flows int) {
	p.feedersMu.Lock()
	for _, f := range p.feeders {
		f.mu.Lock()
		s.Packets += f.snap.Packets
		s.Bytes += f.snap.Bytes
		s.Filtered += f.snap.Filtered
		s.Decode.Add(&f.snap.Decode)
		f.mu.Unlock()
	}
	p.feedersMu.Unlock()
	for _, w := range p.workers {
		w.mu.Lock()
		ws := w.snap
		flows += w.flows
		w.mu.Unlock()
		ws.Packets, ws.Bytes = 0, 0
		s.Add(&ws)
	}
	return s, flows
}

// WorkerStats returns, for each worker, its engine's counters as of its last batch and the
// flows in its table. Safe from any goroutine.
func (p *Parallel) WorkerStats() (stats []Stats, flows []int) {
	for _, w := range p.workers {
		w.mu.Lock()
		stats = append(stats, w.snap)
		flows = append(flows, w.flows)
		w.mu.Unlock()
	}
	return stats, flows
}

// FeederStats returns, for each feeder made with NewFeeder in the order made, its packets,
// bytes and decoder counts as of its last tick. Safe from any goroutine.
func (p *Parallel) FeederStats() []Stats {
	p.feedersMu.Lock()
	defer p.feedersMu.Unlock()
	out := make([]Stats, 0, len(p.feeders)-1)
	for _, f := range p.feeders[1:] { // the first is the one behind Packet
		f.mu.Lock()
		out = append(out, f.snap)
		f.mu.Unlock()
	}
	return out
}

// recLess is the canonical order of records: by EmitAt (open flows, with a zero EmitAt,
// last), then by first packet (compareFirst).
func recLess(a, b *flow.Record) bool {
	az, bz := a.EmitAt.IsZero(), b.EmitAt.IsZero()
	if az != bz {
		return bz
	}
	if !a.EmitAt.Equal(b.EmitAt) {
		return a.EmitAt.Before(b.EmitAt)
	}
	if c := compareFirst(a.File, a.Start, a.FirstFrame, b.File, b.Start, b.FirstFrame); c != 0 {
		return c < 0
	}
	// One flow's interim record and its final one, at the same instant (evicted just after an
	// interim scan): the interim record goes first, as one engine emits them. It shares the
	// final record's protocol facts, which the audit recycles after the final one.
	return a.Interim && !b.Interim
}

// itemHeap is the merger's heap of records that ended, in the canonical order.
type itemHeap []*item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return recLess(&h[i].rec, &h[j].rec) }
func (h itemHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)        { *h = append(*h, x.(*item)) }
func (h *itemHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
