package audit

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
)

// tickEvery is how often, at most, a live reader moves the engine's clock to the wall clock:
// flows end within a second of their idle timeout even on a quiet link.
const tickEvery = time.Second

// transientPause is the wait after a transient error of a live source, so a source that
// fails at once again does not spin.
var transientPause = 100 * time.Millisecond

// Live reads live sources — the rings of one interface, or a file replayed at its pace —
// each on a goroutine of its own with its own decoder, until every source ends (ErrStopped,
// end of file, an error). When ctx is done, stop is called once: it must make the sources
// return ErrStopped (capture's Stop). The flows still open are not ended: Close does that.
// What was read is added to the summary under name, and returned.
//
// A source returns capture.ErrTimeout when no packet came within its poll interval: the
// reader then moves the clock on to the wall clock, so a quiet link still ends its flows.
// An error for which transient reports true (a socket error, the interface gone; nil: none
// is) is logged at most once a minute and the reader carries on: it counts as not capturing
// (Readers) until a packet or a quiet poll comes again. Any other error ends the reader.
func (a *Audit) Live(ctx context.Context, name string, srcs []capture.Source, stop func(), transient func(error) bool) report.FileSummary {
	a.prog.file.Store(&name)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	sums := make([]report.FileSummary, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[i] = a.readLive(name, src, transient)
		}()
	}
	wg.Wait()
	close(done)
	fs := report.FileSummary{Name: name}
	for _, s := range sums {
		fs.Packets += s.Packets
		fs.Bytes += s.Bytes
		if !s.First.IsZero() && (fs.First.IsZero() || s.First.Before(fs.First)) {
			fs.First = s.First
		}
		if s.Last.After(fs.Last) {
			fs.Last = s.Last
		}
		if fs.Err == "" {
			fs.Err = s.Err
		}
		fs.Warnings = append(fs.Warnings, s.Warnings...)
	}
	a.prog.filesDone.Add(1)
	a.sum.Files = append(a.sum.Files, fs)
	return fs
}

// Readers is the number of live readers capturing (Live): running, and not failing on their
// source. A sensor is healthy while every one of its rings is read.
func (a *Audit) Readers() int { return int(a.readers.Load()) }

// Suppressed is the number of findings held back as repeats within the suppression window,
// and the keys its bounded state forgot. Safe from any goroutine.
func (a *Audit) Suppressed() (held, forgotten uint64) {
	if a.sup == nil {
		return 0, 0
	}
	return a.sup.held.Load(), a.sup.evicted.Load()
}

// readLive is one reader of Live.
func (a *Audit) readLive(name string, src capture.Source, transient func(error) bool) report.FileSummary {
	f := a.eng.NewFeeder()
	a.readers.Add(1)
	failing := false
	defer func() {
		if !failing {
			a.readers.Add(-1)
		}
	}()
	defer f.Send()
	fs := report.FileSummary{Name: name}
	// The progress (--metrics-addr's /debug/vars) is published every 1024 packets, at a quiet
	// poll and at the end.
	var pubP, pubB uint64
	publish := func() {
		a.prog.addLive(fs.Packets-pubP, fs.Bytes-pubB, fs.Last)
		pubP, pubB = fs.Packets, fs.Bytes
	}
	defer publish()
	var p capture.Packet
	var lastTick, lastLog time.Time
	for {
		err := src.Next(&p)
		if failing && (err == nil || errors.Is(err, capture.ErrTimeout)) {
			failing = false
			a.readers.Add(1)
			a.log.Info().Str("interface", name).Msg("capturing again")
		}
		switch {
		case err == nil:
		case errors.Is(err, capture.ErrTimeout):
			now := a.now()
			f.Tick(now)
			lastTick = now
			publish()
			continue
		case errors.Is(err, capture.ErrStopped), errors.Is(err, io.EOF):
			return fs
		case transient != nil && transient(err):
			if !failing {
				failing = true
				a.readers.Add(-1)
			}
			if now := time.Now(); now.Sub(lastLog) >= time.Minute {
				lastLog = now
				a.log.Error().Str("interface", name).Msgf("%v (capture goes on when it can)", err)
			}
			time.Sleep(transientPause)
			continue
		default:
			fs.Err = err.Error()
			a.log.Error().Str("interface", name).Msg(err.Error())
			return fs
		}
		// One frame count for the whole interface, in the order the rings are read, so the
		// open flows are ordered by their first packet whatever ring brought it.
		p.Frame = a.frames.Add(1)
		count(&fs, &p)
		f.Packet(&p) // what could not be decoded is counted (Stats, metrics)
		if fs.Packets&1023 == 0 {
			publish()
		}
		// Packet times of a live capture are the wall clock: hand the workers what they wait
		// for at least every tickEvery, also when the batches are slow to fill.
		if p.Timestamp.Sub(lastTick) >= tickEvery {
			f.Tick(p.Timestamp)
			lastTick = p.Timestamp
		}
	}
}
