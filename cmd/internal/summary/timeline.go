package summary

import "time"

// timelineBuckets is the number of buckets of the timeline: fixed, whatever the span of the
// input, so its memory is too.
const timelineBuckets = 120

// Timeline counts flows (by their first packet) and findings (by their evidence packet) over
// packet time, in Buckets equal buckets of Width from Start.
type Timeline struct {
	Start    time.Time     `json:"start,omitzero"`
	Width    time.Duration `json:"bucket_ns"`
	Flows    []uint64      `json:"flows"`
	Findings []uint64      `json:"findings"`
}

// timeline is a histogram with a fixed number of buckets whose width grows to the next step
// of widthSteps (merging neighbours) whenever a time falls outside the span it covers. Each
// step is a multiple of the one before and bucket boundaries are multiples of the width
// since the Unix epoch, so merging is exact; the width is always the smallest step whose
// buckets cover the earliest to the latest time seen, so the result does not depend on the
// order the times arrive in.
type timeline struct {
	origin   int64 // ns since the epoch, a multiple of width
	width    int64 // ns
	min, max int64 // the earliest and latest times seen
	flows    [timelineBuckets]uint64
	findings [timelineBuckets]uint64
	used     bool
}

func (t *timeline) add(at time.Time, n uint64, finding bool) {
	if at.IsZero() {
		return
	}
	ns := at.UnixNano()
	if !t.used {
		t.used = true
		t.min, t.max = ns, ns
		t.width = int64(widthSteps[0])
		t.origin = floorTo(ns, t.width)
	}
	t.min, t.max = min(t.min, ns), max(t.max, ns)
	if ns < t.origin || ns >= t.origin+t.width*timelineBuckets {
		t.widen()
	}
	i := (ns - t.origin) / t.width
	if finding {
		t.findings[i] += n
	} else {
		t.flows[i] += n
	}
}

// widthSteps are the bucket widths a person reads easily, each a multiple of the one before;
// past the last one the width doubles.
var widthSteps = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, time.Second, 2 * time.Second,
	10 * time.Second, 20 * time.Second, time.Minute, 2 * time.Minute, 10 * time.Minute,
	20 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

func nextWidth(w int64) int64 {
	for _, s := range widthSteps {
		if int64(s) > w {
			return int64(s)
		}
	}
	return w * 2
}

// widen moves to the smallest width (not below the current one) whose buckets, from the
// multiple of the width at or before the earliest time, reach the latest, and merges the
// counts into them.
func (t *timeline) widen() {
	w := t.width
	for floorTo(t.min, w)+w*timelineBuckets <= t.max {
		w = nextWidth(w)
	}
	o := floorTo(t.min, w)
	var fl, fi [timelineBuckets]uint64
	for i := range timelineBuckets {
		if t.flows[i]+t.findings[i] == 0 {
			continue
		}
		j := (t.origin + int64(i)*t.width - o) / w
		fl[j] += t.flows[i]
		fi[j] += t.findings[i]
	}
	t.flows, t.findings, t.width, t.origin = fl, fi, w, o
}

func floorTo(ns, w int64) int64 {
	r := ns % w
	if r < 0 {
		r += w
	}
	return ns - r
}

// buckets returns the timeline trimmed to the buckets from the first to the last non-empty one.
func (t *timeline) buckets() Timeline {
	if !t.used {
		return Timeline{}
	}
	first, last := -1, -1
	for i := range timelineBuckets {
		if t.flows[i]+t.findings[i] > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return Timeline{}
	}
	return Timeline{
		Start:    time.Unix(0, t.origin+int64(first)*t.width).UTC(),
		Width:    time.Duration(t.width),
		Flows:    append([]uint64(nil), t.flows[first:last+1]...),
		Findings: append([]uint64(nil), t.findings[first:last+1]...),
	}
}
