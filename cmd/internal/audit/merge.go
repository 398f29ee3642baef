package audit

import (
	"context"
	"io"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
)

// Merge audits several inputs as one capture: their packets merged in packet time
// (capture.Merge), so that a flow spanning rotated files is one flow and files that overlap
// in time are interleaved. Flows stay open from one file to the next; Close ends them. Each
// input gets its own summary (packets, warnings, errors), in the order given; an input that
// cannot be read or is cut short is reported and the others are still read. stdin serves
// capture.Stdin. It returns the summaries of the inputs.
func (a *Audit) Merge(ctx context.Context, names []string, stdin io.Reader) []report.FileSummary {
	frs := make([]fileRead, len(names))
	for i, n := range names {
		frs[i].fs.Name = n
	}
	m := capture.NewMerge(names, stdin)
	m.OnEnd = func(i int, err error) {
		a.endFile(&frs[i], err)
		a.prog.filesDone.Add(1)
	}
	defer m.Close()
	var p capture.Packet
	var total report.FileSummary // for the progress
	done := ctx.Done()
	cur := -1
	for n := 0; ; n++ {
		if n&1023 == 0 {
			a.prog.read(&total)
			a.prog.consumed.Store(m.Consumed())
			select {
			case <-done:
				return a.mergeDone(frs)
			default:
			}
		}
		if m.Next(&p) != nil {
			break
		}
		i := m.Index()
		if i != cur {
			cur = i
			a.prog.file.Store(&names[i])
		}
		a.packet(&frs[i], &p)
		total.Packets++
		total.Bytes += uint64(len(p.Data))
		if p.Timestamp.After(total.Last) {
			total.Last = p.Timestamp
		}
	}
	a.prog.read(&total)
	a.prog.consumed.Store(m.Consumed())
	return a.mergeDone(frs)
}

func (a *Audit) mergeDone(frs []fileRead) []report.FileSummary {
	out := make([]report.FileSummary, len(frs))
	for i := range frs {
		out[i] = frs[i].fs
	}
	a.sum.Files = append(a.sum.Files, out...)
	return out
}
