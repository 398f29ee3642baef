package classify

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// Entries whose keys hash alike share one run of slots: each must still be found by its own
// key, and removing any of them (first, middle, last of the run) must leave the others.
func TestFlowTableCollisions(t *testing.T) {
	tb := newFlowTable(0)
	const h = minSlots - 2 // every key below "hashes" to this: the run wraps past the end
	var ens [4]*entry
	for i := range ens {
		ens[i] = &entry{}
		ens[i].key[0] = byte(i + 1)
		tb.putH(ens[i], h)
	}
	if tb.n != len(ens) {
		t.Fatalf("%d entries; want %d", tb.n, len(ens))
	}
	find := func(i int) *entry { return tb.getH(&ens[i].key, h) }
	for i := range ens {
		if find(i) != ens[i] {
			t.Fatalf("key %d does not find its entry", i)
		}
	}
	var other key
	other[0] = 99
	if tb.getH(&other, h) != nil {
		t.Fatal("a key that was never put is found")
	}
	// Remove from the middle, the head and the tail, in turn.
	for _, r := range []int{1, 0, 3} {
		tb.removeH(ens[r], h)
		if find(r) != nil {
			t.Fatalf("entry %d is still found after its removal", r)
		}
		tb.removeH(ens[r], h) // twice: no effect
	}
	if find(2) != ens[2] || tb.n != 1 {
		t.Fatalf("after removing three: %d entries, entry 2 found: %v", tb.n, find(2) == ens[2])
	}
	tb.removeH(ens[2], h)
	for i, s := range tb.slots {
		if s.h != 0 || s.en != nil {
			t.Fatalf("empty table still holds slot %d", i)
		}
	}
	if tb.n != 0 {
		t.Fatalf("empty table counts %d entries", tb.n)
	}
}

// The table against a Go map, under random puts and removes whose hashes crowd into a few
// runs (some wrapping past the end of the table), while it grows to tens of thousands of
// entries and drains again: every key put and not removed is found, every other is not, and
// the drained table has shrunk.
func TestFlowTableAgainstAMap(t *testing.T) {
	tb := newFlowTable(0)
	model := map[int]*entry{}
	r := rand.New(rand.NewPCG(3, 4))
	hashOf := func(i int) uint64 { return uint64(i%97)*7919 + uint64(i%5)*uint64(minSlots-3) + 1 }
	mk := func(i int) *entry {
		en := &entry{}
		binary.LittleEndian.PutUint64(en.key[:], uint64(i))
		return en
	}
	check := func(step int) {
		if tb.n != len(model) {
			t.Fatalf("step %d: %d entries, want %d", step, tb.n, len(model))
		}
		for i := 0; i < 200; i++ {
			k := r.IntN(60000)
			want := model[k]
			var probe key
			binary.LittleEndian.PutUint64(probe[:], uint64(k))
			if got := tb.getH(&probe, hashOf(k)); got != want {
				t.Fatalf("step %d: key %d finds %p, want %p", step, k, got, want)
			}
		}
	}
	for step := 0; step < 200000; step++ {
		k := r.IntN(60000)
		grow := step < 120000
		if en, ok := model[k]; ok && (!grow || r.IntN(3) == 0) {
			tb.removeH(en, hashOf(k))
			delete(model, k)
		} else if !ok && (grow || r.IntN(4) == 0) {
			en := mk(k)
			tb.putH(en, hashOf(k))
			model[k] = en
		}
		if step%5000 == 0 {
			check(step)
		}
	}
	check(200000)
	peak := len(tb.slots)
	for k, en := range model { // drain the table to 100 entries
		if len(model) <= 100 {
			break
		}
		tb.removeH(en, hashOf(k))
		delete(model, k)
	}
	check(200001)
	t.Logf("%d slots at the peak, %d for the %d entries left", peak, len(tb.slots), len(model))
	n := 0
	tb.all(func(en *entry) {
		if model[int(binary.LittleEndian.Uint64(en.key[:]))] != en {
			t.Fatalf("all: an entry that is not in the model")
		}
		n++
	})
	if n != len(model) || len(tb.slots) > 8*max(len(model), minSlots/8) {
		t.Fatalf("all: %d entries of %d; %d slots for them", n, len(model), len(tb.slots))
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
