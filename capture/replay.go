package capture

import (
	"errors"
	"sync/atomic"
	"time"
)

// Errors of live sources (a capture ring, or a file replayed at its pace).
var (
	// ErrTimeout: no packet came within the source's poll interval; call Next again. It lets
	// the reader move the wall clock on (a quiet link still ends its flows) and heed a stop.
	ErrTimeout = errors.New("no packet within the poll interval")
	// ErrStopped: the source was told to stop; it returns no more packets.
	ErrStopped = errors.New("capture stopped")
)

// Replay wraps src so that it yields its packets at the pace they were recorded, with their
// timestamps moved to the wall clock (the first packet is now), as a live capture would: for
// testing a sensor and for demonstrations. speed multiplies the pace (2: twice as fast; 0 or
// less: 1). While it waits longer than poll it returns ErrTimeout; after Stop, ErrStopped.
type Replay struct {
	src     Source
	speed   float64
	poll    time.Duration
	stopped atomic.Bool

	started     bool
	wall0, cap0 time.Time
	held        bool // p holds a packet not yet due
	now         func() time.Time
	sleep       func(time.Duration)
}

// NewReplay replays src (see Replay).
func NewReplay(src Source, speed float64, poll time.Duration) *Replay {
	if speed <= 0 {
		speed = 1
	}
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	return &Replay{src: src, speed: speed, poll: poll, now: time.Now, sleep: time.Sleep}
}

// Stop makes Next return ErrStopped from its next call (or within the poll interval of a
// wait in progress). Safe from any goroutine.
func (r *Replay) Stop() { r.stopped.Store(true) }

// Next implements Source. A packet's Data is valid until the next call, as for the source it
// replays; while Next returns ErrTimeout the held packet stays valid.
func (r *Replay) Next(p *Packet) error {
	if r.stopped.Load() {
		return ErrStopped
	}
	if !r.held {
		if err := r.src.Next(p); err != nil {
			return err
		}
		r.held = true
		if !r.started {
			r.started = true
			r.wall0, r.cap0 = r.now(), p.Timestamp
		}
	}
	offset := time.Duration(float64(p.Timestamp.Sub(r.cap0)) / r.speed)
	if offset < 0 {
		offset = 0 // a packet recorded before the first: now
	}
	due := r.wall0.Add(offset)
	if wait := due.Sub(r.now()); wait > 0 {
		if wait > r.poll {
			r.sleep(r.poll)
			return ErrTimeout
		}
		r.sleep(wait)
	}
	r.held = false
	p.Timestamp = due
	return nil
}

// Close closes the source replayed.
func (r *Replay) Close() error { return r.src.Close() }
