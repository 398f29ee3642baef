package ldap

import (
	"hash/maphash"
	"sync/atomic"
)

// internSlots is the number of values the table of shared strings holds (a power of two).
const internSlots = 1024

// interned is the table of the bind DNs, search bases and uncommon attribute names seen
// again and again across flows (a service account's DN, the directory's base): a flow that
// repeats one takes the shared string instead of allocating its own. It is bounded (one value
// per slot, at most maxDN bytes each: 256 KiB) and safe for the engine's workers without a
// lock: slots are atomic pointers to immutable entries.
var interned internTable

// internSeed seeds the hash of the table's slots.
var internSeed = maphash.MakeSeed()

type internTable struct {
	slots [internSlots]atomic.Pointer[string]
	// missed holds, per slot, the hash of the last value that missed it. A value enters its
	// slot when it misses twice in a row, so values seen once (most unique DNs) neither cost a
	// second allocation nor evict a value that repeats.
	missed [internSlots]atomic.Uint64
}

// string returns b as a string, the shared one when b is in the table.
func (t *internTable) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	h := maphash.Bytes(internSeed, b)
	i := h & (internSlots - 1)
	if p := t.slots[i].Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	if t.missed[i].Swap(h) == h {
		p := new(string)
		*p = s
		t.slots[i].Store(p)
	}
	return s
}

// boundedShared is bounded for values that repeat across flows: see interned.
func boundedShared(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	return interned.string(b)
}
