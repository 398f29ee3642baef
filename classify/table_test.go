package classify

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// keyOf is a key that differs from the others by i.
func keyOf(i int) key {
	var k key
	binary.LittleEndian.PutUint64(k[:], uint64(i))
	return k
}

// Entries whose keys fall in one bucket are chained: each must still be found by its own key,
// and removing any of them (first, middle, last of the chain) must leave the others.
func TestFlowTableCollisions(t *testing.T) {
	tb := newFlowTable(0)
	// Four keys in the bucket of key 0, found with the table's own seeded hash.
	k0 := keyOf(0)
	h0 := tb.hash(&k0)
	var ens []*entry
	var refs []ref
	for i := 0; len(ens) < 4; i++ {
		k := keyOf(i)
		if tb.hash(&k)>>tb.shift != h0>>tb.shift {
			continue
		}
		r, en := tb.newEntry()
		en.key = k
		tb.put(r, en)
		ens, refs = append(ens, en), append(refs, r)
	}
	if tb.n != len(ens) || len(tb.buckets) != minBuckets {
		t.Fatalf("%d entries in %d buckets; want %d in %d", tb.n, len(tb.buckets), len(ens), minBuckets)
	}
	chain := 0
	for r := tb.buckets[h0>>tb.shift]; r != 0; r = tb.at(r).hnext {
		chain++
	}
	if chain != len(ens) {
		t.Fatalf("the bucket chains %d entries, want %d", chain, len(ens))
	}
	find := func(i int) *entry { return tb.get(&ens[i].key) }
	for i := range ens {
		if find(i) != ens[i] {
			t.Fatalf("key %d does not find its entry", i)
		}
	}
	other := keyOf(-1)
	if tb.get(&other) != nil {
		t.Fatal("a key that was never put is found")
	}
	// Remove from the middle, the head (the last put) and the tail, in turn.
	for _, i := range []int{1, 3, 0} {
		if r := tb.remove(ens[i]); r != refs[i] {
			t.Fatalf("removing entry %d gives ref %d, want %d", i, r, refs[i])
		}
		if find(i) != nil {
			t.Fatalf("entry %d is still found after its removal", i)
		}
		if r := tb.remove(ens[i]); r != 0 { // twice: no effect
			t.Fatalf("entry %d removed twice", i)
		}
	}
	if find(2) != ens[2] || tb.n != 1 {
		t.Fatalf("after removing three: %d entries, entry 2 found: %v", tb.n, find(2) == ens[2])
	}
	tb.remove(ens[2])
	if tb.n != 0 || slices.ContainsFunc(tb.buckets, func(r ref) bool { return r != 0 }) {
		t.Fatalf("empty table still holds %d entries or a bucket", tb.n)
	}
	// Released entries are reused, cleared, before the slab grows.
	tb.freeEntry(refs[1], ens[1])
	if r, en := tb.newEntry(); r != refs[1] || en != ens[1] || en.key != (key{}) {
		t.Fatalf("newEntry gives ref %d (key %v), want the released %d, cleared", r, en.key[:8], refs[1])
	}
}

// The table against a plain Go map of the keys, under random puts and removes, while it
// grows from 16 buckets to tens of thousands of entries (doubling, rehashing every chain) and
// drains again: every key put and not removed is found, every other is not, and released
// entries are reused.
func TestFlowTableAgainstAMap(t *testing.T) {
	tb := newFlowTable(0)
	model := map[int]*entry{}
	refOf := map[*entry]ref{}
	r := rand.New(rand.NewPCG(3, 4))
	check := func(step int) {
		if tb.n != len(model) {
			t.Fatalf("step %d: %d entries, want %d", step, tb.n, len(model))
		}
		if tb.n > len(tb.buckets) {
			t.Fatalf("step %d: %d entries in %d buckets", step, tb.n, len(tb.buckets))
		}
		for i := 0; i < 200; i++ {
			k := r.IntN(60000)
			probe := keyOf(k)
			if got, want := tb.get(&probe), model[k]; got != want {
				t.Fatalf("step %d: key %d finds %p, want %p", step, k, got, want)
			}
		}
	}
	for step := 0; step < 200000; step++ {
		k := r.IntN(60000)
		grow := step < 120000
		if en, ok := model[k]; ok && (!grow || r.IntN(3) == 0) {
			ref := tb.remove(en)
			if ref != refOf[en] {
				t.Fatalf("step %d: removing key %d gives ref %d, want %d", step, k, ref, refOf[en])
			}
			tb.freeEntry(ref, en)
			delete(model, k)
		} else if !ok && (grow || r.IntN(4) == 0) {
			ref, en := tb.newEntry()
			en.key = keyOf(k)
			tb.put(ref, en)
			model[k], refOf[en] = en, ref
		}
		if step%5000 == 0 {
			check(step)
		}
	}
	check(200000)
	if peak := int(tb.top) - 1; peak > len(refOf) || len(refOf) > 60000 {
		t.Fatalf("the slab handed out %d entries for %d distinct ones", peak, len(refOf))
	}
	for k, en := range model { // drain the table to 100 entries
		if len(model) <= 100 {
			break
		}
		tb.freeEntry(tb.remove(en), en)
		delete(model, k)
	}
	check(200001)
	n := 0
	tb.all(func(en *entry) {
		if model[int(binary.LittleEndian.Uint64(en.key[:]))] != en {
			t.Fatalf("all: an entry that is not in the model")
		}
		n++
	})
	if n != len(model) {
		t.Fatalf("all: %d entries of %d", n, len(model))
	}
}

