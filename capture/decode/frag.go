package decode

import "time"

// IP fragment reassembly, for IPv4 and IPv6 alike, within fixed bounds:
//
//   - at most Config.FragDatagrams datagrams at once; a new one evicts the oldest;
//   - at most Config.FragPerDatagram fragments per datagram; one more drops the datagram;
//   - a datagram is dropped Config.FragTimeout (packet time) after its first fragment;
//   - a payload ends at or before MaxDatagram bytes; a fragment beyond is refused;
//   - the buffers together hold at most Config.FragMemory bytes; the oldest datagrams are
//     evicted to make room.
//
// Overlaps: the first data wins. A fragment overlapping any byte already held is refused whole
// (counted in FragOverlap and FragRejected, status Malformed); the datagram completes only if
// other fragments fill the gap, else it expires. This also refuses exact duplicates, and defeats
// the overlap tricks (teardrop, first/last-wins evasion) by never letting later bytes replace
// earlier ones.
//
// Buffers and fragment lists belong to table slots and are kept when a slot is reused, so the
// steady state does not allocate. The datagram delivered by one Decode call stays untouched until
// the next call.

type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	v6       bool
	tunnel   uint64 // Packet.TunnelID of the tunnel the fragment came out of
}

type span struct{ lo, hi int32 }

type datagram struct {
	key        fragKey
	first      int64 // packet time of the first fragment seen, ns
	buf        []byte
	spans      []span
	total      int // payload length once the last fragment is seen, else -1
	have       int // payload bytes held
	hdr        int // header bytes before the payload, from the fragment at offset 0
	prev, next int32
}

type reassembler struct {
	cfg     Config
	slots   []datagram
	index   map[fragKey]int32
	free    []int32 // idle slots
	head    int32   // oldest live datagram, -1 if none
	tail    int32   // newest
	bytes   int     // capacity of all slot buffers
	pending int32   // slot delivered by the last Decode, released at the next; -1 if none
}

func (r *reassembler) init() {
	n := r.cfg.FragDatagrams
	r.slots = make([]datagram, n)
	r.index = make(map[fragKey]int32, n)
	r.free = make([]int32, n)
	for i := range r.free {
		r.free[i] = int32(n - 1 - i)
	}
	r.head, r.tail = -1, -1
	r.pending = -1
}

// release returns the slot delivered by the previous Decode to the idle list.
func (r *reassembler) release() {
	r.free = append(r.free, r.pending)
	r.pending = -1
}

func (r *reassembler) unlink(i int32) {
	dg := &r.slots[i]
	if dg.prev >= 0 {
		r.slots[dg.prev].next = dg.next
	} else {
		r.head = dg.next
	}
	if dg.next >= 0 {
		r.slots[dg.next].prev = dg.prev
	} else {
		r.tail = dg.prev
	}
	delete(r.index, dg.key)
}

// drop discards a live datagram, counting its fragments as lost.
func (r *reassembler) drop(s *Stats, i int32) {
	r.unlink(i)
	s.FragLost += uint64(len(r.slots[i].spans))
	r.free = append(r.free, i)
}

