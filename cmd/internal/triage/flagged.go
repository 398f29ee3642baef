package triage

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// Flagged collects, as a sink, the flows that have a finding (behind a Sink: the findings
// that pass the filter), and then writes their packets to a pcapng file in a second pass
// over the inputs (WriteTo). It holds, per flagged flow, where its first packet is, its end
// time and the comments of its evidence packets: memory grows with the flows flagged, not
// with the capture.
type Flagged struct {
	first    map[frameRef]*flagged // by the (file, frame) of the flow's first packet
	comments map[frameRef][]string // comments per evidence packet
	n        int
}

type frameRef struct {
	file  string
	frame uint64
}

type flagged struct {
	end flow.Time
}

// NewFlagged returns an empty collector.
func NewFlagged() *Flagged {
	return &Flagged{first: map[frameRef]*flagged{}, comments: map[frameRef][]string{}}
}

// Flows is the number of flows flagged so far.
func (c *Flagged) Flows() int { return c.n }

// Flow implements report.Reporter.
func (c *Flagged) Flow(r *flow.Record, findings []*rules.Finding) {
	if len(findings) == 0 {
		return
	}
	ref := frameRef{r.File.String(), r.FirstFrame}
	if x := c.first[ref]; x != nil { // an interim record, then the final one
		x.end = r.End
	} else {
		c.first[ref] = &flagged{end: r.End}
		c.n++
	}
	for _, f := range findings {
		ev := frameRef{cmp.Or(f.Evidence.File.String(), r.File.String()), f.Evidence.Frame}
		c.comments[ev] = append(c.comments[ev], fmt.Sprintf("pcapaudit %s (%s): %s", f.Rule.ID, f.Rule.Severity, f.Message))
	}
}

// Close implements report.Reporter (WriteTo does the writing).
func (c *Flagged) Close(*report.Summary) error { return nil }

// ErrNeedsFile: the flagged capture needs a second pass over the inputs, and standard input
// cannot be read twice.
var ErrNeedsFile = errors.New("--write-flagged needs capture files: standard input cannot be read a second time (save it to a file first)")

// WriteStats is what WriteTo wrote.
type WriteStats struct {
	Packets, Comments, Flows int
}

// WriteTo reads the inputs again, in the same merged order as the audit, and writes every
// packet of the flagged flows to w as pcapng: original timestamps and link types (one
// interface per link type), a comment on each evidence packet naming the rule and its
// message. A packet belongs to a flagged flow when it has the flow's key — as the engine
// computes it (classify.KeyOf), so tunnels and VLANs count as the engine counts them — and
// comes from the flow's first packet up to its last. admit, if set, is the filter's cheap
// part as the audit used it (a fresh Filter: its relative times are fixed again by the first
// packet). dcfg must be the decoder settings the audit's engine used, so that packets decode
// (and tunnels unwrap) to the same keys. Files that cannot be read were reported by the
// audit: they are skipped here.
func (c *Flagged) WriteTo(w io.Writer, inputs []string, dcfg decode.Config, admit func(*decode.Packet, time.Time) bool) (WriteStats, error) {
	var st WriteStats
	bw := bufio.NewWriterSize(w, 256<<10)
	var ng *pcapgo.NgWriter
	ifaces := map[layers.LinkType]int{}
	iface := func(lt layers.LinkType) (int, error) {
		if id, ok := ifaces[lt]; ok {
			return id, nil
		}
		intf := pcapgo.NgInterface{Name: "pcapaudit-" + lt.String(), LinkType: lt, SnapLength: capture.MaxRecord, TimestampResolution: 9}
		var id int
		var err error
		if ng == nil {
			ng, err = pcapgo.NewNgWriterInterface(bw, intf, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "pcapaudit --write-flagged"}})
		} else {
			id, err = ng.AddInterface(intf)
		}
		ifaces[lt] = id
		return id, err
	}
	m := capture.NewMerge(inputs, nil)
	defer m.Close()
	dec := decode.New(dcfg)
	var dp decode.Packet
	open := map[classify.FlowKey]*flagged{}
	var p capture.Packet
	for m.Next(&p) == nil {
		if dec.Decode(p.Data, p.LinkType, p.Timestamp, &dp) != decode.OK {
			continue
		}
		if admit != nil && !admit(&dp, p.Timestamp) {
			continue
		}
		k := classify.KeyOf(&dp)
		ref := frameRef{p.File, p.Frame}
		fl := open[k]
		if x := c.first[ref]; x != nil {
			open[k], fl = x, x
			st.Flows++
		}
		if fl == nil {
			continue
		}
		if flow.TimeOf(p.Timestamp).After(fl.end) {
			delete(open, k)
			continue
		}
		id, err := iface(p.LinkType)
		if err != nil {
			return st, err
		}
		ci := gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(p.Data), Length: max(p.Length, len(p.Data)), InterfaceIndex: id}
		var opts pcapgo.NgPacketOptions
		if cs := c.comments[ref]; len(cs) > 0 {
			opts.Comments = cs
			st.Comments += len(cs)
		}
		if err := ng.WritePacketWithOptions(ci, p.Data, opts); err != nil {
			return st, err
		}
		st.Packets++
	}
	if ng == nil { // nothing flagged: still a valid, empty capture
		var err error
		if ng, err = pcapgo.NewNgWriter(bw, layers.LinkTypeEthernet); err != nil {
			return st, err
		}
	}
	if err := ng.Flush(); err != nil {
		return st, err
	}
	return st, bw.Flush()
}

// CreateOutput creates an output file before the audit starts, so that a path that cannot
// be written stops the run before any work is done.
func CreateOutput(flag, name string) (*os.File, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("--%s: cannot write %s: %w", flag, name, errors.Unwrap(err))
	}
	return f, nil
}
