package classify

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math"
	"net/netip"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// key identifies a flow in both directions: the two endpoints in canonical order (lower
// address/port first), the transport, and the tunnel the packets came out of
// (decode.Packet.TunnelID, 0 outside tunnels), so that the same inner 5-tuple in two tunnels
// (two VPCs reusing 10.0.0.0/8) is two flows. It is a plain byte array so the map hashes it as
// memory, with no pointers for the garbage collector to follow.
//
// Layout: [0:16] address A, [16:32] address B, [32:34] port A, [34:36] port B, [36] proto,
// [37] IPv4 flag, [38:46] tunnel identity.
type key [46]byte

// makeKey builds the canonical key of p and reports whether p's source is endpoint A.
func makeKey(p *decode.Packet) (k key, srcIsA bool) {
	c := bytes.Compare(p.Src[:], p.Dst[:])
	srcIsA = c < 0 || (c == 0 && p.SrcPort <= p.DstPort)
	a, b := &p.Src, &p.Dst
	pa, pb := p.SrcPort, p.DstPort
	if !srcIsA {
		a, b = b, a
		pa, pb = pb, pa
	}
	copy(k[0:16], a[:])
	copy(k[16:32], b[:])
	k[32], k[33] = byte(pa>>8), byte(pa)
	k[34], k[35] = byte(pb>>8), byte(pb)
	k[36] = p.Proto
	if p.IPv4 {
		k[37] = 1
	}
	if p.NTunnels > 0 {
		binary.LittleEndian.PutUint64(k[38:], p.TunnelID())
	}
	return k, srcIsA
}

// arrival returns how p arrived as a Record says it: its VLAN ids and its tunnel layers, with
// each layer's Source on the client's side (fromClient says p was sent by the client). It
// allocates the tunnel list, once per tunnelled flow.
func arrival(p *decode.Packet, fromClient bool) (vlan [2]uint16, nvlan uint8, tun *flow.Tunnels) {
	vlan, nvlan = p.VLAN, p.NVLAN
	if p.NTunnels == 0 {
		return
	}
	tun = &flow.Tunnels{Layers: make([]flow.Tunnel, p.NTunnels)}
	for i := range tun.Layers {
		l := &p.Tunnels[i]
		t := &tun.Layers[i]
		t.Type = l.Type.String()
		t.ID, t.HasID = l.ID, l.HasID
		t.VLAN, t.HasVLAN = l.VLAN, l.HasVLAN
		if l.HasAddr {
			t.Source, t.Destination = netip.AddrFrom16(l.Src), netip.AddrFrom16(l.Dst)
			if l.IPv4 {
				t.Source, t.Destination = t.Source.Unmap(), t.Destination.Unmap()
			}
			if !fromClient {
				t.Source, t.Destination = t.Destination, t.Source
			}
		}
	}
	return
}

// port returns the port of endpoint B of the key when b, else of endpoint A.
func (k *key) port(b bool) uint16 {
	if b {
		return uint16(k[34])<<8 | uint16(k[35])
	}
	return uint16(k[32])<<8 | uint16(k[33])
}

func (k *key) addrPort(b bool) netip.AddrPort {
	off := 0
	if b {
		off = 16
	}
	var a16 [16]byte
	copy(a16[:], k[off:off+16])
	addr := netip.AddrFrom16(a16)
	if k[37] == 1 {
		addr = addr.Unmap()
	}
	return netip.AddrPortFrom(addr, k.port(b))
}

// timeout classes: each has its own idle timeout and its own list ordered by last activity,
// so expiry only ever looks at list fronts.
const (
	classTCP = iota
	classTCPClosed
	classUDP
	// classAnswered+label: a UDP flow of that label whose exchange is complete (its linger,
	// Config.UDPAnswered, is the class's timeout).
	classAnswered
	numClasses = classAnswered + int(flow.NumLabels)
)

