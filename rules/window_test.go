package rules

import (
	"math"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// windowBytesPerKey is the live heap a Checker holds per threshold key: n SIP clients, each
// sending OPTIONS to distinct servers (sip.sweep counts distinct server.ip by client.ip) and
// failing LDAP binds (ldap.bind-failures counts them by client.ip), none of them crossing a
// threshold.
func windowBytesPerKey(t testing.TB, n, servers int) float64 {
	c := Default().NewChecker()
	recs := make([]*flow.Record, 0, 2*n*servers)
	for i := range n {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
		for s := range servers {
			r := cleartextSIP()
			r.Client, r.Server = cl, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(s)}), 5060)
			l := cleartextLDAP(failedBind(4))
			l.Client = cl
			recs = append(recs, r, l)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, r := range recs {
		c.Check(r, func(*Finding) {})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(c.agg) != 2*n {
		t.Fatalf("%d threshold keys, want %d", len(c.agg), 2*n)
	}
	runtime.KeepAlive(c)
	runtime.KeepAlive(recs)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(len(c.agg))
}

// TestThresholdWindowMemory: the threshold windows hold a bounded few bytes per key (a client
// counted by a threshold rule), so that the checker's state stays small with many clients.
// (With a map of distinct values per key it was 366 and 418 bytes; with time.Time instead of
// integer times 222 and 330.)
func TestThresholdWindowMemory(t *testing.T) {
	for _, c := range []struct {
		servers int
		max     float64
	}{{1, 200}, {3, 270}} {
		b := windowBytesPerKey(t, 20000, c.servers)
		t.Logf("%d servers per client: %.0f bytes per threshold key", c.servers, b)
		if b > c.max {
			t.Errorf("%d servers per client: %.0f bytes per threshold key, want at most %.0f", c.servers, b, c.max)
		}
	}
}

// TestThresholdDistinctMap: a threshold whose count is too large for a list of distinct
// values keeps them in a map, and counts them the same way.
func TestThresholdDistinctMap(t *testing.T) {
	defer func(n int) { smallDistinct = n }(smallDistinct)
	smallDistinct = 0
	TestThresholdDistinct(t)
}

// TestEachPathOffsets: the offsets eval reads a rule's list through find the same elements
// as the reflection path, or none where a pointer on the way is nil.
func TestEachPathOffsets(t *testing.T) {
	var paths []*eachPath
	for _, s := range []string{"ldap.binds", "ldap.extended", "ntp.mode6", "ntp.mode7", "sip.credentials", "sip.media",
		"tunnel", "tls.alerts", "tls.server.x509.alternative_names", "ldap.searches"} {
		p, msg := resolveEach(s)
		if p == nil {
			t.Fatal(msg)
		}
		paths = append(paths, p)
	}
	var env Env
	settings := Default().Settings
	lists, nonEmpty := 0, 0
	for _, rec := range testRecords(500) {
		fillEnv(&env, rec, &settings)
		for _, p := range paths {
			base, n, ok := p.at(&env)
			l := p.list(&env)
			if ok != l.IsValid() || ok && (n != l.Len() || n > 0 && base != l.Index(0).Addr().UnsafePointer()) {
				t.Fatalf("path %v: offsets say %v %d %v, reflection %v", p.steps, base, n, ok, l)
			}
			if ok {
				lists++
				if n > 0 {
					nonEmpty++
				}
			}
		}
	}
	if lists < 1000 || nonEmpty < 500 {
		t.Errorf("%d lists, %d not empty: the records do not exercise the paths", lists, nonEmpty)
	}
}

// TestThresholdWindowsAtAnyTime: the windows count in integer nanoseconds; they slide, fire
// and re-arm the same whatever the capture's clock says: across Unix time 0 (captures whose
// clock was never set), before it, and near the ends of the range packet times are clamped to.
func TestThresholdWindowsAtAnyTime(t *testing.T) {
	defer func(t1 time.Time) { t0 = t1 }(t0)
	for _, at := range []time.Time{
		time.Unix(-100, 0).UTC(),                    // the flows straddle Unix time 0
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), // before it
		time.Unix(0, math.MinInt64+1).UTC(),         // the earliest packet time
		time.Unix(0, math.MaxInt64).Add(-300 * time.Second).UTC(),
	} {
		t0 = at
		t.Run(at.Format(time.RFC3339), func(t *testing.T) {
			TestThresholdDistinct(t)
			TestThresholdCountsFlowsOrElements(t)
			TestThresholdWeight(t)
		})
	}
}

// since and before saturate where int64 nanoseconds would wrap, as time.Time.Sub does.
func TestWindowArithmeticSaturates(t *testing.T) {
	for _, c := range []struct {
		t, u int64
		want time.Duration
	}{
		{math.MaxInt64, math.MinInt64, math.MaxInt64},
		{math.MinInt64, math.MaxInt64, math.MinInt64},
		{math.MinInt64, 0, math.MinInt64},
		{10, -5, 15},
		{-5, 10, -15},
	} {
		if got := since(c.t, c.u); got != c.want {
			t.Errorf("since(%d, %d) = %d, want %d", c.t, c.u, got, c.want)
		}
		if got, want := since(c.t, c.u), time.Unix(0, c.t).Sub(time.Unix(0, c.u)); got != want {
			t.Errorf("since(%d, %d) = %d, time.Time.Sub gives %d", c.t, c.u, got, want)
		}
	}
	if got := before(math.MinInt64+5, time.Minute); got != math.MinInt64 {
		t.Errorf("before saturates to %d, want math.MinInt64", got)
	}
	if got := before(1000, 10); got != 990 {
		t.Errorf("before(1000, 10) = %d", got)
	}
}
