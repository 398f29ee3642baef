package audit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

// TestSuppressorCountsWhatItHeldBack: within the window a repeat is held back; the first
// report after the window carries the count; other clients, servers and rules are apart; and
// the state is bounded, forgetting the least recently used key (counted).
func TestSuppressorCountsWhatItHeldBack(t *testing.T) {
	s := newSuppressor(10*time.Minute, 2)
	r1, r2 := &rules.Rule{ID: "ldap.cleartext-bind"}, &rules.Rule{ID: "ldap.cleartext-session"}
	c, srv := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.2:389")
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	f := func(r *rules.Rule, client netip.AddrPort, at time.Duration) *rules.Finding {
		return &rules.Finding{Rule: r, Client: client, Server: srv, Evidence: flow.Event{Time: flow.TimeOf(t0.Add(at))}}
	}
	if !s.keep(f(r1, c, 0)) {
		t.Fatal("first finding held back")
	}
	for m := 1; m <= 5; m++ {
		// Another source port of the same client: the same key.
		if s.keep(f(r1, netip.AddrPortFrom(c.Addr(), uint16(40000+m)), time.Duration(m)*time.Minute)) {
			t.Fatalf("repeat %d minutes later reported", m)
		}
	}
	if !s.keep(f(r2, c, time.Minute)) {
		t.Error("another rule's finding held back")
	}
	late := f(r1, c, 11*time.Minute)
	if !s.keep(late) || late.Suppressed != 5 {
		t.Errorf("after the window: kept %v with %d suppressed, want kept with 5", late.Suppressed != 0, late.Suppressed)
	}
	if held := s.held.Load(); held != 5 {
		t.Errorf("%d held back, want 5", held)
	}
	// A third key in a state of two forgets the least recently used one.
	if !s.keep(f(r1, netip.MustParseAddrPort("127.0.0.9:1"), 0)) || s.evicted.Load() != 1 {
		t.Errorf("third key: %d evicted, want 1", s.evicted.Load())
	}
}
