package flow

import (
	"math"
	"time"
)

// Time is a packet time or a protocol timestamp held in eight bytes without a pointer: the
// Unix time in nanoseconds, UTC. The zero Time is unset (as the zero time.Time is), so a zero
// struct of facts holds unset times.
//
// Unix time 0 itself (1970-01-01T00:00:00Z, the time of a capture whose timestamps were
// zeroed) is stored as math.MinInt64, an instant no packet or NTP timestamp can carry
// (1677-09-21), so that it stays distinct from unset. The range is that of int64
// nanoseconds, 1677 to 2262: every pcap and NTP timestamp fits.
//
// A policy condition reads a Time as the facts hold it and compares two of them with the
// methods Before, After, Equal and Sub, tests it with IsZero, or turns it into a Go
// time.Time with Time (to compare it with `start` or `end`, which are time.Time values); see
// docs/policy.md. Its JSON and its text are those of the time.Time it stands for.
type Time int64

// epoch is how Time holds Unix time 0 (see Time).
const epoch Time = math.MinInt64

// TimeOf returns t as a Time: the zero time.Time gives the zero (unset) Time. A time outside
// the range of int64 nanoseconds is clamped to the nearest end of that range.
func TimeOf(t time.Time) Time {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return UnixNano(t.UnixNano())
}

// The range of Time.
var minTime, maxTime = time.Unix(0, math.MinInt64+1), time.Unix(0, math.MaxInt64)

// UnixNano returns the Time of n nanoseconds since Unix time 0.
func UnixNano(n int64) Time {
	if n == 0 {
		return epoch
	}
	if n == math.MinInt64 { // the one instant given up for Unix time 0: one nanosecond later
		n++
	}
	return Time(n)
}

// IsZero reports whether t is unset.
func (t Time) IsZero() bool { return t == 0 }

// UnixNano returns t in nanoseconds since Unix time 0 (0 for an unset Time).
func (t Time) UnixNano() int64 {
	if t == epoch {
		return 0
	}
	return int64(t)
}

// Time returns t as a time.Time in UTC; an unset Time gives the zero time.Time.
func (t Time) Time() time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(0, t.UnixNano()).UTC()
}

// Before reports whether t is before u (an unset Time is before every set one).
func (t Time) Before(u Time) bool { return t.order() < u.order() }

// After reports whether t is after u.
func (t Time) After(u Time) bool { return t.order() > u.order() }

// Equal reports whether t and u are the same instant (or both unset).
func (t Time) Equal(u Time) bool { return t == u }

// Sub returns t - u as time.Time.Sub would for the two time.Time values.
func (t Time) Sub(u Time) time.Duration { return t.Time().Sub(u.Time()) }

// order maps t to a value whose integer order is the order of the instants, unset first.
func (t Time) order() int64 {
	switch t {
	case 0:
		return math.MinInt64
	case epoch:
		return 0
	}
	return int64(t)
}

// String returns t as a policy message prints a time: RFC 3339 with nanoseconds as needed, in
// UTC ("2026-01-01T00:00:00.5Z"), or "" when t is unset.
func (t Time) String() string { return timeString(t.Time()) }

// AppendJSON appends t as encoding/json writes the time.Time it stands for: RFC 3339 with
// nanoseconds as needed, in quotes ("0001-01-01T00:00:00Z" when unset).
func (t Time) AppendJSON(b []byte) []byte { return appendTimeJSON(b, t.Time()) }

// MarshalJSON implements json.Marshaler with the bytes of AppendJSON.
func (t Time) MarshalJSON() ([]byte, error) { return t.AppendJSON(make([]byte, 0, 40)), nil }

// FileRef names a capture file in four bytes: a number given to each file name the first
// time it is asked for, for as long as the process runs. Record.File is one; 0 is the empty
// name, which Event and Flow use for "the file of the flow's first packet" (Record.File).
type FileRef uint32

var files names

// FileRefOf returns the FileRef of a file name, numbering it if it has none yet.
func FileRefOf(name string) FileRef { return FileRef(files.ref(name)) }

// String returns the file name r stands for ("" for 0).
func (r FileRef) String() string { return files.name(uint32(r)) }

// Date is a certificate's validity bound (TLS not_before, not_after) in eight bytes without a
// pointer: the Unix time in seconds, UTC. X.509 times have no fraction of a second, and their
// years run from 0 to 9999 (99991231235959Z is the usual "no expiry"), beyond the range of
// Time's nanoseconds. As with Time, the zero Date is unset and Unix time 0 is held as
// math.MinInt64; a policy sees a Date as the time.Time it stands for.
type Date int64

// DateOf returns t, to the second, as a Date: the zero time.Time gives the zero (unset) Date.
func DateOf(t time.Time) Date {
	if t.IsZero() {
		return 0
	}
	if s := t.Unix(); s != 0 {
		return Date(s)
	}
	return Date(epoch)
}

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == 0 }

// Time returns d as a time.Time in UTC; an unset Date gives the zero time.Time.
func (d Date) Time() time.Time {
	switch d {
	case 0:
		return time.Time{}
	case Date(epoch):
		return time.Unix(0, 0).UTC()
	}
	return time.Unix(int64(d), 0).UTC()
}

// String returns d as a policy message prints a time (see Time.String).
func (d Date) String() string { return timeString(d.Time()) }

// AppendJSON appends d as encoding/json writes the time.Time it stands for.
func (d Date) AppendJSON(b []byte) []byte { return appendTimeJSON(b, d.Time()) }

// timeString is how a policy message prints a time: RFC 3339 with nanoseconds as needed, in
// UTC, or "" for the zero time.
func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// appendTimeJSON appends t as encoding/json writes it (time.Time.MarshalJSON).
func appendTimeJSON(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// MarshalJSON implements json.Marshaler with the bytes of AppendJSON.
func (d Date) MarshalJSON() ([]byte, error) { return d.AppendJSON(make([]byte, 0, 24)), nil }
