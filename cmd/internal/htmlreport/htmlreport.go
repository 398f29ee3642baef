// Package htmlreport writes an audit's report as one self-contained HTML file for a person who
// will not run a command: the overview, a timeline of flows and findings, a sortable and
// filterable findings table with each finding's evidence (file, frame, a Wireshark display
// filter), the hosts and servers seen, and the policy that was used.
//
// The file needs no network: the CSS and the small script are inline, the chart is an SVG
// drawn here in Go (no charting library: a bar chart of at most 120 buckets is a few lines,
// costs no bytes of library in every report and nothing to keep up to date, and it draws
// with scripts disabled), and a Content-Security-Policy forbids every fetch. Every value
// goes through html/template, so what came off the wire is escaped.
package htmlreport

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/cmd/internal/summary"
	"github.com/pcapaudit/pcapaudit/rules"
)

//go:embed report.html.tmpl
var pageSrc string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"human": report.Human,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05.000000")
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02")
	},
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05.000000") },
	"join":  strings.Join,
	"sev":   func(c summary.Counts, s string) uint64 { v, _ := rules.ParseSeverity(s); return c.Of(v) },
	"base":  filepath.Base,
	"protocols": func(ls []flow.Label) string {
		s := make([]string, len(ls))
		for i, l := range ls {
			s[i] = l.String()
		}
		return strings.Join(s, ", ")
	},
}).Parse(pageSrc))

// data is what the template reads.
type data struct {
	R         *summary.Report
	Policy    *rules.Policy
	Chart     chart
	Labels    []labelCount
	Generated string
	Severity  []string
}

type labelCount struct {
	Label string
	N     uint64
}

// Write writes the report to w. pol is the policy the audit used (its rules are listed).
func Write(w io.Writer, r *summary.Report, pol *rules.Policy, version string) error {
	d := data{R: r, Policy: pol, Chart: newChart(r.Timeline), Generated: version,
		Severity: []string{"critical", "high", "medium", "low"}}
	for l := flow.Label(1); l <= flow.NumLabels; l++ {
		lab := l % flow.NumLabels
		if n := r.FlowsByLabel[lab]; n > 0 {
			d.Labels = append(d.Labels, labelCount{lab.String(), n})
		}
	}
	return page.Execute(w, d)
}

// File is an HTML report being written: created (as a temporary file beside the target)
// when the audit starts, so a path that cannot be written is reported before any packet is
// read, and renamed into place when the report is complete.
type File struct {
	path    string
	tmp     *os.File
	pol     *rules.Policy
	version string
	done    bool
}

// Create prepares to write the report to path.
func Create(path string, pol *rules.Policy, version string) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("--html %s: cannot write there: %w", path, unwrapPath(err))
	}
	return &File{path: path, tmp: tmp, pol: pol, version: version}, nil
}

// unwrapPath drops the temporary name from an error (the user named path, not it).
func unwrapPath(err error) error {
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// Write renders the report into the file and moves it into place.
func (f *File) Write(r *summary.Report) error {
	f.done = true
	var buf bytes.Buffer
	if err := Write(&buf, r, f.pol, f.version); err != nil {
		f.Abort()
		return fmt.Errorf("--html %s: %w", f.path, err)
	}
	if _, err := f.tmp.Write(buf.Bytes()); err != nil {
		f.Abort()
		return fmt.Errorf("--html %s: %w", f.path, unwrapPath(err))
	}
	if err := f.tmp.Chmod(0o644); err != nil {
		f.Abort()
		return fmt.Errorf("--html %s: %w", f.path, unwrapPath(err))
	}
	if err := f.tmp.Close(); err != nil {
		os.Remove(f.tmp.Name())
		return fmt.Errorf("--html %s: %w", f.path, unwrapPath(err))
	}
	if err := os.Rename(f.tmp.Name(), f.path); err != nil {
		os.Remove(f.tmp.Name())
		return fmt.Errorf("--html %s: %w", f.path, unwrapPath(err))
	}
	return nil
}

// Abort removes the temporary file if the report was not written (the audit did not
// finish); after Write it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}
