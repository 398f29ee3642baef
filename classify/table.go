package classify

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
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

// entry is one tracked flow: the Flow the detectors see plus the engine's own state.
//
// f is nil for a flow that will never be reported: one found to be of no known protocol when
// unknown flows are not reported (Config.SkipUnknown). Such a flow is still followed, so its
// later packets do not start a new flow, but only in this small struct; on a SPAN port most
// flows are of that kind.
//
// f is nil too for a TCP flow that has carried no payload yet: its record so far waits in its
// reassembly state (tcpState.pre, a preFlow), and its Flow is made with its first payload.
//
// Every flow has one, so it is kept within the 112-byte size class (TestEntrySize): the words
// first, then the key, then the one-byte fields. What only some flows need lives elsewhere:
// a TCP flow's initial sequence numbers in its reassembly state (tcpState, made at the SYN),
// and the interim records' schedule is worked out from the flow's start (Engine.interim).
type entry struct {
	f          *flow.Open
	prev, next *entry    // in the list of class, oldest first
	hnext      *entry    // the next entry whose key hashes the same (see flowTable)
	tcp        *tcpState // nil until the first TCP segment that needs reassembly
	last       int64     // packet time (Unix ns) of the latest activity

	key key
	// clientIsA: the client is endpoint A of the key.
	clientIsA bool
	class     uint8

	// inspection state
	skip      bool     // no more inspection (done, rejected, unknown, cut)
	claimant  int8     // index of the claiming detector, -1 while undecided
	cands     [6]uint8 // candidate detectors in the order to try (at most 6 detectors)
	ncands    uint8
	undecided uint8 // payloads presented while undecided
	rejected  uint8 // of those, payloads every candidate rejected (soft rejections)
	hinted    bool  // a port of the flow hints at one of the candidates

	closedWhy flow.End // why a flow in classTCPClosed closed (FIN or RST)
	finSeen   [2]bool  // by Dir: a FIN was seen
}

// flowTable maps flow keys to entries. It is a Go map keyed by a 64-bit hash of the key, not
// by the 38-byte key itself: a slot is 16 bytes instead of 48, and lookups take the map's
// fast path for 8-byte keys. The entry holds its full key, which every lookup checks; the
// rare entries whose keys hash alike are chained through entry.hnext. The hash is seeded at
// random for each table, as Go's own maps are, so that crafted packets cannot pile flows onto
// one chain.
type flowTable struct {
	m    map[uint64]*entry
	seed maphash.Seed
	n    int // entries
}

func newFlowTable(size int) flowTable {
	return flowTable{m: make(map[uint64]*entry, size), seed: maphash.MakeSeed()}
}

func (t *flowTable) hash(k *key) uint64 { return maphash.Bytes(t.seed, k[:]) }

// get returns the entry of k, or nil.
func (t *flowTable) get(k *key) *entry { return t.getAt(k, t.hash(k)) }

// put adds en, whose key is not in the table yet.
func (t *flowTable) put(en *entry) { t.putAt(en, t.hash(&en.key)) }

// remove takes en out of the table.
func (t *flowTable) remove(en *entry) { t.removeAt(en, t.hash(&en.key)) }

// getAt, putAt and removeAt do the work for a key whose hash is h.
func (t *flowTable) getAt(k *key, h uint64) *entry {
	for en := t.m[h]; en != nil; en = en.hnext {
		if en.key == *k {
			return en
		}
	}
	return nil
}

func (t *flowTable) putAt(en *entry, h uint64) {
	en.hnext = t.m[h]
	t.m[h] = en
	t.n++
}

func (t *flowTable) removeAt(en *entry, h uint64) {
	head := t.m[h]
	switch {
	case head == nil:
		return
	case head == en && en.hnext == nil:
		delete(t.m, h)
	case head == en:
		t.m[h] = en.hnext
	default:
		p := head
		for p.hnext != nil && p.hnext != en {
			p = p.hnext
		}
		if p.hnext == nil {
			return // not in the table
		}
		p.hnext = en.hnext
	}
	en.hnext = nil
	t.n--
}

// all calls fn for every entry, in no particular order.
func (t *flowTable) all(fn func(*entry)) {
	for _, en := range t.m {
		for ; en != nil; en = en.hnext {
			fn(en)
		}
	}
}

// list is an intrusive doubly linked list of entries, oldest activity first.
type list struct {
	head, tail *entry
	n          int
}

func (l *list) pushBack(e *entry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
	l.n++
}

func (l *list) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
	l.n--
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
