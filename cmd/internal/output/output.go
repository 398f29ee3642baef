// Package output is where a live sensor writes its NDJSON: standard output or a file that
// rotates by size and age with a bounded number of old files kept, reopened on request (for
// logrotate), behind a bounded buffer that drops whole documents — counted — rather than
// stall the capture when the destination is slow or blocked.
package output

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Options say where documents go.
type Options struct {
	// Path is the file to write ("" or "-": standard output, given as Stdout).
	Path   string
	Stdout io.Writer
	// MaxSizeMB rotates the file when it reaches this size (megabytes); RotateEvery rotates
	// it at this interval whatever its size (0: never by age). Keep is the number of rotated
	// files kept (the oldest are deleted).
	MaxSizeMB   int
	RotateEvery time.Duration
	Keep        int
	// Buffer bounds the bytes waiting to be written. Documents that do not fit are dropped
	// whole and counted.
	Buffer int
}

// Writer is an io.Writer of NDJSON that never blocks its caller: what it is given is queued
// for a goroutine of its own that writes it out. It counts the documents (lines) written and
// dropped.
type Writer struct {
	dst  io.Writer
	file *lumberjack.Logger // nil for standard output

	mu      sync.Mutex
	cond    *sync.Cond
	queue   [][]byte // complete lines, in order
	queued  int      // bytes in queue
	max     int
	tail    []byte // a partial line, waiting for its end
	closing bool
	done    chan struct{}
	err     error // the first write error (kept; later documents are dropped)

	written, dropped atomic.Uint64
	stopRotate       chan struct{}
}

// Open starts a Writer. A file that cannot be created is an error now, not later.
func Open(o Options) (*Writer, error) {
	w := &Writer{max: o.Buffer, done: make(chan struct{}), stopRotate: make(chan struct{})}
	if w.max <= 0 {
		w.max = 16 << 20
	}
	w.cond = sync.NewCond(&w.mu)
	if o.Path == "" || o.Path == "-" {
		w.dst = o.Stdout
	} else {
		w.file = &lumberjack.Logger{Filename: o.Path, MaxSize: max(o.MaxSizeMB, 1), MaxBackups: o.Keep}
		// Open it now, so that a path that cannot be written is said before capture starts.
		if _, err := w.file.Write(nil); err != nil {
			return nil, err
		}
		w.dst = w.file
		if o.RotateEvery > 0 {
			go w.rotateEvery(o.RotateEvery)
		}
	}
	go w.run()
	return w, nil
}

// Write queues the complete lines of p (a partial line waits for its end). Lines that do not
// fit in the buffer are dropped and counted. It never blocks on the destination.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if len(w.tail) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.tail = append(w.tail, p...)
			return n, nil
		}
		w.tail = append(w.tail, p[:i+1]...)
		w.enqueue(w.tail)
		w.tail = nil
		p = p[i+1:]
	}
	last := bytes.LastIndexByte(p, '\n')
	if last >= 0 {
		w.enqueue(bytes.Clone(p[:last+1]))
	}
	if rest := p[last+1:]; len(rest) > 0 {
		w.tail = append([]byte(nil), rest...)
	}
	return n, nil
}

// enqueue queues complete lines, or drops them when they do not fit or writing has failed.
func (w *Writer) enqueue(lines []byte) {
	if w.closing || w.err != nil || w.queued+len(lines) > w.max {
		w.dropped.Add(uint64(bytes.Count(lines, []byte{'\n'})))
		return
	}
	w.queue = append(w.queue, lines)
	w.queued += len(lines)
	w.cond.Signal()
}

func (w *Writer) run() {
	defer close(w.done)
	w.mu.Lock()
	for {
		for len(w.queue) == 0 && !w.closing {
			w.cond.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			return
		}
		q := w.queue
		w.queue = nil
		w.mu.Unlock()
		for i, b := range q {
			_, err := w.dst.Write(b)
			lines := uint64(bytes.Count(b, []byte{'\n'}))
			if err != nil {
				w.mu.Lock()
				if w.err == nil {
					w.err = err
				}
				w.mu.Unlock()
				w.dropped.Add(lines)
				for _, r := range q[i+1:] {
					w.dropped.Add(uint64(bytes.Count(r, []byte{'\n'})))
				}
				break
			}
			w.written.Add(lines)
		}
		w.mu.Lock()
		for _, b := range q {
			w.queued -= len(b)
		}
	}
}

// Reopen closes the file; the next document opens it again by its name (after logrotate has
// moved it away, a new one). On standard output it does nothing.
func (w *Writer) Reopen() error {
	if w.file == nil {
		return nil
	}
	return w.file.Close()
}

func (w *Writer) rotateEvery(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.file.Rotate() //nolint:errcheck // a failed rotation leaves the file growing; the next write says why
		case <-w.stopRotate:
			return
		}
	}
}

// Written and Dropped count the documents written out and those dropped (buffer full or the
// destination failing).
func (w *Writer) Written() uint64 { return w.written.Load() }

// Dropped: see Written.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Close writes what is queued (a partial last line included), stops the writer and closes the
// file. It returns the first write error, if any.
func (w *Writer) Close() error {
	w.mu.Lock()
	if len(w.tail) > 0 {
		w.enqueue(append(w.tail, '\n'))
		w.tail = nil
	}
	w.closing = true
	w.cond.Signal()
	w.mu.Unlock()
	<-w.done
	close(w.stopRotate)
	var err error
	if w.file != nil {
		err = w.file.Close()
	}
	return errors.Join(w.err, err)
}
