package audit

import (
	"sync/atomic"
	"time"

	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
)

// Progress is how far an audit has got, for --debug-addr's /debug/vars. The reading goroutine
// and the merging goroutine write it, the debug server's goroutines read it: every field is
// atomic. The reader publishes its counts every 1024 packets and at the end of each file, so
// the per-packet path pays nothing for it.
type Progress struct {
	started   time.Time
	files     int
	filesDone atomic.Int64
	file      atomic.Pointer[string] // the file being read (or the last one read)

	// Of the files read before the current one (reading goroutine only).
	basePackets, baseBytes uint64

	packets, bytes atomic.Uint64
	last           atomic.Int64 // packet time (Unix ns) of the latest packet read
	flows          atomic.Uint64
	findings       atomic.Uint64
	consumed       atomic.Int64 // bytes of the files as stored (compressed or not) read so far
}

// Consumed is how many bytes of the input files, as they are stored (compressed for gzip'd
// ones), have been read: against their sizes on disk, how far the audit has got. Safe from
// any goroutine; published with the other counts.
func (p *Progress) Consumed() int64 { return p.consumed.Load() }

// NewProgress starts the clock of an audit of files inputs.
func NewProgress(files int) *Progress {
	return &Progress{started: time.Now(), files: files}
}

// read publishes the counts of the file being read.
func (p *Progress) read(fs *report.FileSummary) {
	p.packets.Store(p.basePackets + fs.Packets)
	p.bytes.Store(p.baseBytes + fs.Bytes)
	if !fs.Last.IsZero() {
		p.last.Store(fs.Last.UnixNano())
	}
}

// addLive adds what a live reader read since its last call (several readers at once).
func (p *Progress) addLive(packets, bytes uint64, last time.Time) {
	p.packets.Add(packets)
	p.bytes.Add(bytes)
	if !last.IsZero() {
		p.last.Store(last.UnixNano())
	}
}

// fileDone publishes the final counts of a file and makes them the base of the next one.
func (p *Progress) fileDone(fs *report.FileSummary) {
	p.read(fs)
	p.basePackets += fs.Packets
	p.baseBytes += fs.Bytes
	p.filesDone.Add(1)
}

// ProgressDoc is the progress as /debug/vars shows it under "pcapaudit".
type ProgressDoc struct {
	Started       time.Time  `json:"started"`
	Elapsed       float64    `json:"elapsed_seconds"`
	Files         int        `json:"files"`
	FilesDone     int64      `json:"files_done"`
	File          string     `json:"file"`
	Packets       uint64     `json:"packets"`
	Bytes         uint64     `json:"bytes"`
	CaptureTime   *time.Time `json:"capture_time,omitempty"`
	FlowsReported uint64     `json:"flows_reported"`
	Findings      uint64     `json:"findings"`
}

// Snapshot is safe to call from any goroutine.
func (p *Progress) Snapshot() any {
	d := ProgressDoc{
		Started:       p.started,
		Elapsed:       time.Since(p.started).Seconds(),
		Files:         p.files,
		FilesDone:     p.filesDone.Load(),
		Packets:       p.packets.Load(),
		Bytes:         p.bytes.Load(),
		FlowsReported: p.flows.Load(),
		Findings:      p.findings.Load(),
	}
	if f := p.file.Load(); f != nil {
		d.File = *f
	}
	if ns := p.last.Load(); ns != 0 {
		t := time.Unix(0, ns).UTC()
		d.CaptureTime = &t
	}
	return d
}