// entry is one tracked flow: the Open the detectors fill in plus the engine's own state.
//
// f is nil for a flow that will never be reported: one found to be of no known protocol when
// unknown flows are not reported (Config.SkipUnknown). Such a flow is still followed, so its
// later packets do not start a new flow, but only in this small struct; on a SPAN port most
// flows are of that kind.
//
// f is nil too for a TCP flow that has carried no payload yet: its record so far waits in its
// reassembly state (tcpState.pre, a preFlow), and its Open is made with its first payload.
//
// Every flow has one, so it is kept within 96 bytes (TestEntrySize): the words first, then
// the links to other entries (refs: 4 bytes each, the table's slab index), then the key and
// the one-byte fields, and the candidates packed in one word. An entry does not hold its own
// ref: the table finds it from its neighbours when it needs it (flowTable.unlink). What only
// some flows need lives elsewhere: a TCP flow's initial sequence numbers in its reassembly
// state (tcpState, made at the SYN), and the interim records' schedule is worked out from the
// flow's start (Engine.interim).
type entry struct {
	f    *flow.Open
	tcp  *tcpState // nil until the first TCP segment that needs reassembly
	last int64     // packet time (Unix ns) of the latest activity

	prev, next ref // in the list of class, oldest first
	hnext      ref // the next entry in the same bucket (see flowTable), or in the free chain

	key key
	// clientIsA: the client is endpoint A of the key.
	clientIsA bool
	class     uint8

	// inspection state
	skip      bool // no more inspection (done, rejected, unknown, cut)
	claimant  int8 // index of the claiming detector, -1 while undecided
	undecided uint8
	rejected  uint8 // of those, payloads every candidate rejected (soft rejections)
	hinted    bool  // a port of the flow hints at one of the candidates

	closedWhy flow.End // why a flow in classTCPClosed closed (FIN or RST)
	finSeen   [2]bool  // by Dir: a FIN was seen

	cands cands // candidate detectors in the order to try
}

// cands is the list of the candidate detectors of an undecided flow, in the order to try
// them, packed in one word: 4 bits per detector index (at most maxCands), and the count in the
// top 4 bits.
type cands uint32

// maxCands is the most detectors an entry keeps as candidates (Config.Detectors).
const maxCands = 6

// len returns the number of candidates.
func (c cands) len() int { return int(c >> 28) }

// at returns candidate i (< c.len()).
func (c cands) at(i int) uint8 { return uint8(c>>(4*i)) & 0xf }

// add appends detector index d (< 16) to a list of fewer than maxCands.
func (c *cands) add(d uint8) {
	n := c.len()
	*c = cands(uint32(*c)&(1<<(4*n)-1) | uint32(d)<<(4*n) | uint32(n+1)<<28)
}

// remove takes candidate i out, keeping the order of the others.
func (c *cands) remove(i int) {
	n := c.len()
	low := uint32(*c) & (1<<(4*i) - 1)
	high := uint32(*c) >> (4 * (i + 1)) & (1<<(4*(n-1-i)) - 1)
	*c = cands(low | high<<(4*i) | uint32(n-1)<<28)
}

// ref names an entry of a flowTable: its index in the table's slab, 0 for none.
type ref uint32

// The slab holds entries in chunks of slabChunk, so that an entry's address never changes.
const (
	slabBits  = 10
	slabChunk = 1 << slabBits // 96 KiB of entries: whole pages, no allocation header
	// maxEntries is the most entries a table holds (Config.MaxFlows is at most this).
	maxEntries = math.MaxInt32
	// minBuckets is the size of a table's bucket array when it is made.
	minBuckets = 16
	// minSlab is the number of chunks below which the slab is not compacted.
	minSlab = 4
)

