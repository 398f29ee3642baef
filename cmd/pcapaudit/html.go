package main

import (
	"github.com/pcapaudit/pcapaudit/cmd/internal/htmlreport"
	"github.com/pcapaudit/pcapaudit/cmd/internal/summary"
	"github.com/pcapaudit/pcapaudit/rules"
)

// maxHTMLFindings is the number of findings the HTML report lists; past it they are
// counted (the NDJSON output has them all). 10,000 rows stay usable in a browser.
const maxHTMLFindings = 10_000

// addHTML makes agg write the HTML report to path when the audit closes. The file is created
// now (beside path, renamed into place at the end), so a path that cannot be written stops
// the command before it reads anything. The caller aborts the returned file if the audit
// does not reach its end.
func addHTML(agg *summary.Aggregator, path string, pol *rules.Policy) (*htmlreport.File, error) {
	f, err := htmlreport.Create(path, pol, versionString())
	if err != nil {
		return nil, usageErr("%v", err)
	}
	agg.Output(f.Write)
	return f, nil
}
