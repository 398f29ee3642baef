package classify

import (
	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// segment is an out-of-order TCP segment waiting for the bytes before it.
type segment struct {
	seq  uint32
	data []byte // a copy: the capture buffer is reused
}

// stream is the reassembly state of one direction of a TCP flow.
type stream struct {
	ooo      *segments // out-of-order segments, sorted by seq; nil while none wait
	next     uint32    // next expected sequence number
	peerAck  uint32    // highest ACK the receiver sent for this direction
	oooBytes int32     // bytes in ooo (at most Config.MaxOutOfOrderBytes)
	init     bool      // next is known
	ackValid bool
}

// segments is a queue of out-of-order segments. Few streams ever have one, so a stream holds
// it by pointer: 8 bytes instead of a slice's 24.
type segments []segment

// waiting returns how many segments wait in s's queue.
func (s *stream) waiting() int {
	if s.ooo == nil {
		return 0
	}
	return len(*s.ooo)
}

// tcpState is allocated for a TCP flow at its SYN (or its first segment that needs
// inspection). It is 64 bytes (TestTCPStateFitsItsSizeClass): what only some flows need, a
// queue of out-of-order segments or bytes kept for the detector, hangs off it by pointer.
type tcpState struct {
	s [2]stream
	// pend holds bytes kept for the detector, by Dir: an undecided prefix or a message not
	// yet complete. Only a stream needs it; a datagram is always inspected alone. nil until
	// the flow first keeps bytes (see pending and keep).
	pend *[2][]byte
	// pre, until the flow's flow.Open is made (its first payload, or its end), holds what its
	// packets left behind (see preFlow); nil afterwards.
	pre *preFlow
}

// pending returns the bytes kept for the detector in direction d.
func (st *tcpState) pending(d flow.Dir) []byte {
	if st.pend == nil {
		return nil
	}
	return st.pend[d]
}

// keep sets the bytes kept for the detector in direction d to a copy of b (which may alias
// them: append copies with memmove semantics). Keeping nothing allocates nothing.
func (st *tcpState) keep(d flow.Dir, b []byte) {
	if st.pend == nil {
		if len(b) == 0 {
			return
		}
		st.pend = new([2][]byte)
	}
	st.pend[d] = append(st.pend[d][:0], b...)
}

// seqLT reports a < b in sequence-number space (RFC 1982 arithmetic).
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }

// tcpSegment runs one TCP packet through the reassembly of direction d and hands the bytes
// that became contiguous to the detectors, in order. Retransmitted bytes are dropped, overlaps
// are trimmed (the first copy seen wins, also against a segment still waiting out of order),
// out-of-order segments wait within bounds, and a gap that can no longer be filled is skipped
// and counted.
func (e *Engine) tcpSegment(en *entry, d flow.Dir, p *decode.Packet) {
	seq := p.Seq
	if en.tcp == nil {
		// A SYN makes the reassembly state too, to keep its initial sequence number: a flow
		// in the full table whose SYN was captured nearly always carries bytes (the SYNs of a
		// flood stay in the half-open table), and the entry stays small.
		en.tcp = e.getTCP()
	}
	if p.Flags&decode.FlagSYN != 0 {
		seq++ // the SYN takes one sequence number; data on a SYN (TCP Fast Open) follows it
		s := &en.tcp.s[d]
		s.next, s.init = seq, true
	}
	st := en.tcp
	if p.Flags&decode.FlagACK != 0 {
		o := &st.s[1-d]
		if !o.ackValid || seqLT(o.peerAck, p.Ack) {
			o.peerAck, o.ackValid = p.Ack, true
		}
	}
	s := &st.s[d]
	data := p.Payload
	if len(data) == 0 {
		return
	}
	if !s.init {
		// Picked up mid-stream: start from this segment.
		s.next, s.init = seq, true
	}
	if diff := int32(seq - s.next); diff < 0 {
		if int(-diff) >= len(data) {
			e.stats.TCPRetransmits++
			return
		}
		e.stats.TCPOverlaps++
		data = data[-diff:]
		seq = s.next
	} else if diff > 0 {
		e.outOfOrder(en, d, s, seq, data)
		return
	}
	e.inOrder(en, d, seq, data)
}

// inOrder delivers a segment that starts at the next expected byte. Where it overlaps a
// segment already waiting out of order, the waiting copy was seen first and wins: the new
// segment is delivered up to it, the queue drains, and what the new segment has beyond the
// queued bytes follows.
func (e *Engine) inOrder(en *entry, d flow.Dir, seq uint32, data []byte) {
	s := &en.tcp.s[d]
	for len(data) > 0 {
		part := data
		if s.waiting() > 0 {
			if lim := int(int32((*s.ooo)[0].seq - seq)); lim >= 0 && lim < len(part) {
				part = part[:lim]
			}
		}
		if len(part) > 0 {
			s.next += uint32(len(part))
			var ok bool
			if d, ok = e.deliver(en, d, part); !ok {
				return
			}
		}
		var ok bool
		if d, ok = e.drain(en, d, &en.tcp.s[d]); !ok {
			return
		}
		s = &en.tcp.s[d]
		if len(part) == len(data) {
			return
		}
		// The queued copy covered the bytes after part; what the segment has past the bytes
		// delivered so far comes next.
		e.stats.TCPOverlaps++
		done := int(int32(s.next - seq))
		if done >= len(data) {
			return
		}
		data, seq = data[done:], s.next
	}
}

// deliver hands contiguous bytes to the detectors. It returns the direction of those bytes
// afterwards (a detector may have reversed the flow) and whether reassembly should go on.
func (e *Engine) deliver(en *entry, d flow.Dir, data []byte) (flow.Dir, bool) {
	wasA := en.clientIsA
	e.inspect(en, d, data, true)
	if en.skip || en.tcp == nil {
		return d, false
	}
	if en.clientIsA != wasA {
		d = 1 - d
	}
	return d, true
}

