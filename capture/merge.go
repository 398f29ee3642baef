package capture

import (
	"container/heap"
	"errors"
	"io"
	"os"
	"slices"
	"time"
)

// Merge reads several captures as one, in packet-time order: files that follow each other
// (a rotated set) and files that overlap in time are merged packet by packet, not
// concatenated. Every packet keeps the File and Frame of the file it came from.
//
// Files are opened lazily, so that a directory of hundreds of files costs the memory of the
// few that are being read, not of all of them. Before the first packet, each file is opened,
// its first packet read and the file closed again; then a file is opened for good only when
// the merge reaches its first packet's time, and closed at its end. At any moment the files
// open are those whose time span contains the merge point (one or two for a rotated set),
// each with its read buffer (256 KiB, and a gzip window). Standard input cannot be read
// twice: it stays open from the start.
//
// A file that cannot be opened, or that is cut short, ends with an error passed to OnEnd;
// the others are still read. Within one file, packets come in the file's order (a file's
// timestamps that go backwards are not reordered).
type Merge struct {
	names []string
	stdin io.Reader
	// OnEnd, if set, is called once per file when it has been read to its end (err nil) or
	// stopped by an error (it cannot be opened, is not a capture, is cut short: every packet
	// before the damage was delivered first). i is the file's index in the names given.
	OnEnd func(i int, err error)

	started bool
	pending []*mergeIn // not open yet, by first packet time (latest first: popped from the end)
	open    mergeHeap  // open files, by their current packet's time
	cur     *mergeIn   // the file of the packet Next returned last: advanced by the next call
	last    int        // its index

	free     []*bufs // read buffers of files that were closed, for the next to open
	consumed int64   // bytes read of the files that ended (Consumed)
	maxOpen  int     // the most files open at once (after the first packets were read)
}

type mergeIn struct {
	i     int
	name  string
	src   Source
	first time.Time
	p     Packet
	live  bool  // opened for good (not the first look)
	b     *bufs // its read buffers, back to the free list when it is closed
}

// NewMerge merges the captures named (Stdin "-" reads stdin, at most once).
func NewMerge(names []string, stdin io.Reader) *Merge {
	if stdin == nil {
		stdin = os.Stdin
	}
	return &Merge{names: names, stdin: stdin, last: -1}
}

// Index is the index, in the names given, of the file the last packet came from.
func (m *Merge) Index() int { return m.last }

func (m *Merge) end(in *mergeIn, err error) {
	if in.src != nil && in.live {
		m.consumed += Consumed(in.src)
	}
	m.close(in)
	if err == io.EOF {
		err = nil
	}
	if m.OnEnd != nil {
		m.OnEnd(in.i, err)
	}
}

// openOne opens in's file, with read buffers from the free list: a rotated set, read one
// file after the other, reuses the same few buffers instead of making garbage of one per file.
func (m *Merge) openOne(in *mergeIn) error {
	var err error
	if in.name == Stdin {
		in.src, err = OpenReader(in.name, m.stdin)
		return err
	}
	if n := len(m.free); n > 0 {
		in.b, m.free = m.free[n-1], m.free[:n-1]
	} else {
		in.b = new(bufs)
	}
	in.src, err = openWith(in.name, in.b)
	if err != nil {
		m.free = append(m.free, in.b)
		in.b = nil
	}
	return err
}

// close closes in's file and gives its buffers back.
func (m *Merge) close(in *mergeIn) {
	if in.src != nil {
		in.src.Close()
		in.src = nil
	}
	if in.b != nil {
		m.free = append(m.free, in.b)
		in.b = nil
	}
}

// start reads the first packet of every file (closing the files again, but stdin).
func (m *Merge) start() {
	m.started = true
	for i, name := range m.names {
		in := &mergeIn{i: i, name: name}
		if err := m.openOne(in); err != nil {
			m.end(in, err)
			continue
		}
		if err := in.src.Next(&in.p); err != nil {
			m.end(in, err) // empty, or cut short before its first packet
			continue
		}
		in.first = in.p.Timestamp
		if name == Stdin {
			in.live = true
			heap.Push(&m.open, in) // keep it open: its first packet is waiting in in.p
			continue
		}
		m.close(in)
		in.p = Packet{Timestamp: in.first} // keep no pointer into the closed reader's buffers
		m.pending = append(m.pending, in)
	}
	// Latest first, so the next file to open is at the end; equal times keep the order given.
	slices.SortStableFunc(m.pending, func(a, b *mergeIn) int {
		if c := b.first.Compare(a.first); c != 0 {
			return c
		}
		return b.i - a.i
	})
}

// Next fills p with the next packet in time order across the files. It returns io.EOF when
// every file has ended; a file's own error goes to OnEnd and does not end the merge. p.Data
// is valid until the next call.
func (m *Merge) Next(p *Packet) error {
	if !m.started {
		m.start()
	}
	if in := m.cur; in != nil {
		m.cur = nil
		if err := in.src.Next(&in.p); err != nil {
			heap.Pop(&m.open)
			m.end(in, err)
		} else {
			heap.Fix(&m.open, 0)
		}
	}
	for {
		// Open every file whose first packet is due before the earliest open one.
		for len(m.pending) > 0 {
			in := m.pending[len(m.pending)-1]
			if m.open.Len() > 0 && m.open.less(m.open[0], in) {
				break
			}
			m.pending = m.pending[:len(m.pending)-1]
			if err := m.openOne(in); err != nil {
				m.end(in, err) // it could be read a moment ago: removed, permissions changed
				continue
			}
			in.live = true
			if err := in.src.Next(&in.p); err != nil {
				m.end(in, err)
				continue
			}
			heap.Push(&m.open, in)
			m.maxOpen = max(m.maxOpen, m.open.Len())
		}
		if m.open.Len() == 0 {
			if len(m.pending) == 0 {
				return io.EOF
			}
			continue
		}
		in := m.open[0]
		*p = in.p
		m.cur, m.last = in, in.i
		return nil
	}
}

// Consumed is how many bytes of the files (as stored: compressed for gzip'd ones) the merge
// has read, not counting the first look at each file; with the files' sizes, how far it got.
func (m *Merge) Consumed() int64 {
	n := m.consumed
	for _, in := range m.open {
		if in.src != nil {
			n += Consumed(in.src)
		}
	}
	return n
}

// MaxOpen is the most files the merge had open at once (what bounds its buffers).
func (m *Merge) MaxOpen() int { return m.maxOpen }

// Close closes the files still open (after an interrupted read).
func (m *Merge) Close() error {
	var errs []error
	for _, in := range m.open {
		if in.src != nil {
			errs = append(errs, in.src.Close())
			in.src = nil
		}
	}
	m.open, m.pending, m.cur, m.free = nil, nil, nil, nil
	return errors.Join(errs...)
}

// mergeHeap orders the open files by the time of the packet each holds, then by the order
// the files were given in.
type mergeHeap []*mergeIn

func (h mergeHeap) less(a, b *mergeIn) bool {
	bt := b.p.Timestamp
	if b.src == nil && b.name != Stdin {
		bt = b.first // b is not open yet: its first packet
	}
	if c := a.p.Timestamp.Compare(bt); c != 0 {
		return c < 0
	}
	return a.i < b.i
}

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return h.less(h[i], h[j]) }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(*mergeIn)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
