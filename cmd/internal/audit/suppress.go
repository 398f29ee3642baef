package audit

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/pcapaudit/pcapaudit/rules"
)

// suppressor reports a finding for the same client, server and rule once per window (of
// packet time), and counts the ones it held back: the next report carries that count
// (Finding.Suppressed). A sensor that sees the same cleartext bind every minute for a month
// then says so once every window, not forty thousand times. Its state is bounded: past max
// keys the least recently reported is forgotten (counted), so a flood of distinct findings
// costs bounded memory and at worst repeats a report.
type suppressor struct {
	window  time.Duration
	lru     *simplelru.LRU[supKey, *supState]
	held    atomic.Uint64 // findings held back
	evicted atomic.Uint64 // keys forgotten
}

type supKey struct {
	client, server netip.Addr
	rule           string
}

type supState struct {
	last       time.Time // evidence time of the last report
	suppressed uint64    // held back since
}

func newSuppressor(window time.Duration, max int) *suppressor {
	s := &suppressor{window: window}
	s.lru, _ = simplelru.NewLRU[supKey, *supState](max, func(supKey, *supState) { s.evicted.Add(1) })
	return s
}

// keep reports whether f is to be reported; if so, f.Suppressed is the number held back since
// the last report of its key.
func (s *suppressor) keep(f *rules.Finding) bool {
	k := supKey{f.Client.Addr(), f.Server.Addr(), f.Rule.ID}
	t := f.Evidence.Time.Time()
	st, ok := s.lru.Get(k)
	if !ok {
		s.lru.Add(k, &supState{last: t})
		return true
	}
	if t.Sub(st.last) < s.window {
		st.suppressed++
		s.held.Add(1)
		return false
	}
	f.Suppressed = st.suppressed
	st.last, st.suppressed = t, 0
	return true
}
