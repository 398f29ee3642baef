package report

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestAppendTimeMatchesAppendFormat: the documents' times (start, end, @timestamp) are
// written from the integer without a time.Time, byte for byte as time.Time.AppendFormat
// writes them in TimeFormat: across the whole range of flow.Time, before and after 1970, at
// the ends of days, months and leap years, and for the unset and the Unix-zero times.
func TestAppendTimeMatchesAppendFormat(t *testing.T) {
	ref := func(ft flow.Time) string { return `"` + ft.Time().Format(TimeFormat) + `"` }
	cases := []flow.Time{0, flow.UnixNano(0), flow.UnixNano(-1), flow.UnixNano(1), math.MinInt64 + 1, math.MaxInt64,
		flow.TimeOf(time.Date(2000, 2, 29, 23, 59, 59, 999999999, time.UTC)),
		flow.TimeOf(time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)),
		flow.TimeOf(time.Date(2100, 2, 28, 12, 0, 0, 1, time.UTC)),
		flow.TimeOf(time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC)),
		flow.TimeOf(time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC))}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		cases = append(cases, flow.UnixNano(int64(rng.Uint64())))
	}
	for day := int64(-106000); day < 106000; day += 7 { // every seventh day of 1680–2260
		cases = append(cases, flow.UnixNano(day*86400e9+rng.Int64N(86400e9)))
	}
	for _, c := range cases {
		if got, want := string(appendTime(nil, c)), ref(c); got != want {
			t.Fatalf("%d: %s, want %s", int64(c), got, want)
		}
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = appendTime(buf[:0], cases[5]) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
