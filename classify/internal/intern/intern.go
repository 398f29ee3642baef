// Package intern shares the strings that detectors read again and again across flows (a
// service account's DN, an NTP server's reference id, a client's JA4 fingerprint): a flow that
// repeats a value takes the shared string instead of allocating its own, and strings, unlike
// a flow's facts, may be kept by whoever reads them.
package intern

import (
	"hash/maphash"
	"sync/atomic"
)

// Slots is the number of values a Table holds (a power of two).
const Slots = 1024

// seed seeds the hash of the tables' slots.
var seed = maphash.MakeSeed()

// A Table is a bounded set of shared strings: one value per slot, the slot chosen by a hash
// of the value. It is safe for the engine's workers without a lock: slots are atomic pointers
// to immutable entries. The zero Table is empty and ready.
type Table struct {
	slots [Slots]atomic.Pointer[string]
	// missed holds, per slot, the hash of the last value that missed it. A value enters its
	// slot when it misses twice in a row, so values seen once (most unique values) neither
	// cost a second allocation nor evict a value that repeats.
	missed [Slots]atomic.Uint64
}

// String returns b as a string, the shared one when b is in the table. It allocates only when
// b is not.
func (t *Table) String(b []byte) string {
	if s, ok := t.Shared(b); ok {
		return s
	}
	return string(b)
}

// Shared returns the shared string equal to b, when b is in the table or enters it now (its
// second miss in a row: the one allocation, of the string kept). ok is false when b is not
// shared: the caller makes its own string, for example one for several values.
func (t *Table) Shared(b []byte) (s string, ok bool) {
	if len(b) == 0 {
		return "", true
	}
	h := maphash.Bytes(seed, b)
	i := h & (Slots - 1)
	if p := t.slots[i].Load(); p != nil && *p == string(b) {
		return *p, true
	}
	if t.missed[i].Swap(h) != h {
		return "", false
	}
	p := new(string)
	*p = string(b)
	t.slots[i].Store(p)
	return *p, true
}