// flowTable holds the entries of the open flows and finds them by key. It is a hash table of
// its own rather than a Go map: a power-of-two array of buckets, each the ref of the first
// entry of a chain linked through entry.hnext. A bucket is 4 bytes, and the table doubles when
// it holds more entries than buckets, so the index costs 4 to 8 bytes per flow (a map of 8-byte
// hashes to pointers cost about 30), and a lookup is the bucket and the entry, nothing more.
//
// The bucket is the top bits of a 64-bit hash of the key. The hash is seeded at random for
// each table, as Go's own maps are, so that crafted packets cannot pile flows onto one chain;
// a Parallel gives its workers' tables the seed of its dispatch hash (a worker then receives
// the hash with each packet), and picks the worker from the hash's low bits, which is why the
// bucket is taken from the high ones: every bucket of a worker's table gets its share.
//
// The entries live in a slab of fixed chunks, named by refs, so that the links cost 4 bytes
// rather than 8; released entries are chained through hnext for reuse. When a burst of flows
// has drained, the entries left move to a smaller slab and fewer buckets (compact).
type flowTable struct {
	buckets []ref
	shift   uint8 // 64 - log2(len(buckets)): the bucket of hash h is h>>shift
	least   int   // compact leaves at least this many buckets (minBuckets, or all of a presized table's)
	seed    maphash.Seed
	n       int // entries in the table

	slab []*[slabChunk]entry
	top  ref // the next ref never handed out
	free ref // the first released entry, chained through hnext
}

func newFlowTable(size int) flowTable {
	t := flowTable{seed: maphash.MakeSeed(), top: 1, least: minBuckets}
	t.resize(max(minBuckets, size), 0)
	return t
}

// resize makes the bucket array of the smallest power of two at least size and puts every
// entry of the slab but the released ones and skip in its bucket again (hashing its key once
// more): every other entry of the slab must be in the table.
func (t *flowTable) resize(size int, skip ref) {
	bits := 0
	for 1<<bits < size {
		bits++
	}
	t.buckets = make([]ref, 1<<bits)
	t.shift = uint8(64 - bits)
	// The slab in order, not the chains: the entries are read one after the other.
	for r := ref(1); r < t.top; r++ {
		if en := t.at(r); en.class != freeClass && r != skip {
			i := t.hash(&en.key) >> t.shift
			en.hnext = t.buckets[i]
			t.buckets[i] = r
		}
	}
}

func (t *flowTable) hash(k *key) uint64 { return maphash.Bytes(t.seed, k[:]) }

// at returns the entry r names (r != 0).
func (t *flowTable) at(r ref) *entry { return &t.slab[r>>slabBits][r&(slabChunk-1)] }

// freeClass marks a released entry in the slab (entry.class).
const freeClass = 0xff

// newEntry returns a zero entry from the slab, not yet in the table, and its ref.
func (t *flowTable) newEntry() (ref, *entry) {
	if r := t.free; r != 0 {
		en := t.at(r)
		t.free, en.hnext, en.class = en.hnext, 0, 0
		return r, en
	}
	r := t.top
	if int(r>>slabBits) == len(t.slab) {
		t.slab = append(t.slab, new([slabChunk]entry))
	}
	t.top++
	return r, t.at(r)
}

// freeEntry clears en, named r and no longer in the table, and keeps it for newEntry.
func (t *flowTable) freeEntry(r ref, en *entry) {
	*en = entry{hnext: t.free, class: freeClass}
	t.free = r
}

// compact moves the entries to a new slab just large enough for them, once they fill less
// than a quarter of the slab (a burst of flows has drained), so that the memory the burst took
// goes back; lists are the lists that hold every entry of the table, which keep their order.
// The buckets are made again for the entries left. Refs and entry addresses change: no entry
// may be held across a call. The cost is that of a pass over the entries left, paid after at
// least three times as many have gone.
func (t *flowTable) compact(lists []list) {
	if len(t.slab) <= minSlab || len(t.slab)*slabChunk < 4*t.n {
		return
	}
	old := t.slab
	at := func(r ref) *entry { return &old[r>>slabBits][r&(slabChunk-1)] }
	t.slab, t.top, t.free = make([]*[slabChunk]entry, 0, t.n/slabChunk+1), 1, 0
	for i := range lists {
		l := &lists[i]
		var moved list
		for r := l.head; r != 0; {
			en := at(r)
			nr, ne := t.newEntry()
			*ne = *en
			t.pushBack(&moved, nr, ne)
			r = en.next
		}
		*l = moved
	}
	t.resize(max(t.least, 2*t.n), 0)
}

