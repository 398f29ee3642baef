package rules

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/racedetect"
)

// TestReleasedFindingsAreReused: once the findings of a flow are released, as the audit does
// after its sinks, the next flow's findings reuse them: a finding then costs one allocation,
// its text (the message, observed values and threshold key in one string), instead of two.
func TestReleasedFindingsAreReused(t *testing.T) {
	if racedetect.Enabled {
		t.Skip("the race detector's sync.Pool drops pooled values at random")
	}
	c := Default().NewChecker()
	out := make([]Match, 0, 8)
	for _, r := range []*flow.Record{cleartextSIP(), cleartextLDAP(simpleBind(4, "cn=admin,dc=example,dc=org", 9))} {
		ms := c.Match(r, out[:0])
		if len(ms) == 0 {
			t.Fatal("no finding to count")
		}
		one := func() {
			for _, m := range c.Match(r, out[:0]) {
				ReleaseFinding(m.f)
			}
		}
		one()
		if n := testing.AllocsPerRun(200, one); n != float64(len(ms)) {
			t.Errorf("%v allocations for %d released findings a flow, want %d (their texts)", n, len(ms), len(ms))
		}
	}
}

// A released finding reads as a new one when it is reused: nothing of the flow it was raised
// on is left in it, and its Observed list is empty, with its room. A Finding that Match did not
// make is not taken into the pools.
func TestReleasedFindingReadsAsNew(t *testing.T) {
	for n := 0; n <= maxInline+1; n++ {
		f := newFinding(n)
		for i := range n {
			f.Observed = append(f.Observed, KV{fmt.Sprint("k", i), "v"})
		}
		f.Rule, f.Message, f.Count, f.File, f.Suppressed = poisonRule, "m", 3, "x.pcap", 2
		f.Evidence.Frame, f.FlowFirstFrame = 9, 7
		ReleaseFinding(f)
		if n > maxInline {
			continue // made with its own list: not pooled
		}
		if want := (Finding{Observed: f.Observed}); !reflect.DeepEqual(*f, want) || len(f.Observed) != 0 || cap(f.Observed) != n || f.Observed == nil {
			t.Errorf("%d values: released finding %+v (len %d, cap %d), want it empty with room for %d", n, *f, len(f.Observed), cap(f.Observed), n)
		}
		if obs := f.Observed[:cap(f.Observed)]; n > 0 && obs[0] != (KV{}) {
			t.Errorf("%d values: the released list still holds %v", n, obs[0])
		}
	}
	foreign := &Finding{Observed: make([]KV, 0, 2)}
	ReleaseFinding(foreign)
	for range 50 {
		if newFinding(2) == foreign {
			t.Fatal("a Finding Match did not make was reused")
		}
	}
}

// With the test hook on, a released finding is filled with garbage (a reader that kept it sees
// it) and Match's next findings are emptied again.
func TestPoisonedFindingIsEmptiedOnReuse(t *testing.T) {
	PoisonReleasedFindings(true)
	defer PoisonReleasedFindings(false)
	f := newFinding(1)
	f.Observed = append(f.Observed, KV{"k", "v"})
	f.Message = "kept"
	ReleaseFinding(f)
	if f.Message == "kept" || f.Rule != poisonRule || f.Observed[:1][0].Value != "\u2620released" {
		t.Fatalf("released finding was not poisoned: %+v", *f)
	}
	for range 100 {
		g := newFinding(1)
		if g.Rule != nil || g.Message != "" || len(g.Observed) != 0 {
			t.Fatalf("newFinding handed out %+v", *g)
		}
		ReleaseFinding(g)
	}
}
