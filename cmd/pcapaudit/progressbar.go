package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// barDelay is how long a read runs before the progress bar appears: a short audit shows
// none. A variable so that tests can make it short.
var barDelay = 2 * time.Second

// barEvery is how often the bar is redrawn.
const barEvery = 200 * time.Millisecond

// startBar shows, on stderr when it is a terminal, a progress bar of read() bytes out of
// total (the inputs' sizes on disk) — bytes, rate and time left — once the read has taken
// longer than barDelay. It draws nothing when stderr is not a terminal (a pipe, a file, a
// log collector) or when the total is unknown (standard input). stop removes the bar.
//
// progressbar (github.com/schollz/progressbar/v3): one bar with bytes, rate and ETA is
// exactly its use, it writes to any io.Writer, and it is small and maintained; mpb is made
// for many concurrent bars, which an audit does not have.
func startBar(stderr io.Writer, total int64, read func() int64) (stop func()) {
	f, ok := stderr.(*os.File)
	if !ok || total <= 0 || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
			return
		case <-time.After(barDelay):
		}
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(f),
			progressbar.OptionSetDescription("reading"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(barEvery),
			progressbar.OptionClearOnFinish(),
		)
		tk := time.NewTicker(barEvery)
		defer tk.Stop()
		for {
			bar.Set64(min(read(), total))
			select {
			case <-done:
				bar.Clear()
				return
			case <-tk.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// inputSize is the sum of the inputs' sizes on disk, or 0 when one is standard input.
func inputSize(names []string) int64 {
	var n int64
	for _, name := range names {
		st, err := os.Stat(name)
		if name == "-" || err != nil {
			if name == "-" {
				return 0
			}
			continue
		}
		n += st.Size()
	}
	return n
}