// outOfOrder keeps a segment that arrived before the bytes that precede it. When the
// receiver has already acknowledged the missing bytes (they were lost by the capture, not by
// the network) or the per-direction bounds are reached, the gap is skipped.
func (e *Engine) outOfOrder(en *entry, d flow.Dir, s *stream, seq uint32, data []byte) {
	e.stats.TCPOutOfOrder++
	// The receiver acknowledged bytes up to this segment that we never saw.
	acked := s.ackValid && seqLT(s.next, s.peerAck) && !seqLT(s.peerAck, seq)
	full := s.waiting() >= e.cfg.MaxOutOfOrder || int(s.oooBytes)+len(data) > e.cfg.MaxOutOfOrderBytes ||
		e.oooTotal+len(data) > e.cfg.MaxBufferedBytes
	if acked || full && s.waiting() == 0 {
		// Skip the hole: the segment is then in order.
		if acked {
			// Bytes the receiver had, that the capture never saw: loss on the way to the
			// sensor (a SPAN port's own drops), which no kernel counter shows.
			e.stats.TCPAckedGaps++
		}
		e.gap(en, d, s, seq)
		if !en.skip && en.tcp != nil {
			e.inOrder(en, d, seq, data)
		}
		return
	}
	if full {
		// Give up waiting for the hole before the oldest queued segment.
		e.gap(en, d, s, (*s.ooo)[0].seq)
		var ok bool
		if d, ok = e.drain(en, d, s); !ok {
			return
		}
		s = &en.tcp.s[d]
		if !seqLT(seq, s.next) && s.waiting() < e.cfg.MaxOutOfOrder {
			e.queue(s, seq, data)
		} else {
			e.stats.TCPDroppedSegments++
		}
		return
	}
	e.queue(s, seq, data)
}

// queue inserts a copy of data, sorted by sequence number.
func (e *Engine) queue(s *stream, seq uint32, data []byte) {
	c := make([]byte, len(data))
	copy(c, data)
	if s.ooo == nil {
		s.ooo = new(segments)
	}
	q := append(*s.ooo, segment{})
	i := len(q) - 1
	for i > 0 && seqLT(seq, q[i-1].seq) {
		i--
	}
	copy(q[i+1:], q[i:])
	q[i] = segment{seq: seq, data: c}
	*s.ooo = q
	s.oooBytes += int32(len(c))
	e.oooTotal += len(c)
}

// drain hands queued segments that became contiguous to the detectors. It returns the
// direction of that stream afterwards (a detector may have reversed the flow) and false when
// reassembly of the flow stopped meanwhile.
func (e *Engine) drain(en *entry, d flow.Dir, s *stream) (flow.Dir, bool) {
	for s.waiting() > 0 {
		if en.skip || en.tcp == nil {
			return d, false
		}
		sg := (*s.ooo)[0]
		diff := int32(sg.seq - s.next)
		if diff > 0 {
			return d, true
		}
		*s.ooo = (*s.ooo)[1:]
		s.oooBytes -= int32(len(sg.data))
		e.oooTotal -= len(sg.data)
		data := sg.data
		if int(-diff) >= len(data) {
			e.stats.TCPRetransmits++
			continue
		}
		if diff < 0 {
			e.stats.TCPOverlaps++
			data = data[-diff:]
		}
		s.next += uint32(len(data))
		var ok bool
		if d, ok = e.deliver(en, d, data); !ok {
			return d, false
		}
		s = &en.tcp.s[d]
	}
	s.ooo = nil // the queue is empty: let it and its backing array go
	return d, !en.skip && en.tcp != nil
}

// gap skips the missing bytes of direction d up to seq. A detector cannot find message
// boundaries again after a hole, so a claimed flow stops being inspected; an undecided one
// starts afresh from the bytes after the hole.
func (e *Engine) gap(en *entry, d flow.Dir, s *stream, seq uint32) {
	e.stats.TCPGaps++
	e.stats.TCPGapBytes += uint64(seq - s.next)
	en.f.Gaps++
	s.next = seq
	en.tcp.keep(d, nil)
	if en.claimant >= 0 {
		e.stopInspecting(en)
	}
}

// releaseTCP frees the reassembly state of a flow: it goes back to the engine's pool, with its
// detector buffers emptied (and kept, unless large), its out-of-order segments let go. A flow
// whose Flow is not made yet keeps it: its pre is the flow's record so far (finishAt and
// dropFlow let it go).
func (e *Engine) releaseTCP(en *entry) {
	st := en.tcp
	if st == nil || st.pre != nil {
		return
	}
	for i := range st.s {
		e.oooTotal -= int(st.s[i].oooBytes)
	}
	en.tcp = nil
	if len(e.freeTCP) >= maxPooled {
		return
	}
	pend := st.pend
	*st = tcpState{}
	if pend != nil {
		for i, b := range pend {
			if cap(b) > keptPend {
				b = nil
			}
			pend[i] = b[:0]
		}
		st.pend = pend
	}
	e.freeTCP = append(e.freeTCP, st)
}

// keptPend bounds the detector buffer a pooled tcpState keeps for its next flow.
const keptPend = 4 << 10

// getTCP returns empty reassembly state, from the pool when it has one.
func (e *Engine) getTCP() *tcpState {
	if n := len(e.freeTCP); n > 0 {
		st := e.freeTCP[n-1]
		e.freeTCP[n-1] = nil
		e.freeTCP = e.freeTCP[:n-1]
		return st
	}
	return &tcpState{}
}
