package triage

import (
	"cmp"
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// CSVHeader is the header row of the CSV output: one table, flows and findings, told apart
// by the first column ("flow" or "finding"). One file rather than two, so that it can go to
// standard output like the other formats and a spreadsheet filters it by one column; a
// finding row repeats its flow's columns, so either kind of row stands on its own.
var CSVHeader = []string{
	"record", "time", "file", "frame", "flow_file", "flow_frame", "transport",
	"client_ip", "client_port", "server_ip", "server_port", "protocol",
	"packets", "bytes", "start", "end", "end_reason",
	"rule", "severity", "message", "count", "display_filter",
	"vlan", "inner_vlan", "arrival",
}

// CSV writes flows and findings as RFC 4180 CSV (encoding/csv). Like every output it holds
// no secret: records carry none.
type CSV struct {
	w   *csv.Writer
	all bool
	row []string
}

// NewCSV writes to w; unknown flows only with all.
func NewCSV(w io.Writer, all bool) *CSV {
	c := &CSV{w: csv.NewWriter(w), all: all, row: make([]string, len(CSVHeader))}
	c.w.Write(CSVHeader)
	return c
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Flow implements report.Reporter.
func (c *CSV) Flow(r *flow.Record, findings []*rules.Finding) {
	if r.Label == flow.Unknown && !c.all && len(findings) == 0 {
		return
	}
	row := c.row
	clear(row)
	row[0], row[1], row[2] = "flow", ts(r.Start.Time()), r.File.String()
	row[3] = strconv.FormatUint(r.FirstFrame, 10)
	row[4], row[5] = r.File.String(), row[3]
	row[6] = r.Transport.String()
	row[7], row[8] = r.Client.Addr().Unmap().String(), strconv.Itoa(int(r.Client.Port()))
	row[9], row[10] = r.Server.Addr().Unmap().String(), strconv.Itoa(int(r.Server.Port()))
	row[11] = r.Label.String()
	row[12] = strconv.FormatUint(r.Packets[0]+r.Packets[1], 10)
	row[13] = strconv.FormatUint(r.Bytes[0]+r.Bytes[1], 10)
	row[14], row[15] = ts(r.Start.Time()), ts(r.End.Time())
	if !r.EmitAt.IsZero() || r.EndReason != 0 {
		row[16] = r.EndReason.String()
	}
	filter := report.DisplayFilter(r.Transport, r.Client, r.Server)
	row[21] = filter
	// How the flow arrived: its VLAN ids, and its VLANs and tunnel layers outermost first.
	if r.NVLAN > 0 {
		row[22] = strconv.Itoa(int(r.VLAN[0]))
	}
	if r.NVLAN > 1 {
		row[23] = strconv.Itoa(int(r.VLAN[1]))
	}
	row[24] = report.Arrival(r)
	c.w.Write(row)
	for _, f := range findings {
		row[0], row[1] = "finding", ts(f.Evidence.Time.Time())
		row[2] = cmp.Or(f.Evidence.File.String(), r.File.String())
		row[3] = strconv.FormatUint(f.Evidence.Frame, 10)
		row[17], row[18], row[19] = f.Rule.ID, f.Rule.Severity.String(), f.Message
		row[20] = strconv.Itoa(f.Count)
		c.w.Write(row)
	}
}

// Close implements report.Reporter.
func (c *CSV) Close(*report.Summary) error {
	c.w.Flush()
	return c.w.Error()
}
