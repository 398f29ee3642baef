package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pcapaudit/pcapaudit/cmd/internal/audit"
	"github.com/pcapaudit/pcapaudit/cmd/internal/summary"
	"github.com/pcapaudit/pcapaudit/cmd/internal/triage"
)

const summaryLong = `Summarise captures for a person: per host its roles (client, server), protocols, flows,
bytes and findings by severity; per protocol the servers seen (LDAP and NTP servers, SIP
registrars and user agents) with the TLS versions, cipher suites and certificates
(subject, issuer, expiry) they presented; and the top talkers.

--format text (aligned tables), json (one document) or csv (one table, the record kind in
the first column). --html FILE also writes the self-contained HTML report.

Inputs are files and directories (walked for captures), merged in packet time; the filters
(--host, --port, --protocol, --since, --until, --only-findings, --min-severity, --rule) narrow
the summary as they narrow the audit.

Memory is bounded: --max-hosts hosts and as many servers are listed (the first seen);
flows of hosts and servers past the bound are counted in the totals and said so.

Exit codes:
  0  the summary was written
  2  usage error, unreadable file, not a capture, a bad policy, or an output that cannot
     be written (with several files, the readable ones are still summarised)`

// summaryOptions are the flags of the summary command.
type summaryOptions struct {
	engineFlags
	filters  triageFlags
	format   string
	html     string
	top      int
	maxHosts int
	all      bool
}

func newSummaryCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var o summaryOptions
	cmd := &cobra.Command{
		Use:   "summary [flags] FILE|DIR...",
		Short: "Summarise hosts, servers, TLS certificates and SIP user agents in captures",
		Long:  summaryLong,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("summary: no capture file given (use - for standard input)")
			}
			return runSummary(cmd.Context(), &o, args, stdin, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.format, "format", "f", "text", "output format: text, json or csv")
	fl.StringVar(&o.html, "html", "", "also write the self-contained HTML report to this file")
	fl.IntVar(&o.top, "top", 10, "top talkers listed")
	fl.IntVar(&o.maxHosts, "max-hosts", summary.DefaultLimits().Hosts, "hosts (and servers) listed at most; past it their flows are counted in the totals only")
	fl.BoolVarP(&o.all, "all", "a", false, "also count flows labelled unknown")
	o.engineFlags.add(fl, "flow workers (the output is the same for any number)")
	o.filters.addFilters(fl)
	return cmd
}

func runSummary(ctx context.Context, o *summaryOptions, files []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var render func(io.Writer, *summary.Report) error
	switch o.format {
	case "text":
		render = summary.WriteText
	case "json":
		render = summary.WriteJSON
	case "csv":
		render = summary.WriteCSV
	default:
		return usageErr("--format %q: want text, json or csv", o.format)
	}
	if o.top < 1 {
		return usageErr("--top %d: want a positive number", o.top)
	}
	if o.maxHosts < 1 {
		return usageErr("--max-hosts %d: want a positive number", o.maxHosts)
	}
	if err := o.engineFlags.check(); err != nil {
		return err
	}
	filter, _, err := o.filters.setup(files)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, o.logLevel, "summary")
	if err != nil {
		return err
	}
	in, err := expandInputs(files, log)
	if err != nil {
		return err
	}
	pol, err := o.loadPolicy()
	if err != nil {
		return &exitErr{code: exitError, err: err}
	}
	lim := summary.Limits{Hosts: o.maxHosts, Servers: o.maxHosts, Top: o.top}
	if o.html != "" {
		lim.Findings = maxHTMLFindings
	}
	agg := summary.New(lim)
	agg.Output(func(r *summary.Report) error { return render(stdout, r) })
	if o.html != "" {
		hf, err := addHTML(agg, o.html, pol)
		if err != nil {
			return err
		}
		defer hf.Abort()
	}
	a := audit.New(audit.Options{
		Policy: pol, Workers: o.workers, MaxFlows: o.maxFlows, InspectWindow: o.window, All: o.all,
		Sinks: []audit.Sink{triage.NewSink(filter, agg)}, Log: log, Engine: o.engineWith(filter),
	})
	bad := readInputs(ctx, a, in, stdin, log)
	if _, err := a.Close(); err != nil {
		return &exitErr{code: exitError, err: fmt.Errorf("writing the summary: %w", err)}
	}
	if bad > 0 {
		return &exitErr{code: exitError}
	}
	return nil
}
