package classify

import (
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// halfOpen is a TCP flow of which only SYNs from one side have been seen: the shape of a
// port scan or a SYN flood. It costs about a tenth of a full entry and is promoted to one on
// the flow's first other packet, so a flood of new flows does not exhaust memory.
type halfOpen struct {
	start   int64 // packet time (Unix ns) of the first SYN
	last    int64 // the engine's clock at the latest SYN (the packet time, unless it went back)
	first   uint64
	isn     uint32
	packets uint32
	bytes   uint32
	file    flow.FileRef
	srcIsA  bool // the SYN's sender is endpoint A of the key
	nvlan   uint8
	vlan    [2]uint16
	tun     *flow.Tunnels // how the SYN arrived (see flow.Record)
}

// hoItem is an entry of the half-open queue, oldest first. Stale items (the flow was promoted,
// ended, or saw a later SYN) are skipped when they reach the front.
type hoItem struct {
	k  key
	at int64
}

// halfOpenTimeout is how long a SYN waits for any other packet of its flow.
const halfOpenTimeout = 30 * time.Second

// trackHalfOpen handles a packet of a flow not in the full table. It reports true when the
// packet was absorbed by the half-open table; otherwise the caller creates (or, after a
// promotion, finds) the full entry.
func (e *Engine) trackHalfOpen(k *key, srcIsA bool, p *decode.Packet, ts int64, frame uint64, file flow.FileRef) bool {
	// Activity is stamped with the engine's clock, which never goes back, as full entries
	// are: a SYN whose packet time is earlier than one already seen (a capture whose clock
	// stepped back) must neither end the flow before it began nor jump the expiry queue.
	now := e.now
	ho, ok := e.half[*k]
	if ok && time.Duration(now-ho.last) > e.hoTimeout() {
		e.finishHalf(k, &ho, flow.EndIdle, flow.UnixNano(after(ho.last, e.hoTimeout())))
		ok = false
	}
	pureSyn := p.Proto == decode.ProtoTCP && p.Flags&(decode.FlagSYN|decode.FlagACK|decode.FlagRST|decode.FlagFIN) == decode.FlagSYN &&
		len(p.Payload) == 0
	switch {
	case ok && pureSyn && srcIsA == ho.srcIsA:
		// A retransmitted SYN.
		ho.packets++
		ho.bytes += uint32(p.IPLen)
		ho.last = now
		e.half[*k] = ho
		e.queueHalf(k, now)
		return true
	case ok:
		e.promote(k, &ho)
		return false
	case pureSyn:
		switch {
		case len(e.half) >= e.cfg.MaxHalfOpen:
			e.evictHalfOpen()
		case e.Flows() >= e.cfg.MaxFlows:
			e.evictOldest()
		}
		e.checkPressure()
		ho := halfOpen{start: ts, last: now, first: frame, isn: p.Seq + 1, packets: 1,
			bytes: uint32(p.IPLen), file: file, srcIsA: srcIsA}
		ho.vlan, ho.nvlan, ho.tun = arrival(p, true)
		e.half[*k] = ho
		e.hoPeak = max(e.hoPeak, len(e.half))
		e.queueHalf(k, now)
		e.stats.Flows++
		return true
	}
	return false
}

// promote turns a half-open flow into a full entry, with what its SYNs already counted.
func (e *Engine) promote(k *key, ho *halfOpen) {
	e.deleteHalf(k)
	en := e.alloc(k, ho.srcIsA, flow.TCP)
	e.stats.Flows-- // counted when it was created
	pre := ho.preFlow()
	if en.skip { // no detector for TCP: the flow is only counted, in its Open at once
		pre.record(&e.getFlow(en).Record, k, en.clientIsA)
		return
	}
	// The Flow waits for the first payload; the reassembly state keeps the client's initial
	// sequence number and, in its preFlow, what the SYNs counted.
	e.deferFlow(en, &pre)
	s := &en.tcp.s[flow.FromClient]
	s.next, s.init = ho.isn, true
}

// preFlow returns what the flow's SYNs counted, as a full entry keeps it until its Open is made.
func (ho *halfOpen) preFlow() preFlow {
	return preFlow{start: flow.UnixNano(ho.start), end: flow.UnixNano(ho.last), first: ho.first, file: ho.file,
		tun: ho.tun, packets: [2]uint32{ho.packets}, bytes: [2]uint32{ho.bytes},
		vlan: ho.vlan, nvlan: ho.nvlan, clientKnown: true}
}

// finishHalf emits a half-open flow (always labelled unknown).
func (e *Engine) finishHalf(k *key, ho *halfOpen, why flow.End, at flow.Time) {
	e.deleteHalf(k)
	e.stats.FlowsByLabel[flow.Unknown]++
	e.stats.EndReasons[why]++
	if e.cfg.SkipUnknown {
		return
	}
	r := &e.scratch
	pre := ho.preFlow()
	pre.record(r, k, ho.srcIsA)
	r.EndReason, r.EmitAt = why, at
	e.emit(r)
}

func (e *Engine) hoTimeout() time.Duration {
	if e.emergency {
		return halfOpenTimeout / time.Duration(e.cfg.EmergencyDivisor)
	}
	return halfOpenTimeout
}

// queueHalf appends a half-open flow's latest SYN to the expiry queue. Items of flows that were
// promoted (most: a SYN answered at once) go stale and would wait for the half-open timeout
// to reach the front; when they outnumber the live ones, they are dropped, so the queue holds
// about what the half-open table holds rather than every SYN of the last 30 seconds.
func (e *Engine) queueHalf(k *key, now int64) {
	if q := len(e.hoQueue) - e.hoHead; q >= 4096 && q >= 2*len(e.half) {
		live := e.hoQueue[:0]
		for _, it := range e.hoQueue[e.hoHead:] {
			if ho, ok := e.half[it.k]; ok && ho.last == it.at {
				live = append(live, it)
			}
		}
		clear(e.hoQueue[len(live):])
		e.hoQueue, e.hoHead = live, 0
		if cap(live) > 4096 && cap(live) > 8*len(live) {
			e.hoQueue = append(make([]hoItem, 0, 2*len(live)), live...)
		}
	}
	e.hoQueue = append(e.hoQueue, hoItem{*k, now})
}

// deleteHalf takes a flow out of the half-open table. A Go map does not shrink: after a flood
// that filled the table, the table is made again at the size of what it still holds.
func (e *Engine) deleteHalf(k *key) {
	delete(e.half, *k)
	if n := len(e.half); e.hoPeak >= 16384 && n < e.hoPeak/16 {
		m := make(map[key]halfOpen, 2*n)
		for k, ho := range e.half {
			m[k] = ho
		}
		e.half, e.hoPeak = m, n
	}
}

// frontHalf returns the oldest live half-open flow, dropping stale queue items.
func (e *Engine) frontHalf() (*hoItem, halfOpen, bool) {
	for e.hoHead < len(e.hoQueue) {
		it := &e.hoQueue[e.hoHead]
		if ho, ok := e.half[it.k]; ok && ho.last == it.at {
			return it, ho, true
		}
		e.hoHead++
		e.compactQueue()
	}
	return nil, halfOpen{}, false
}

func (e *Engine) compactQueue() {
	if e.hoHead == len(e.hoQueue) {
		e.hoQueue, e.hoHead = e.hoQueue[:0], 0
	} else if e.hoHead > 4096 && e.hoHead > len(e.hoQueue)/2 {
		n := copy(e.hoQueue, e.hoQueue[e.hoHead:])
		e.hoQueue, e.hoHead = e.hoQueue[:n], 0
	}
}

// expireHalf emits the half-open flows whose SYN got no answer within the timeout.
func (e *Engine) expireHalf() {
	limit := e.now - int64(e.hoTimeout())
	for {
		// The queue is in packet-time order: when its first item, live or stale, is recent,
		// nothing is due, and the map need not be asked (this runs for every packet).
		if e.hoHead < len(e.hoQueue) && e.hoQueue[e.hoHead].at >= limit {
			return
		}
		it, ho, ok := e.frontHalf()
		if !ok || ho.last >= limit {
			return
		}
		k := it.k
		e.hoHead++
		e.finishHalf(&k, &ho, flow.EndIdle, flow.UnixNano(after(ho.last, e.hoTimeout())))
		e.compactQueue()
	}
}
