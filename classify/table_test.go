package classify

import "testing"

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
