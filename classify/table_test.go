package classify

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// Entries whose keys hash alike share one slot of the map: each must still be found by its
// own key, and removing any of them (first, middle, last of the chain) must leave the others.
func TestFlowTableCollisions(t *testing.T) {
	tb := newFlowTable(0)
	const h = 42 // every key below "hashes" to this
	var ens [4]*entry
	for i := range ens {
		ens[i] = &entry{}
		ens[i].key[0] = byte(i + 1)
		tb.putAt(ens[i], h)
	}
	if len(tb.m) != 1 || tb.n != len(ens) {
		t.Fatalf("%d slots, %d entries; want 1 slot holding %d", len(tb.m), tb.n, len(ens))
	}
	find := func(i int) *entry { return tb.getAt(&ens[i].key, h) }
	for i := range ens {
		if find(i) != ens[i] {
			t.Fatalf("key %d does not find its entry", i)
		}
	}
	var other key
	other[0] = 99
	if tb.getAt(&other, h) != nil {
		t.Fatal("a key that was never put is found")
	}
	// Remove from the middle, the head (the last put) and the tail, in turn.
	for _, r := range []int{1, 3, 0} {
		tb.removeAt(ens[r], h)
		if find(r) != nil {
			t.Fatalf("entry %d is still found after its removal", r)
		}
		tb.removeAt(ens[r], h) // twice: no effect
	}
	if find(2) != ens[2] || tb.n != 1 {
		t.Fatalf("after removing three: %d entries, entry 2 found: %v", tb.n, find(2) == ens[2])
	}
	tb.removeAt(ens[2], h)
	if len(tb.m) != 0 || tb.n != 0 {
		t.Fatalf("empty table still holds %d slots, %d entries", len(tb.m), tb.n)
	}
}

// The table against a plain Go map of the keys, under random puts and removes whose hashes
// crowd onto a few hundred chains, while it grows to tens of thousands of entries and drains
// again: every key put and not removed is found, every other is not.
func TestFlowTableAgainstAMap(t *testing.T) {
	tb := newFlowTable(0)
	model := map[int]*entry{}
	r := rand.New(rand.NewPCG(3, 4))
	hashOf := func(i int) uint64 { return uint64(i%97)*7919 + uint64(i%5)*1021 + 1 }
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
			if got := tb.getAt(&probe, hashOf(k)); got != want {
				t.Fatalf("step %d: key %d finds %p, want %p", step, k, got, want)
			}
		}
	}
	for step := 0; step < 200000; step++ {
		k := r.IntN(60000)
		grow := step < 120000
		if en, ok := model[k]; ok && (!grow || r.IntN(3) == 0) {
			tb.removeAt(en, hashOf(k))
			delete(model, k)
		} else if !ok && (grow || r.IntN(4) == 0) {
			en := mk(k)
			tb.putAt(en, hashOf(k))
			model[k] = en
		}
		if step%5000 == 0 {
			check(step)
		}
	}
	check(200000)
	for k, en := range model { // drain the table to 100 entries
		if len(model) <= 100 {
			break
		}
		tb.removeAt(en, hashOf(k))
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