// add files one fragment carrying data at byte offset off of the datagram k; more is the
// more-fragments flag, hdr the header bytes in front of the payload. It returns OK with the whole
// payload and the header length of the first fragment when this fragment completes the datagram,
// Fragment when it is held, and Malformed when it is refused.
func (r *reassembler) add(s *Stats, k *fragKey, ts time.Time, off int, more bool, data []byte, hdr int) ([]byte, int, Status) {
	if r.slots == nil {
		r.init()
	}
	end := off + len(data)
	if len(data) == 0 || end > MaxDatagram || (more && len(data)%8 != 0) {
		s.FragRejected++
		return nil, 0, Malformed
	}
	now := ts.UnixNano()
	timeout := int64(r.cfg.FragTimeout)
	for r.head >= 0 && now-r.slots[r.head].first > timeout {
		s.FragExpired++
		r.drop(s, r.head)
	}

	i, ok := r.index[*k]
	if !ok {
		if len(r.free) == 0 {
			if r.head < 0 { // every slot is held by a datagram delivered in this call
				s.FragRejected++
				return nil, 0, Malformed
			}
			s.FragEvicted++
			r.drop(s, r.head)
		}
		i = r.free[len(r.free)-1]
		r.free = r.free[:len(r.free)-1]
		dg := &r.slots[i]
		dg.key = *k
		dg.first = now
		dg.spans = dg.spans[:0]
		dg.total, dg.have, dg.hdr = -1, 0, 0
		dg.prev, dg.next = r.tail, -1
		if r.tail >= 0 {
			r.slots[r.tail].next = i
		} else {
			r.head = i
		}
		r.tail = i
		r.index[*k] = i
	}
	dg := &r.slots[i]

	if len(dg.spans) == r.cfg.FragPerDatagram {
		s.FragRejected++
		s.FragEvicted++
		r.drop(s, i)
		return nil, 0, Malformed
	}
	// The last fragment fixes the length; nothing may end past it, and it may not move.
	if !more {
		if (dg.total >= 0 && dg.total != end) || end < maxEnd(dg.spans) {
			s.FragRejected++
			return nil, 0, Malformed
		}
	} else if dg.total >= 0 && end > dg.total {
		s.FragRejected++
		return nil, 0, Malformed
	}
	for _, sp := range dg.spans {
		if int32(off) < sp.hi && int32(end) > sp.lo {
			s.FragRejected++
			s.FragOverlap++
			return nil, 0, Malformed
		}
	}

	if cap(dg.buf) < end {
		if !r.grow(s, i, end) {
			return nil, 0, Malformed
		}
		dg = &r.slots[i]
	}
	dg.buf = dg.buf[:cap(dg.buf)]
	copy(dg.buf[off:end], data)
	if dg.spans == nil {
		dg.spans = make([]span, 0, r.cfg.FragPerDatagram)
	}
	dg.spans = append(dg.spans, span{int32(off), int32(end)})
	dg.have += len(data)
	if !more {
		dg.total = end
	}
	if off == 0 {
		dg.hdr = hdr
	}
	if dg.total < 0 || dg.have != dg.total {
		return nil, 0, Fragment
	}
	// Complete: the spans do not overlap and add up to the total, so they cover it.
	s.FragReassembled++
	r.unlink(i)
	if r.pending >= 0 {
		// A datagram completed earlier in this call (the outer packet of a tunnel) held the
		// fragment just copied into this one: its slot can go back.
		r.release()
	}
	r.pending = i
	return dg.buf[:dg.total], dg.hdr, OK
}

func maxEnd(sp []span) int {
	m := int32(0)
	for _, s := range sp {
		if s.hi > m {
			m = s.hi
		}
	}
	return int(m)
}

// grow gives slot i a buffer of at least n bytes within the memory bound, reclaiming idle
// buffers first and then evicting the oldest datagrams.
func (r *reassembler) grow(s *Stats, i int32, n int) bool {
	dg := &r.slots[i]
	size := 2 * cap(dg.buf)
	if size < 2048 {
		size = 2048
	}
	for size < n {
		size *= 2
	}
	if size > MaxDatagram {
		size = MaxDatagram
	}
	need := size - cap(dg.buf)
	for j := len(r.free) - 1; j >= 0 && r.bytes+need > r.cfg.FragMemory; j-- {
		f := &r.slots[r.free[j]]
		r.bytes -= cap(f.buf)
		f.buf = nil
	}
	for r.bytes+need > r.cfg.FragMemory && r.head >= 0 {
		if r.head == i {
			if r.slots[i].next < 0 {
				break
			}
			// never evict the datagram being grown; take the next oldest
			v := r.slots[i].next
			s.FragEvicted++
			r.drop(s, v)
			r.bytes -= cap(r.slots[v].buf)
			r.slots[v].buf = nil
			continue
		}
		v := r.head
		s.FragEvicted++
		r.drop(s, v)
		r.bytes -= cap(r.slots[v].buf)
		r.slots[v].buf = nil
	}
	if r.bytes+need > r.cfg.FragMemory {
		s.FragRejected++
		return false
	}
	nb := make([]byte, size)
	copy(nb, dg.buf[:cap(dg.buf)])
	r.bytes += need
	dg.buf = nb
	return true
}
