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

// Live reads live sources — the rings of one interface, or a file replayed at its pace —
// each on a goroutine of its own with its own decoder, until every source ends (ErrStopped,
// end of file, an error). When ctx is done, stop is called once: it must make the sources
// return ErrStopped (capture's Stop). The flows still open are not ended: Close does that.
// What was read is added to the summary under name, and returned.
//
// A source returns capture.ErrTimeout when no packet came within its poll interval: the
// reader then moves the clock on to the wall clock, so a quiet link still ends its flows.
func (a *Audit) Live(ctx context.Context, name string, srcs []capture.Source, stop func()) report.FileSummary {
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
			sums[i] = a.readLive(name, src)
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
	a.prog.fileDone(&fs)
	a.sum.Files = append(a.sum.Files, fs)
	return fs
}

// Readers is the number of live readers running (Live): a sensor is healthy while every one
// of its rings is read.
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
func (a *Audit) readLive(name string, src capture.Source) report.FileSummary {
	f := a.eng.NewFeeder()
	a.readers.Add(1)
	defer a.readers.Add(-1)
	defer f.Send()
	fs := report.FileSummary{Name: name}
	var p capture.Packet
	var lastTick time.Time
	for {
		err := src.Next(&p)
		switch {
		case err == nil:
		case errors.Is(err, capture.ErrTimeout):
			now := a.now()
			f.Tick(now)
			lastTick = now
			continue
		case errors.Is(err, capture.ErrStopped), errors.Is(err, io.EOF):
			return fs
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
		// Packet times of a live capture are the wall clock: hand the workers what they wait
		// for at least every tickEvery, also when the batches are slow to fill.
		if p.Timestamp.Sub(lastTick) >= tickEvery {
			f.Tick(p.Timestamp)
			lastTick = p.Timestamp
		}
	}
}