// get returns the entry of k, or nil.
func (t *flowTable) get(k *key) *entry { return t.getAt(k, t.hash(k)) }

// put adds en, named r, whose key is not in the table yet.
func (t *flowTable) put(r ref, en *entry) { t.putAt(r, en, t.hash(&en.key)) }

// remove takes en out of the table and returns its ref (0 if it was not in the table).
func (t *flowTable) remove(en *entry) ref { return t.removeAt(en, t.hash(&en.key)) }

// getAt, putAt and removeAt do the work for a key whose hash is h.
func (t *flowTable) getAt(k *key, h uint64) *entry {
	for r := t.buckets[h>>t.shift]; r != 0; {
		en := t.at(r)
		if en.key == *k {
			return en
		}
		r = en.hnext
	}
	return nil
}

func (t *flowTable) putAt(r ref, en *entry, h uint64) {
	if t.n >= len(t.buckets) {
		t.resize(2*len(t.buckets), r) // r is not in the table yet
	}
	b := &t.buckets[h>>t.shift]
	en.hnext = *b
	*b = r
	t.n++
}

func (t *flowTable) removeAt(en *entry, h uint64) ref {
	p := &t.buckets[h>>t.shift]
	for *p != 0 {
		r := *p
		cur := t.at(r)
		if cur == en {
			*p = en.hnext
			en.hnext = 0
			t.n--
			return r
		}
		p = &cur.hnext
	}
	return 0 // not in the table
}

// all calls fn for every entry, in no particular order. fn must not add or remove entries.
func (t *flowTable) all(fn func(*entry)) {
	for _, r := range t.buckets {
		for r != 0 {
			en := t.at(r)
			fn(en)
			r = en.hnext
		}
	}
}

// list is an intrusive doubly linked list of a table's entries, oldest activity first.
type list struct{ head, tail ref }

// pushBack appends en, named r, to l.
func (t *flowTable) pushBack(l *list, r ref, en *entry) {
	en.prev, en.next = l.tail, 0
	if l.tail != 0 {
		t.at(l.tail).next = r
	} else {
		l.head = r
	}
	l.tail = r
}

// unlink takes en out of l, which holds it, and returns its ref.
func (t *flowTable) unlink(l *list, en *entry) ref {
	var r ref
	if en.prev != 0 {
		p := t.at(en.prev)
		r, p.next = p.next, en.next
	} else {
		r, l.head = l.head, en.next
	}
	if en.next != 0 {
		t.at(en.next).prev = en.prev
	} else {
		l.tail = en.prev
	}
	en.prev, en.next = 0, 0
	return r
}

// move takes en out of from and appends it to to (which may be from).
func (t *flowTable) move(from, to *list, en *entry) { t.pushBack(to, t.unlink(from, en), en) }

// front returns the oldest entry of l, or nil.
func (t *flowTable) front(l *list) *entry {
	if l.head == 0 {
		return nil
	}
	return t.at(l.head)
}

// FlowKey is the identity the engine gives a flow, the same for both directions: what a
// second pass over a capture compares to find again the packets of a flow the engine
// reported (see KeyOf). It is comparable and holds no pointer.
type FlowKey struct{ k key }

// KeyOf is the key of the flow p belongs to, as the engine computes it.
func KeyOf(p *decode.Packet) FlowKey {
	k, _ := makeKey(p)
	return FlowKey{k}
}