// The table's hash is seeded per table: two engines do not put the same key in the same slot,
// so packets crafted against one run cannot force collisions in another.
func TestFlowTableSeeded(t *testing.T) {
	var k key
	k[5] = 7
	a, b := newFlowTable(0), newFlowTable(0)
	same := 0
	for i := 0; i < 8; i++ {
		k[0] = byte(i)
		if a.hash(&k) == b.hash(&k) {
			same++
		}
	}
	if same == 8 {
		t.Fatal("two tables hash every key alike: the hash is not seeded")
	}
}

// A Parallel sends a flow to worker hash%workers and its table shares that hash: the flows a
// worker of two holds all have even hashes (or all odd ones), and they must still spread over
// all its buckets, not the half a low-bit index would leave them. At one flow per bucket a
// random spread fills 1-1/e (63 %) of the buckets; half of them at most would be filled if the
// bucket were the low bits.
func TestFlowTableSpreadsAWorkersShare(t *testing.T) {
	tb := newFlowTable(0)
	for i := 0; tb.n < 4096; i++ {
		k := keyOf(i)
		if tb.hash(&k)%2 != 0 { // another worker's
			continue
		}
		r, en := tb.newEntry()
		en.key = k
		tb.put(r, en)
	}
	used := 0
	for _, r := range tb.buckets {
		if r != 0 {
			used++
		}
	}
	if f := float64(used) / float64(len(tb.buckets)); f < 0.58 {
		t.Fatalf("%d flows fill %d of %d buckets (%.0f %%), want about 63 %%", tb.n, used, len(tb.buckets), 100*f)
	}
}

// The lists find an entry's ref from its neighbours: unlinking the head, a middle entry, the
// tail and the only entry each gives the entry's own ref and leaves the others in order.
func TestListUnlinkFindsTheRef(t *testing.T) {
	tb := newFlowTable(0)
	var l list
	var refs []ref
	var ens []*entry
	for i := 0; i < 5; i++ {
		r, en := tb.newEntry()
		en.key = keyOf(i)
		tb.pushBack(&l, r, en)
		refs, ens = append(refs, r), append(ens, en)
	}
	order := func() (out []int) {
		for r := l.head; r != 0; r = tb.at(r).next {
			out = append(out, int(binary.LittleEndian.Uint64(tb.at(r).key[:])))
		}
		return out
	}
	for _, step := range []struct {
		i    int
		want []int
	}{{2, []int{0, 1, 3, 4}}, {0, []int{1, 3, 4}}, {4, []int{1, 3}}, {1, []int{3}}, {3, nil}} {
		if r := tb.unlink(&l, ens[step.i]); r != refs[step.i] {
			t.Fatalf("unlinking entry %d gives ref %d, want %d", step.i, r, refs[step.i])
		}
		if got := order(); !slices.Equal(got, step.want) {
			t.Fatalf("after unlinking %d the list is %v, want %v", step.i, got, step.want)
		}
	}
	if l.head != 0 || l.tail != 0 {
		t.Fatalf("an empty list has head %d, tail %d", l.head, l.tail)
	}
	// move to the back of the same list, and to another list.
	var o list
	for i := 0; i < 3; i++ {
		tb.pushBack(&l, refs[i], ens[i])
	}
	tb.move(&l, &l, ens[0])
	tb.move(&l, &o, ens[2])
	if got := order(); !slices.Equal(got, []int{1, 0}) || o.head != refs[2] || o.tail != refs[2] {
		t.Fatalf("after the moves the list is %v and the other holds %d..%d", got, o.head, o.tail)
	}
}

// The candidates packed in one word behave as the list they stand for: appended in order,
// and any one taken out leaving the others in their order.
func TestCandsArePackedInOrder(t *testing.T) {
	for n := 0; n <= maxCands; n++ {
		for rm := 0; rm < n; rm++ {
			var c cands
			var want []uint8
			for i := 0; i < n; i++ {
				d := uint8(15 - 2*i) // high indices: bits that spill would show
				c.add(d)
				want = append(want, d)
			}
			c.remove(rm)
			want = slices.Delete(want, rm, rm+1)
			var got []uint8
			for i := 0; i < c.len(); i++ {
				got = append(got, c.at(i))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%d candidates, removing #%d: %v, want %v", n, rm, got, want)
			}
		}
	}
}

