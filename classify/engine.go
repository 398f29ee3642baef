// Package classify follows flows and labels them. The Engine takes decoded packets, keeps a
// bounded bidirectional flow table with idle expiry on packet time, reassembles each direction
// of a TCP flow, offers the payload to the protocol detectors (ports only order the attempts;
// content decides) and emits one flow.Record per flow when it ends.
//
// An Engine is used by one goroutine. To use several cores, run one Engine per worker and
// send each flow to a worker by the symmetric Shard hash of its packets.
package classify

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Config bounds and tunes the engine. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Decode configures the packet decoder (fragment bounds, VXLAN ports).
	Decode decode.Config
	// MaxFlows bounds the flow table (to at most 2^31-1); when it is full the least recently
	// active flow is evicted (emitted with reason "evicted") and counted.
	MaxFlows int
	// MaxHalfOpen bounds, within MaxFlows, the TCP flows of which only SYNs were seen (a SYN
	// flood, a port scan): past it the oldest of them is evicted, so a flood of new flows
	// costs bounded memory and leaves room for the flows that talk. Default MaxFlows/8.
	MaxHalfOpen int
	// Idle timeouts, in packet time: an established or half-open TCP flow, a TCP flow closed
	// by FIN or RST (kept briefly to absorb late packets), a UDP flow.
	TCPTimeout, TCPClosedTimeout, UDPTimeout time.Duration
	// UDPAnswered is, by label, how long a UDP flow whose exchange is complete (its detector
	// called flow.Flow.Answered: an NTP reply, a CLDAP search result, the final response to a
	// SIP OPTIONS or REGISTER) lingers after its last packet before it ends, instead of
	// UDPTimeout. Zero turns the linger off for that label. A later exchange on the same
	// endpoints is a new flow.
	UDPAnswered [flow.NumLabels]time.Duration
	// InspectWindow bounds, per direction, the bytes kept for a detector (an undecided prefix
	// or an incomplete message). A flow that needs more is cut: inspection stops, counted.
	InspectWindow int
	// MaxUndecided is the number of payloads a flow may show before, with no detector
	// claiming it, it is labelled unknown and no longer inspected.
	MaxUndecided int
	// MaxRejected is the number of datagrams (or segments of a TCP flow picked up mid-stream)
	// that every detector rejected outright after which a flow on ports no detector hints at
	// is labelled unknown, sooner than MaxUndecided: one such payload may be a keep-alive or a
	// message cut in the middle, several are another protocol (DNS, QUIC, ...), not worth
	// trying on every packet. On a hinted port (5060, 123, ...) keep-alives before the first
	// message are common, and MaxUndecided alone applies.
	MaxRejected int
	// Out-of-order TCP segments kept per direction (count and bytes) and in total.
	MaxOutOfOrder, MaxOutOfOrderBytes, MaxBufferedBytes int
	// EmergencyAt is the fill ratio of the flow table (0–1) above which timeouts are divided by
	// EmergencyDivisor until the table drains below three quarters of that ratio.
	EmergencyAt      float64
	EmergencyDivisor int
	// Detectors in the order they are tried when no port hints otherwise (at most 6: an
	// entry keeps its candidates packed in one word).
	Detectors []flow.Detector
	// PresizeTable makes the flow table's index for MaxFlows flows from the start, and keeps
	// it so, instead of doubling it as the flows grow in number: a doubling puts every flow in
	// its bucket again, which at a million flows stops the worker for about a tenth of a
	// second, long enough for a live capture ring to overflow. The index costs 4 bytes per
	// flow of MaxFlows (rounded up to a power of two; past 4,194,304 flows it grows as an
	// unsized one does). A live sensor sets it; a file audit does not need it.
	PresizeTable bool
	// Interim, when positive, makes a flow that stays open this long emit an interim record
	// (Record.Interim) with its counters so far, and again at each such interval, so that a
	// live sensor reports long-lived flows before they end. Off for files.
	Interim time.Duration
	// SkipUnknown: flows no detector claimed are counted in Stats but not emitted (the policy
	// has nothing to say about them and a report lists them only on request). It keeps a flood
	// of unknown flows from costing output and memory.
	SkipUnknown bool
	// Admit, if set, is asked about every packet that decoded, before it reaches the flow
	// table (on the goroutine that decoded it, a Feeder's): a packet it turns down goes no
	// further — no flow, no detector — and is counted in Stats.Filtered. It is a triage
	// filter's cheap part (hosts, ports, time); it must not keep p, and it runs per packet:
	// it should not allocate.
	Admit func(p *decode.Packet, ts time.Time) bool
}

