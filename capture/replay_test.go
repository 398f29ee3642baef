package capture

import (
	"errors"
	"io"
	"testing"
	"time"
)

// listSource yields fixed packets.
type listSource struct {
	ts []time.Time
	i  int
}

func (l *listSource) Next(p *Packet) error {
	if l.i == len(l.ts) {
		return io.EOF
	}
	*p = Packet{Timestamp: l.ts[l.i], Frame: uint64(l.i + 1), Data: []byte{byte(l.i)}}
	l.i++
	return nil
}
func (l *listSource) Close() error { return nil }

// TestReplayPacesAndMovesToTheWallClock: packets come at their recorded offsets (scaled by the
// speed) from the moment replay started, timestamped with the wall clock; a gap longer than the
// poll interval shows as ErrTimeout, and the packet after it is still delivered; Stop ends it.
func TestReplayPacesAndMovesToTheWallClock(t *testing.T) {
	rec := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	src := &listSource{ts: []time.Time{rec, rec.Add(500 * time.Millisecond), rec.Add(10 * time.Second), rec.Add(11 * time.Second)}}
	r := NewReplay(src, 2, time.Second)
	wall := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return wall }
	var slept time.Duration
	r.sleep = func(d time.Duration) { slept += d; wall = wall.Add(d) }
	start := wall
	var got []time.Duration
	timeouts := 0
	var p Packet
	for {
		err := r.Next(&p)
		if errors.Is(err, ErrTimeout) {
			timeouts++
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Timestamp.Sub(start))
		if p.Data[0] != byte(len(got)-1) {
			t.Fatalf("packet %d lost or repeated across a timeout", len(got))
		}
	}
	want := []time.Duration{0, 250 * time.Millisecond, 5 * time.Second, 5500 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d at +%v, want +%v (half the recorded offset, from the start of replay)", i, got[i], want[i])
		}
	}
	if timeouts != 4 { // the 4.75 s gap at a 1 s poll: four timeouts, then the rest of the wait
		t.Errorf("%d timeouts in a 4.75 s gap with a 1 s poll, want 4", timeouts)
	}
	r.Stop()
	if err := r.Next(&p); !errors.Is(err, ErrStopped) {
		t.Errorf("after Stop: %v, want ErrStopped", err)
	}
}