// After a burst of flows has drained, the table gives the memory back: the flows left move to
// a slab and a bucket array sized for them, each keeps its counters and its place in the
// order of expiry, and none of them is taken for a new flow.
func TestTableGivesBackAFloodsMemory(t *testing.T) {
	h := newHarness(t, Config{MaxFlows: 1 << 20, UDPTimeout: time.Minute})
	U := uint8(decode.ProtoUDP)
	client := func(net byte, i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, net, byte(i >> 8), byte(i)}), 40000)
	}
	const keep, flood = 100, 50000
	for i := 0; i < keep; i++ {
		h.send(pkt(client(1, i), srv, U, 0, 0, 0, "a"), time.Microsecond)
	}
	for i := 0; i < flood; i++ {
		h.send(pkt(client(2+byte(i>>16), i), srv, U, 0, 0, 0, "x"), time.Microsecond)
	}
	peakSlab := len(h.e.flows.slab)
	// The flows kept alive are touched again in the reverse order: that is their order of expiry.
	h.now = t0.Add(30 * time.Second)
	for i := keep - 1; i >= 0; i-- {
		h.send(pkt(client(1, i), srv, U, 0, 0, 0, "b"), time.Millisecond)
	}
	h.e.Advance(t0.Add(75 * time.Second)) // the flood expires
	if len(h.recs) != flood || h.e.Flows() != keep {
		t.Fatalf("%d records and %d flows open after the flood expired, want %d and %d", len(h.recs), h.e.Flows(), flood, keep)
	}
	if got := len(h.e.flows.slab); got > 1 || len(h.e.flows.buckets) > 256 {
		t.Fatalf("%d flows left hold %d slab chunks (%d at the peak) and %d buckets, want 1 and at most 256",
			keep, got, peakSlab, len(h.e.flows.buckets))
	}
	h.recs = nil
	h.e.Advance(t0.Add(200 * time.Second))
	if len(h.recs) != keep || h.e.Stats().Flows != keep+flood {
		t.Fatalf("%d records of the flows kept, %d flows created; want %d, %d", len(h.recs), h.e.Stats().Flows, keep, keep+flood)
	}
	for j, r := range h.recs {
		if want := client(1, keep-1-j); r.Client != want || r.Packets[0] != 2 || r.EndReason != flow.EndIdle {
			t.Fatalf("record %d: client %v, %d packets, %v; want %v, 2 packets, idle", j, r.Client, r.Packets[0], r.EndReason, want)
		}
	}
}

// A presized table (Config.PresizeTable, as the live sensor sets it) makes its index for
// MaxFlows at the start and never doubles it nor shrinks it: a doubling stops the worker while
// every flow is put in its bucket again. Without it the index grows with the flows and shrinks
// once they have drained.
func TestPresizedTableKeepsItsIndex(t *testing.T) {
	const maxFlows = 4096
	for _, presize := range []bool{true, false} {
		h := newHarness(t, Config{MaxFlows: maxFlows, PresizeTable: presize, UDPTimeout: time.Minute})
		start := len(h.e.flows.buckets)
		most := start
		for i := range 3 * maxFlows { // more flows than the table holds: the oldest are evicted
			from := netip.AddrPortFrom(cli.Addr(), uint16(1024+i))
			h.send(pkt(from, srv, uint8(decode.ProtoUDP), 0, 0, 0, "x"), time.Microsecond)
			most = max(most, len(h.e.flows.buckets))
		}
		if h.e.Flows() > maxFlows {
			t.Fatalf("presize %v: %d flows in a table of %d", presize, h.e.Flows(), maxFlows)
		}
		// Every flow idles out: the table drains and compacts.
		h.send(pkt(cli, srv, uint8(decode.ProtoUDP), 0, 0, 0, "x"), 2*time.Minute)
		end := len(h.e.flows.buckets)
		if presize {
			if start < maxFlows || most != start || end != start {
				t.Errorf("presized: %d buckets at the start, %d at most, %d after the drain; want at least %d, never changed",
					start, most, end, maxFlows)
			}
		} else if most < maxFlows || end >= most {
			t.Errorf("grown: %d buckets at the start, %d at most, %d after the drain; want it to grow to %d and shrink",
				start, most, end, maxFlows)
		}
	}
}

// A presized table's index is bounded whatever MaxFlows says: a mistaken --max-flows of two
// billion must not take gigabytes before the first packet.
func TestPresizedIndexIsBounded(t *testing.T) {
	e := New(Config{MaxFlows: maxEntries, PresizeTable: true}, func(*flow.Record) {})
	if n := len(e.flows.buckets); n > maxPresized {
		t.Errorf("a presized table for %d flows made %d buckets, want at most %d", maxEntries, n, maxPresized)
	}
}