// DefaultUDPAnswered returns the default lingers of answered UDP exchanges: NTP 5 s (ntpd's
// and chrony's iburst send their first requests 2 s apart, and a burst is one exchange),
// CLDAP 2 s, SIP 5 s (a SIP client resends an unanswered request within 4 s, RFC 3261
// §17.1.2).
func DefaultUDPAnswered() (d [flow.NumLabels]time.Duration) {
	d[flow.NTP], d[flow.LDAP], d[flow.SIP] = 5*time.Second, 2*time.Second, 5*time.Second
	return d
}

// DefaultConfig returns the defaults; the policy file overrides the timeouts.
func DefaultConfig() Config {
	return Config{
		MaxFlows:           1_000_000,
		TCPTimeout:         10 * time.Minute,
		TCPClosedTimeout:   5 * time.Second,
		UDPTimeout:         2 * time.Minute,
		UDPAnswered:        DefaultUDPAnswered(),
		InspectWindow:      64 << 10,
		MaxUndecided:       16,
		MaxRejected:        4,
		MaxOutOfOrder:      32,
		MaxOutOfOrderBytes: 256 << 10,
		MaxBufferedBytes:   64 << 20,
		EmergencyAt:        0.9,
		EmergencyDivisor:   20,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	positive(&c.MaxFlows, d.MaxFlows)
	c.MaxFlows = min(c.MaxFlows, maxEntries)
	if c.MaxHalfOpen <= 0 || c.MaxHalfOpen > c.MaxFlows {
		c.MaxHalfOpen = max(c.MaxFlows/8, 1)
	}
	positive(&c.TCPTimeout, d.TCPTimeout)
	positive(&c.TCPClosedTimeout, d.TCPClosedTimeout)
	positive(&c.UDPTimeout, d.UDPTimeout)
	positive(&c.InspectWindow, d.InspectWindow)
	positive(&c.MaxUndecided, d.MaxUndecided)
	positive(&c.MaxRejected, d.MaxRejected)
	positive(&c.MaxOutOfOrder, d.MaxOutOfOrder)
	positive(&c.MaxOutOfOrderBytes, d.MaxOutOfOrderBytes)
	c.MaxOutOfOrderBytes = min(c.MaxOutOfOrderBytes, 1<<30) // a stream counts them in an int32
	positive(&c.MaxBufferedBytes, d.MaxBufferedBytes)
	if c.EmergencyAt <= 0 || c.EmergencyAt > 1 {
		c.EmergencyAt = d.EmergencyAt
	}
	if c.EmergencyDivisor <= 1 {
		c.EmergencyDivisor = d.EmergencyDivisor
	}
}

// positive sets *v to def unless it is already positive.
func positive[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Stats counts what the engine saw, and every bound it enforced.
type Stats struct {
	Packets         uint64 // packets given to the engine
	Bytes           uint64 // their captured bytes
	Decode          decode.Stats
	Flows           uint64                 // flows created
	FlowsByLabel    [flow.NumLabels]uint64 // flows emitted, by label
	EndReasons      [numEndReasons]uint64  // flows emitted, by end reason
	Evicted         uint64                 // flows evicted from a full table
	HalfOpenEvicted uint64                 // of which SYN-only flows (the half-open bound)
	Emergencies     uint64                 // times the table entered emergency mode
	Cut             uint64                 // flows whose inspection stopped at the inspection window
	ParseErrors     uint64                 // payloads a detector could not parse
	Panics          uint64                 // detector panics recovered (a bug: please report)
	Interim         uint64                 // interim records of flows still open (Config.Interim)
	Filtered        uint64                 // decoded packets turned down by Config.Admit
	// TCP reassembly.
	TCPOutOfOrder, TCPRetransmits, TCPOverlaps, TCPGaps, TCPGapBytes, TCPDroppedSegments uint64
	// TCPAckedGaps: of TCPGaps, holes the receiver acknowledged: bytes lost before they
	// reached the capture (Zeek's capture-loss estimate).
	TCPAckedGaps uint64
}

const numEndReasons = int(flow.EndEvicted) + 1

// Add adds o to s (to sum the statistics of several workers).
func (s *Stats) Add(o *Stats) {
	s.Packets += o.Packets
	s.Bytes += o.Bytes
	s.Decode.Add(&o.Decode)
	s.Flows += o.Flows
	for i := range s.FlowsByLabel {
		s.FlowsByLabel[i] += o.FlowsByLabel[i]
	}
	for i := range s.EndReasons {
		s.EndReasons[i] += o.EndReasons[i]
	}
	s.Evicted += o.Evicted
	s.Filtered += o.Filtered
	s.HalfOpenEvicted += o.HalfOpenEvicted
	s.Emergencies += o.Emergencies
	s.Cut += o.Cut
	s.ParseErrors += o.ParseErrors
	s.Panics += o.Panics
	s.Interim += o.Interim
	s.TCPOutOfOrder += o.TCPOutOfOrder
	s.TCPRetransmits += o.TCPRetransmits
	s.TCPOverlaps += o.TCPOverlaps
	s.TCPGaps += o.TCPGaps
	s.TCPGapBytes += o.TCPGapBytes
	s.TCPAckedGaps += o.TCPAckedGaps
	s.TCPDroppedSegments += o.TCPDroppedSegments
}

// errDetectorPanic is recorded on a flow whose detector panicked.
var errDetectorPanic = errors.New("classify: detector failed on this payload (recovered)")

// Engine follows flows. See the package documentation.
type Engine struct {
	cfg      Config
	dets     []flow.Detector
	emit     func(*flow.Record)
	flows    flowTable
	lists    [numClasses]list
	timeouts [numClasses]time.Duration
	now      int64 // the latest packet time seen (or the wall clock, for a live sensor), Unix ns
	freeF    []*flow.Open
	freeTCP  []*tcpState
	freePre  []*preFlow
	oooTotal int // bytes held in out-of-order segments, all flows

	// pkt is the Flow every detector call gets: the packet being inspected, set with each
	// packet of a flow that has its Open, and the Open of the flow, set with each call.
	pkt flow.Flow

	// Half-open TCP flows (SYNs only), kept compactly; see halfopen.go.
	half    map[key]halfOpen
	hoPeak  int // the most flows half held since it was last made (see deleteHalf)
	hoQueue []hoItem
	hoHead  int
	scratch flow.Record
	file    fileCache // of Handle

	nextInterim int64 // packet time (Unix ns) of the next scan for interim records
	lastInterim int64 // packet time (Unix ns) of the last scan for interim records

	emergency bool
	stats     Stats
	dec       *decode.Decoder
	dp        decode.Packet
}

// New returns an engine that calls emit with each flow's Record when the flow ends. The Record
// is valid only during the call: copy what you keep. The protocol facts it points to are the
// caller's from then on (an interim record's stay the open flow's): the engine does not reuse
// them, and a caller that knows when every consumer is done with them gives them back with
// flow.Record.ReleaseFacts, as the audit does.
func New(cfg Config, emit func(*flow.Record)) *Engine {
	cfg.fill()
	e := &Engine{
		cfg:   cfg,
		dets:  cfg.Detectors,
		emit:  emit,
		flows: newFlowTable(tableSize(&cfg)),
		half:  make(map[key]halfOpen),
		dec:   decode.New(cfg.Decode),
		now:   math.MinInt64,
	}
	if cfg.PresizeTable {
		e.flows.least = len(e.flows.buckets)
	}
	if len(e.dets) > maxCands {
		e.dets = e.dets[:maxCands]
	}
	e.setTimeouts(1)
	return e
}

func (e *Engine) setTimeouts(div int) {
	e.timeouts[classTCP] = e.cfg.TCPTimeout / time.Duration(div)
	e.timeouts[classTCPClosed] = e.cfg.TCPClosedTimeout / time.Duration(div)
	e.timeouts[classUDP] = e.cfg.UDPTimeout / time.Duration(div)
	for l, d := range e.cfg.UDPAnswered {
		e.timeouts[classAnswered+l] = d / time.Duration(div)
	}
}

// Stats returns the counters so far.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.Decode = *e.dec.Stats()
	return s
}

// Flows returns the number of flows in the table (half-open ones included).
func (e *Engine) Flows() int { return e.flows.n + len(e.half) }

// Handle follows one decoded packet captured at ts, frame number frame of file.
func (e *Engine) Handle(p *decode.Packet, ts time.Time, frame uint64, file string) {
	e.handle(p, nanos(ts), frame, e.file.of(file), 0)
}

// nanos returns t in Unix nanoseconds, clamped to the range of flow.Time as flow.TimeOf
// clamps it. The engine keeps every time so: packet times, its clock, a flow's activity.
func nanos(t time.Time) int64 { return flow.TimeOf(t).UnixNano() }

// after returns the Unix time ns+d, or the latest one when that is past the range of int64.
func after(ns int64, d time.Duration) int64 {
	if s := ns + int64(d); s >= ns {
		return s
	}
	return math.MaxInt64
}

// fileCache numbers file names (flow.FileRefOf) for the per-packet path: packets come file
// by file, so the name asked for is nearly always the last one.
type fileCache struct {
	name string
	ref  flow.FileRef
}

func (c *fileCache) of(name string) flow.FileRef {
	if name != c.name {
		c.name, c.ref = name, flow.FileRefOf(name)
	}
	return c.ref
}

// handle is Handle with the packet time in Unix nanoseconds (see nanos) and the file
// numbered. h is the flow table's hash of the packet's key when the caller has it (a
// Parallel's feeder, which shares the table's seed), else 0.
func (e *Engine) handle(p *decode.Packet, ts int64, frame uint64, file flow.FileRef, h uint64) {
	e.setNow(ts)
	e.expire()
	k, srcIsA := makeKey(p)
	if h == 0 {
		h = e.flows.hash(&k)
	}
	en := e.flows.getAt(&k, h)
	syn := p.Proto == decode.ProtoTCP && p.Flags&(decode.FlagSYN|decode.FlagACK) == decode.FlagSYN
	if en != nil && e.now-en.last > int64(e.timeouts[en.class]) {
		// Expired between two expiry passes (a worker sees the clock in batches).
		e.expireOne(en)
		en = nil
	}
	if en != nil && syn && en.class == classTCPClosed {
		// The port pair is reused for a new connection.
		e.finishAt(en, en.closedWhy, flow.UnixNano(e.now))
		en = nil
	}
	if en == nil && p.Proto == decode.ProtoTCP {
		if e.trackHalfOpen(&k, srcIsA, p, ts, frame, file) {
			return
		}
		en = e.flows.getAt(&k, h) // promoted from the half-open table, or nil
	}
	if en == nil {
		en = e.newFlow(&k, srcIsA, p, ts, frame, file)
		if f := en.f; f != nil {
			f.VLAN, f.NVLAN, f.Tunnel = arrival(p, srcIsA == en.clientIsA)
		} else if pre := en.pre(); pre != nil {
			pre.vlan, pre.nvlan, pre.tun = arrival(p, srcIsA == en.clientIsA)
		}
	}
	d := flow.FromServer
	if srcIsA == en.clientIsA {
		d = flow.FromClient
	}
	if pre := en.pre(); pre != nil {
		// A TCP flow without its Open yet: it gets one with its first payload (or when a
		// counter outgrows the preFlow's), else this packet is counted in the preFlow.
		if len(p.Payload) > 0 || !pre.count(d, p.IPLen, flow.UnixNano(ts)) {
			e.born(en)
		}
	}
	if f := en.f; f != nil {
		t := flow.UnixNano(ts)
		e.pkt.Frame, e.pkt.Time, e.pkt.FrameFile = frame, t, 0
		if file != f.File { // a flow that spans files (merged inputs): its events name theirs
			e.pkt.FrameFile = file
		}
		f.Packets[d]++
		f.Bytes[d] += uint64(p.IPLen)
		f.Payload[d] += uint64(len(p.Payload))
		if t.After(f.End) {
			f.End = t
		}
	}
	en.last = e.now
	if en.next != 0 { // not the latest of its list yet
		l := &e.lists[en.class]
		e.flows.move(l, l, en)
	}

	if p.Proto != decode.ProtoTCP {
		if !en.skip && len(p.Payload) > 0 {
			e.inspect(en, d, p.Payload, false)
			e.linger(en)
		}
		return
	}
	if !en.skip && (len(p.Payload) > 0 || p.Flags&decode.FlagSYN != 0 || en.tcp != nil) {
		e.tcpSegment(en, d, p)
		// tcpSegment may reverse the flow's orientation (a detector saw a response first).
		if srcIsA == en.clientIsA {
			d = flow.FromClient
		} else {
			d = flow.FromServer
		}
	}
	switch {
	case p.Flags&decode.FlagRST != 0:
		e.close(en, flow.EndRST)
	case p.Flags&decode.FlagFIN != 0:
		en.finSeen[d] = true
		if en.finSeen[0] && en.finSeen[1] {
			e.close(en, flow.EndFIN)
		}
	}
}

// close moves a TCP flow to the closed class: it is emitted after the short closed timeout,
// so that late packets of the same connection do not start a new flow.
func (e *Engine) close(en *entry, why flow.End) {
	if en.class == classTCPClosed {
		return
	}
	en.closedWhy = why
	e.flows.move(&e.lists[en.class], &e.lists[classTCPClosed], en)
	en.class = classTCPClosed
	e.stopInspecting(en)
	e.releaseTCP(en)
}

// linger moves a UDP flow between the UDP class and the short linger of its protocol as its
// detector reports the exchange complete (flow.Flow.Answered) or a new request open. The flow
// goes to the back of its new list: its last activity is now, the latest of every flow, so
// each list stays ordered by last activity.
func (e *Engine) linger(en *entry) {
	f := en.f
	want := uint8(classUDP)
	if f != nil && f.IsAnswered() && e.cfg.UDPAnswered[f.Label] > 0 {
		want = uint8(classAnswered + int(f.Label))
	}
	if want == en.class || en.class != classUDP && en.class < classAnswered {
		return
	}
	e.flows.move(&e.lists[en.class], &e.lists[want], en)
	en.class = want
}

func (e *Engine) newFlow(k *key, srcIsA bool, p *decode.Packet, ts int64, frame uint64, file flow.FileRef) *entry {
	if e.Flows() >= e.cfg.MaxFlows {
		e.evictOldest()
	}
	e.checkPressure()
	clientIsA := srcIsA
	known := false
	if p.Proto == decode.ProtoTCP && p.Flags&decode.FlagSYN != 0 {
		known = true
		if p.Flags&decode.FlagACK != 0 {
			clientIsA = !srcIsA // a SYN-ACK comes from the server
		}
	}
	t := flow.UDP
	if p.Proto == decode.ProtoTCP {
		t = flow.TCP
	}
	en := e.alloc(k, clientIsA, t)
	if t == flow.TCP && !en.skip {
		// Its Flow waits for its first payload: the handshake leaves its counts in a preFlow.
		t := flow.UnixNano(ts)
		e.deferFlow(en, &preFlow{start: t, end: t, first: frame, file: file, clientKnown: known})
		return en
	}
	e.attach(en, t, flow.UnixNano(ts), frame, file).ClientKnown = known
	if en.skip {
		e.dropFlow(en) // no detector for this transport
	}
	return en
}

// alloc inserts a new entry for key k, without its Open (see attach and deferFlow).
func (e *Engine) alloc(k *key, clientIsA bool, t flow.Transport) *entry {
	r, en := e.flows.newEntry()
	en.key = *k
	en.clientIsA = clientIsA
	en.claimant = -1
	en.class = classUDP
	if t == flow.TCP {
		en.class = classTCP
	}
	e.order(en, t, k.port(!clientIsA), k.port(clientIsA))
	e.flows.put(r, en)
	en.last = e.now
	e.flows.pushBack(&e.lists[en.class], r, en)
	e.stats.Flows++
	return en
}

// getFlow gives en an empty Open, from the pool when it has one.
func (e *Engine) getFlow(en *entry) *flow.Open {
	if n := len(e.freeF); n > 0 {
		en.f = e.freeF[n-1]
		e.freeF = e.freeF[:n-1]
	} else {
		en.f = new(flow.Open)
	}
	return en.f
}

// attach gives en its Open: a flow of transport t whose first packet is frame of file at ts.
func (e *Engine) attach(en *entry, t flow.Transport, ts flow.Time, frame uint64, file flow.FileRef) *flow.Open {
	f := e.getFlow(en)
	f.Client = en.key.addrPort(!en.clientIsA)
	f.Server = en.key.addrPort(en.clientIsA)
	f.File, f.FirstFrame, f.Start, f.End = file, frame, ts, ts
	f.Transport = t
	return f
}

// order puts the detectors a port hints at first, the others after them.
func (e *Engine) order(en *entry, t flow.Transport, p1, p2 uint16) {
	for pass := 0; pass < 2; pass++ {
		for i, d := range e.dets {
			if !d.Accepts(t) {
				continue
			}
			hinted := d.Hint(t, p1) || d.Hint(t, p2)
			if hinted {
				en.hinted = true
			}
			if hinted == (pass == 0) {
				en.cands.add(uint8(i))
			}
		}
	}
	if en.cands.len() == 0 {
		en.skip = true
	}
}

// checkPressure enters or leaves emergency mode, in which every timeout is shortened so the
// table drains under a flood of new flows (the idea of Suricata's emergency mode).
func (e *Engine) checkPressure() {
	// The fuller of the two bounds decides.
	n := max(float64(e.Flows())/float64(e.cfg.MaxFlows), float64(len(e.half))/float64(e.cfg.MaxHalfOpen))
	hi := e.cfg.EmergencyAt
	switch {
	case !e.emergency && n >= hi:
		e.emergency = true
		e.stats.Emergencies++
		e.setTimeouts(e.cfg.EmergencyDivisor)
	case e.emergency && n < hi*0.75:
		e.emergency = false
		e.setTimeouts(1)
	}
}

// expire emits the flows idle for longer than their class's timeout. Each list is ordered by
// last activity, so only the fronts are looked at.
func (e *Engine) expire() {
	for c := range e.lists {
		l := &e.lists[c]
		for en := e.flows.front(l); en != nil && e.now-en.last > int64(e.timeouts[c]); en = e.flows.front(l) {
			e.expireOne(en)
		}
	}
	e.expireHalf()
	e.flows.compact(e.lists[:]) // after a drain; nothing holds an entry here
}

// expireOne emits a flow whose idle (or closed) timeout has passed.
func (e *Engine) expireOne(en *entry) {
	why := flow.EndIdle
	if en.class == classTCPClosed {
		why = en.closedWhy
	}
	e.finishAt(en, why, flow.UnixNano(after(en.last, e.timeouts[en.class])))
}

// Advance moves the engine's clock to now, if later, and expires idle flows. A live sensor
// calls it with the wall clock so flows end when traffic stops; files never need it.
func (e *Engine) Advance(now time.Time) { e.advance(nanos(now)) }

// advance is Advance with the time in Unix nanoseconds.
func (e *Engine) advance(now int64) {
	e.setNow(now)
	e.expire()
	e.interim()
}

// interimScan is how often, at most, the table is scanned for flows due an interim record:
// a tenth of the interval (a record comes at most that late), at least a second.
func (e *Engine) interimScan() int64 { return int64(max(e.cfg.Interim/10, time.Second)) }

// interim emits an interim record of every reported flow that has been open for another
// interval: one whose start plus a whole number of intervals fell after the previous scan
// and by this one. The scan walks the whole table, at most every tenth of the interval; a
// flow keeps no state for it.
func (e *Engine) interim() {
	now := e.now
	if e.cfg.Interim <= 0 || now < e.nextInterim {
		return
	}
	prev := e.lastInterim // 0 before the first scan
	e.nextInterim, e.lastInterim = now+e.interimScan(), now
	iv := int64(e.cfg.Interim)
	e.flows.all(func(en *entry) {
		var rec *flow.Record
		var start int64
		pre := en.pre()
		switch {
		case en.f != nil:
			rec, start = &en.f.Record, en.f.Start.UnixNano()
		case pre != nil:
			start = pre.start.UnixNano()
		default:
			return
		}
		if (rec == nil || rec.Label == flow.Unknown) && e.cfg.SkipUnknown {
			return
		}
		// Intervals since the start, now and at the previous scan.
		n, was := (now-start)/iv, int64(0)
		if prev > start {
			was = (prev - start) / iv
		}
		if n <= was {
			return
		}
		r := &e.scratch
		if rec != nil {
			*r = *rec
		} else {
			pre.record(r, &en.key, en.clientIsA)
		}
		r.Interim, r.EmitAt = true, flow.UnixNano(e.now)
		// While the detector still writes the facts, they may be read during emit only.
		r.FactsPending = !en.skip
		e.stats.Interim++
		e.emit(r)
	})
}

// setNow moves the engine's clock to now, if later, without expiring anything yet.
func (e *Engine) setNow(now int64) {
	if now > e.now {
		e.now = now
	}
}

// evictHalfOpen evicts the oldest half-open flow; it reports false when there is none.
func (e *Engine) evictHalfOpen() bool {
	it, ho, ok := e.frontHalf()
	if !ok {
		return false
	}
	k := it.k
	e.hoHead++
	e.stats.Evicted++
	e.stats.HalfOpenEvicted++
	e.finishHalf(&k, &ho, flow.EndEvicted, flow.UnixNano(e.now))
	e.compactQueue()
	return true
}

func (e *Engine) evictOldest() {
	var oldest *entry
	for c := range e.lists {
		if h := e.flows.front(&e.lists[c]); h != nil && (oldest == nil || h.last < oldest.last) {
			oldest = h
		}
	}
	if _, ho, ok := e.frontHalf(); ok && (oldest == nil || ho.last <= oldest.last) {
		// Half-open flows go first when as old: they are the cheapest to lose.
		e.evictHalfOpen()
		return
	}
	if oldest != nil {
		e.stats.Evicted++
		e.finishAt(oldest, flow.EndEvicted, flow.UnixNano(e.now))
	}
}

// finishAt emits a flow that ended at packet time at (unset: end of input) and releases its
// entry.
func (e *Engine) finishAt(en *entry, why flow.End, at flow.Time) {
	r := e.flows.remove(en)
	e.flows.unlink(&e.lists[en.class], en)
	e.stats.EndReasons[why]++
	if pre := en.pre(); pre != nil {
		// A TCP flow that carried no payload: its record is made from the preFlow alone.
		e.stats.FlowsByLabel[flow.Unknown]++
		if !e.cfg.SkipUnknown {
			r := &e.scratch
			pre.record(r, &en.key, en.clientIsA)
			r.EndReason, r.EmitAt = why, at
			e.emit(r)
		}
		e.dropPre(en)
	} else if f := en.f; f != nil {
		f.EndReason = why
		f.EmitAt = at
		e.stats.FlowsByLabel[f.Label]++
		e.stats.ParseErrors += uint64(f.ParseErrors)
		if f.Label != flow.Unknown || !e.cfg.SkipUnknown {
			e.emit(&f.Record)
		}
	} else {
		e.stats.FlowsByLabel[flow.Unknown]++
	}
	e.release(r, en)
}

// release resets an entry, named r and out of the table, and keeps it for reuse.
func (e *Engine) release(r ref, en *entry) {
	e.releaseTCP(en)
	e.dropState(en)
	if en.f != nil {
		e.putFlow(en.f)
	}
	e.flows.freeEntry(r, en)
}

// maxPresized bounds the index a presized flow table makes at the start (16 MiB): a larger
// MaxFlows, which a live sensor may be given by mistake, grows the index past it by doubling
// rather than taking gigabytes before the first packet.
const maxPresized = 1 << 22

// tableSize is the number of flows the engine's table is made for: MaxFlows (up to
// maxPresized) for a presized one, a few pages' worth otherwise.
func tableSize(cfg *Config) int {
	if cfg.PresizeTable {
		return min(cfg.MaxFlows, maxPresized)
	}
	return min(cfg.MaxFlows, 1024)
}

// maxPooled bounds each of the engine's pools of released per-flow state (Flows, TCP
// reassembly state; the table keeps its entries itself): enough for the flows that end between two new ones in bursts, not
// so many that memory freed by a flood stays held.
const maxPooled = 4096

// putFlow keeps an Open for reuse, cleared (its facts and detector state are let go).
func (e *Engine) putFlow(f *flow.Open) {
	f.Reset()
	if len(e.freeF) < maxPooled {
		e.freeF = append(e.freeF, f)
	}
}

// dropFlow turns en into a flow that is followed but never reported, when it is known to be
// of no protocol and unknown flows are not reported: its Open (the Record and the detector
// state) goes back to the pool. Only the statistics remember it.
func (e *Engine) dropFlow(en *entry) {
	if en.pre() != nil && e.cfg.SkipUnknown {
		e.dropPre(en) // no payload was inspected: the flow is unknown
		return
	}
	f := en.f
	if f == nil || f.Label != flow.Unknown || !e.cfg.SkipUnknown {
		return
	}
	e.stats.ParseErrors += uint64(f.ParseErrors)
	en.f = nil
	e.putFlow(f)
}

// compareFirst orders flows by their first packet: by frame within a file; across files by
// time, and the same instant in two files by file name. It is the last key of the canonical
// order of records (recLess) and the order of the open flows at the end of input.
func compareFirst(afile flow.FileRef, astart flow.Time, aframe uint64, bfile flow.FileRef, bstart flow.Time, bframe uint64) int {
	if afile != bfile {
		switch {
		case astart.Before(bstart):
			return -1
		case astart.After(bstart):
			return 1
		}
		return strings.Compare(afile.String(), bfile.String())
	}
	return cmp.Compare(aframe, bframe)
}

// Flush emits every open flow (end of input), in the order of their first frame, so the
// output of a file is the same on every run.
func (e *Engine) Flush() {
	// open is one flow to emit, kept small: at the end of input every open flow has one.
	type open struct {
		en    *entry // nil for a half-open flow, halves[half]
		half  int
		file  flow.FileRef
		start flow.Time
		frame uint64
	}
	type halfKV struct {
		k  key
		ho halfOpen
	}
	all := make([]open, 0, e.flows.n+len(e.half))
	e.flows.all(func(en *entry) {
		o := open{en: en}
		if en.f != nil { // a flow that is not reported needs no place in the order
			o.file, o.start, o.frame = en.f.File, en.f.Start, en.f.FirstFrame
		} else if pre := en.pre(); pre != nil {
			o.file, o.start, o.frame = pre.file, pre.start, pre.first
		}
		all = append(all, o)
	})
	halves := make([]halfKV, 0, len(e.half))
	for k, ho := range e.half {
		all = append(all, open{half: len(halves), file: ho.file, start: flow.UnixNano(ho.start), frame: ho.first})
		halves = append(halves, halfKV{k, ho})
	}
	slices.SortFunc(all, func(a, b open) int {
		return compareFirst(a.file, a.start, a.frame, b.file, b.start, b.frame)
	})
	for i := range all {
		o := &all[i]
		if o.en == nil {
			h := &halves[o.half]
			e.finishHalf(&h.k, &h.ho, flow.EndEOF, 0)
			continue
		}
		why := flow.EndEOF
		if o.en.class == classTCPClosed {
			why = o.en.closedWhy
		}
		e.finishAt(o.en, why, 0)
	}
	e.hoQueue, e.hoHead = e.hoQueue[:0], 0
	e.emergency = false
	e.setTimeouts(1)
}
