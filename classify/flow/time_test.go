package flow

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// times are instants a capture or an NTP header can carry, with the edges of Time's range:
// unset, Unix time 0 (a capture with zeroed timestamps), just around it, before 1970 (NTP
// era 0 reaches back to 1968), whole seconds and every fraction width, the NTP era change of
// 2036, and the first and last representable nanoseconds.
var times = []time.Time{
	{},
	time.Unix(0, 0).UTC(),
	time.Unix(0, 1).UTC(),
	time.Unix(0, -1).UTC(),
	time.Unix(-60*86400*365, 5e8).UTC(),
	time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 1, 1, 0, 0, 0, 500000000, time.UTC),
	time.Date(2026, 1, 1, 0, 0, 0, 120000, time.UTC),
	time.Date(2026, 1, 1, 23, 59, 59, 999999999, time.UTC),
	time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC),
	time.Date(2104, 2, 26, 9, 42, 23, 999999999, time.UTC),
	time.Unix(0, math.MinInt64+1).UTC(),
	time.Unix(0, math.MaxInt64).UTC(),
}

// TestTimeIsTheTimeItStandsFor: a Time gives back the time.Time it was made from, writes the
// JSON encoding/json writes for it (the NDJSON output stays byte for byte the same) and prints
// as a policy message prints a time ("" when unset).
func TestTimeIsTheTimeItStandsFor(t *testing.T) {
	for _, tt := range times {
		ft := TimeOf(tt)
		if got := ft.Time(); !got.Equal(tt) || got.IsZero() != tt.IsZero() || ft.IsZero() != tt.IsZero() {
			t.Errorf("TimeOf(%v).Time() = %v (IsZero %v)", tt, got, ft.IsZero())
		}
		want, err := json.Marshal(tt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := json.Marshal(ft); err != nil || string(got) != string(want) {
			t.Errorf("json.Marshal(TimeOf(%v)) = %s, %v; want %s", tt, got, err, want)
		}
		if got := ft.AppendJSON([]byte("x")); string(got) != "x"+string(want) {
			t.Errorf("AppendJSON of %v = %s, want x%s", tt, got, want)
		}
		wantText := tt.UTC().Format(time.RFC3339Nano)
		if tt.IsZero() {
			wantText = ""
		}
		if got := ft.String(); got != wantText {
			t.Errorf("TimeOf(%v).String() = %q, want %q", tt, got, wantText)
		}
		if got := fmt.Sprint(Event{Frame: 1, Time: ft}.Time); got != wantText {
			t.Errorf("an Event's time prints %q, want %q", got, wantText)
		}
	}
	// Out of range: clamped, never wrapped round to the other end.
	if got := TimeOf(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)).Time(); got.Year() != 2262 {
		t.Errorf("a time after the range becomes %v", got)
	}
	if got := TimeOf(time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)).Time(); got.Year() != 1677 {
		t.Errorf("a time before the range becomes %v", got)
	}
}

// TestTimeComparesAsTime: Before, After, Equal and Sub answer as time.Time's methods do for
// the times they stand for, Unix time 0 and unset included (unset is the zero time.Time,
// before every other).
func TestTimeComparesAsTime(t *testing.T) {
	for _, a := range times {
		for _, b := range times {
			fa, fb := TimeOf(a), TimeOf(b)
			if fa.Before(fb) != a.Before(b) || fa.After(fb) != a.After(b) || fa.Equal(fb) != a.Equal(b) {
				t.Errorf("%v vs %v: before %v after %v equal %v", a, b, fa.Before(fb), fa.After(fb), fa.Equal(fb))
			}
			if got, want := fa.Sub(fb), a.Sub(b); got != want {
				t.Errorf("%v - %v = %v, want %v", a, b, got, want)
			}
		}
	}
	if UnixNano(0).UnixNano() != 0 || UnixNano(0).IsZero() || UnixNano(1500).UnixNano() != 1500 {
		t.Error("UnixNano does not round-trip")
	}
}

// TestFileRef: a name always gets the same FileRef and gives it back, from any goroutine; the
// empty name is 0, the file of the flow's first packet.
func TestFileRef(t *testing.T) {
	if FileRefOf("") != 0 || FileRef(0).String() != "" {
		t.Fatal("the empty name is not FileRef 0")
	}
	var wg sync.WaitGroup
	refs := make([][]FileRef, 4)
	for g := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				refs[g] = append(refs[g], FileRefOf(fmt.Sprintf("capture-%d.pcap", i)))
			}
		}()
	}
	wg.Wait()
	seen := map[FileRef]bool{}
	for i, r := range refs[0] {
		if r == 0 || seen[r] {
			t.Fatalf("capture-%d.pcap: FileRef %d is 0 or given twice", i, r)
		}
		seen[r] = true
		for g := range refs {
			if refs[g][i] != r {
				t.Fatalf("capture-%d.pcap: FileRef %d in one goroutine, %d in another", i, r, refs[g][i])
			}
		}
		if got, want := r.String(), fmt.Sprintf("capture-%d.pcap", i); got != want {
			t.Errorf("FileRef %d names %q, want %q", r, got, want)
		}
	}
	if FileRef(1<<31).String() != "" {
		t.Error("a FileRef never given names a file")
	}
}

// TestDateIsTheTimeItStandsFor: a certificate's validity bound, to the second, from year 0 to
// 9999, as a Date gives back its time.Time, its JSON and its text.
func TestDateIsTheTimeItStandsFor(t *testing.T) {
	for _, tt := range []time.Time{
		{},
		time.Unix(0, 0).UTC(),
		time.Unix(-1, 0).UTC(),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		d := DateOf(tt)
		if got := d.Time(); !got.Equal(tt) || d.IsZero() != tt.IsZero() {
			t.Errorf("DateOf(%v).Time() = %v (IsZero %v)", tt, got, d.IsZero())
		}
		want, err := json.Marshal(tt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := json.Marshal(d); err != nil || string(got) != string(want) {
			t.Errorf("json.Marshal(DateOf(%v)) = %s, %v; want %s", tt, got, err, want)
		}
		if got := d.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON of %v = %s, want %s", tt, got, want)
		}
		wantText := tt.Format(time.RFC3339Nano)
		if tt.IsZero() {
			wantText = ""
		}
		if got := d.String(); got != wantText {
			t.Errorf("DateOf(%v).String() = %q, want %q", tt, got, wantText)
		}
	}
}
