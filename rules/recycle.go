package rules

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// Recycling of findings.
//
// A Finding is made for one emit call and belongs to its receiver. The audit's pipeline, which
// knows when the last of its sinks is done with a flow's findings (they are valid only during
// report.Reporter.Flow), gives them back with ReleaseFinding, and Match takes the next ones
// from the pools: on a busy link most flows raise a finding, and they were a third of the bytes
// the audit allocated. What a finding's strings hold (its message and the observed values, one
// string) is never reused and may be kept; the Finding itself and its Observed list may not.
// A finding nobody releases is left to the garbage collector.

// maxInline is the most observed values a finding holds in its own allocation (newFinding).
const maxInline = 4

// A finding with its room for n observed values, in one allocation.
type (
	finding1 struct {
		f Finding
		o [1]KV
	}
	finding2 struct {
		f Finding
		o [2]KV
	}
	finding3 struct {
		f Finding
		o [3]KV
	}
	finding4 struct {
		f Finding
		o [4]KV
	}
)

// findingPools holds released findings by the room they have for observed values.
var findingPools = [maxInline + 1]sync.Pool{
	{New: func() any { return &Finding{Observed: []KV{}} }},
	{New: func() any { x := new(finding1); x.f.Observed = x.o[:0]; return &x.f }},
	{New: func() any { x := new(finding2); x.f.Observed = x.o[:0]; return &x.f }},
	{New: func() any { x := new(finding3); x.f.Observed = x.o[:0]; return &x.f }},
	{New: func() any { x := new(finding4); x.f.Observed = x.o[:0]; return &x.f }},
}

// newFinding returns an empty Finding whose Observed has room for n values: a released one
// when there is, else a new one, in the same allocation for the usual few.
func newFinding(n int) *Finding {
	if n > maxInline {
		return &Finding{Observed: make([]KV, 0, n)}
	}
	f := findingPools[n].Get().(*Finding)
	if findingsPoisoned.Load() {
		*f = Finding{Observed: f.Observed[:0]}
	}
	return f
}

// ReleaseFinding gives f back to be reused by a later finding. Call it only as f's last holder,
// when nothing will read f or its Observed list again (their strings may be kept). A Finding
// that Match did not make is left alone.
func ReleaseFinding(f *Finding) {
	if f == nil {
		return
	}
	n := cap(f.Observed)
	if n > maxInline || n > 0 && unsafe.Pointer(unsafe.SliceData(f.Observed[:1])) != unsafe.Add(unsafe.Pointer(f), unsafe.Sizeof(Finding{})) {
		return // not one of newFinding's: its list is not in its own allocation
	}
	obs := f.Observed[:n]
	clear(obs) // keep no string alive
	if n == 0 {
		obs = []KV{} // as newFinding(0) makes it: empty, not nil
	}
	*f = Finding{Observed: obs[:0]}
	if poisonFindings.Load() {
		poisonFinding(f)
	}
	findingPools[n].Put(f)
}

// poisonFindings, when set (by tests: PoisonReleasedFindings), fills released findings with
// garbage before they go back to their pool; findingsPoisoned stays set once it was, so that
// newFinding then empties every finding it hands out.
var poisonFindings, findingsPoisoned atomic.Bool

// PoisonReleasedFindings is for tests: while on, a released finding is filled with garbage
// before it is reused (and emptied again when Match takes it), so that a consumer that reads a
// finding after its release, or keeps its Observed list, writes garbage instead of what it
// should. Unless it was ever turned on, it costs one atomic load per release and per finding.
func PoisonReleasedFindings(on bool) {
	if on {
		findingsPoisoned.Store(true)
	}
	poisonFindings.Store(on)
}

// poisonRule is the rule a poisoned finding names.
var poisonRule = &Rule{ID: "\u2620released", Name: "\u2620released", Severity: Critical}

func poisonFinding(f *Finding) {
	const bad = "\u2620released"
	obs := f.Observed[:cap(f.Observed)]
	for i := range obs {
		obs[i] = KV{bad, bad}
	}
	*f = Finding{Rule: poisonRule, Message: bad, Count: -1, Observed: obs, File: bad,
		FlowFirstFrame: 1 << 62, Suppressed: 1 << 62}
	f.Evidence.Frame = 1 << 62
}
