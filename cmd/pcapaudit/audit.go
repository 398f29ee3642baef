package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/debugserver"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

const rootLong = `pcapaudit reads packet captures (pcap or pcapng, optionally gzip-compressed; "-" for
standard input), follows every flow, says which flows are NTP, SIP, SIP-TLS, LDAP or LDAPS
— by their content, not their port — and reports the insecure variants its policy flags:
cleartext LDAP binds, SIP digests and SRTP keys in the clear, NTP monlist queries, obsolete
TLS, and more.

Exit codes:
  0  no finding at or above --fail-on
  1  at least one finding at or above --fail-on
  2  usage error, unreadable file, not a capture, or a bad policy
     (with several files, the readable ones are still audited)`

// auditOptions are the flags of an audit.
type auditOptions struct {
	format     string
	failOn     string
	policy     string
	all        bool
	maxFlows   int
	window     int
	perLabel   int
	color      string
	logLevel   string
	cpuProfile string
	memProfile string
	debugAddr  string
	workers    int
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:           "pcapaudit [flags] FILE...",
		Short:         "Classify and audit NTP, SIP, LDAP and their TLS variants in packet captures",
		Long:          rootLong,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("no capture file given (use - for standard input)")
			}
			return runAudit(cmd.Context(), &o, args, stdin, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.format, "format", "f", "text", "output format: text (for a person) or json (NDJSON, Elastic Common Schema)")
	fl.StringVar(&o.failOn, "fail-on", "medium", "exit 1 when a finding has this severity or higher: low, medium, high, critical, or none")
	fl.StringVarP(&o.policy, "policy", "p", "", "policy file replacing the default policy (see 'pcapaudit policy')")
	fl.BoolVarP(&o.all, "all", "a", false, "also list flows labelled unknown")
	fl.IntVar(&o.maxFlows, "max-flows", 1_000_000, "flows tracked at once; the least recently active is evicted when full")
	fl.IntVar(&o.window, "inspect-window", classify.DefaultConfig().InspectWindow, "bytes per flow direction a detector may wait on (an undecided prefix, an incomplete message); past it inspection stops, counted")
	fl.IntVar(&o.perLabel, "list", 20, "text format: flows listed per label and findings shown per rule (the rest are counted)")
	fl.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "flow workers (the output is the same for any number)")
	fl.StringVar(&o.color, "color", "auto", "text format colours: auto (on a terminal, unless NO_COLOR is set), always, never")
	fl.StringVar(&o.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	fl.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	fl.StringVar(&o.memProfile, "memprofile", "", "write a heap profile to this file at the end")
	fl.StringVar(&o.debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof/) and the audit's progress (/debug/vars) on this address while it runs, e.g. localhost:6060")
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.AddCommand(newPolicyCmd(stdout), newVersionCmd(stdout))
	return cmd
}

func usageErr(format string, a ...any) error {
	return &exitErr{code: exitError, err: fmt.Errorf(format, a...)}
}

// newLogger logs to stderr: a console format on a terminal, JSON otherwise.
func newLogger(stderr io.Writer, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), usageErr("--log-level %q: want debug, info, warn or error", level)
	}
	var w io.Writer = stderr
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("component", "audit").Logger(), nil
}

func runAudit(ctx context.Context, o *auditOptions, files []string, stdin io.Reader, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	var failOn rules.Severity
	if o.failOn != "none" {
		if failOn, err = rules.ParseSeverity(o.failOn); err != nil {
			return usageErr("--fail-on %q: want low, medium, high, critical or none", o.failOn)
		}
	}
	if o.workers < 1 || o.workers > 256 {
		return usageErr("--workers %d: want 1 to 256", o.workers)
	}
	if o.maxFlows <= 0 {
		return usageErr("--max-flows %d: want a positive number", o.maxFlows)
	}
	if o.window < 512 || o.window > 16<<20 {
		return usageErr("--inspect-window %d: want 512 to 16777216 bytes", o.window)
	}
	pol := rules.Default()
	if o.policy != "" {
		if pol, err = rules.LoadFile(o.policy); err != nil {
			return &exitErr{code: exitError, err: err}
		}
	}
	var rep report.Reporter
	switch o.format {
	case "text":
		rep = report.NewText(stdout, o.all, useColor(o.color, stdout), o.perLabel)
	case "json", "ndjson":
		rep = report.NewJSON(stdout, o.all, pol.Name)
	default:
		return usageErr("--format %q: want text or json", o.format)
	}
	if o.color != "auto" && o.color != "always" && o.color != "never" {
		return usageErr("--color %q: want auto, always or never", o.color)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return usageErr("--cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return usageErr("--cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}

	prog := newProgress(len(files))
	if o.debugAddr != "" {
		srv, err := debugserver.Start(o.debugAddr, prog.snapshot)
		if err != nil {
			return usageErr("--debug-addr %q: %v", o.debugAddr, err)
		}
		defer srv.Close()
		log.Info().Str("addr", srv.Addr()).Msgf("profiles on http://%s/debug/pprof/, progress on http://%s/debug/vars", srv.Addr(), srv.Addr())
	}

	a := newAuditor(pol, rep, prog, o.maxFlows, o.window, o.workers, o.all)
	defer a.eng.Close()
	sum := &report.Summary{Policy: pol.Name}
	bad := 0
	for _, name := range files {
		fs := a.file(ctx, name, stdin, log)
		if fs.Err != "" {
			bad++
		}
		sum.Files = append(sum.Files, fs)
		if ctx.Err() != nil {
			log.Warn().Msg("interrupted: reporting what was read so far")
			break
		}
	}
	sum.Stats = a.eng.Stats()
	sum.PolicyErrors = a.policyErrors()
	for _, e := range sum.PolicyErrors {
		log.Warn().Str("rule", e.Rule).Uint64("count", e.Count).Str("first", e.First).
			Msgf("%s: rule %s failed to evaluate %d time(s), counted as no match: %s", pol.Name, e.Rule, e.Count, e.First)
	}
	a.out.close()
	if err := rep.Close(sum); err != nil {
		return &exitErr{code: exitError, err: fmt.Errorf("writing the report: %w", err)}
	}
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			log.Error().Err(err).Msg("--memprofile")
		}
	}
	switch {
	case bad > 0:
		return &exitErr{code: exitError}
	case a.worst >= failOn && failOn != 0:
		return &exitErr{code: exitFindings}
	}
	return nil
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func useColor(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// auditor wires the stages: capture → engine → policy → reporter. The policy's conditions and
// messages run on the engine's workers, as each flow ends (rules.Checker.Match, one Checker
// per worker); its thresholds, which count flows in order, run on the engine's merging
// goroutine (Apply); the reporter follows on its own goroutine (reportPipe), in the same
// order.
type auditor struct {
	eng      *classify.Parallel
	pol      *rules.Policy
	checker  *rules.Checker   // Apply, on the merging goroutine
	workers  []*rules.Checker // Match, one per worker
	matches  sync.Pool        // *[]rules.Match: from a worker's Match to the merger's Apply
	out      *reportPipe
	findings []*rules.Finding
	worst    rules.Severity
	prog     *progress
}

func newAuditor(pol *rules.Policy, rep report.Reporter, prog *progress, maxFlows, window, workers int, all bool) *auditor {
	a := &auditor{pol: pol, checker: pol.NewChecker(), out: newReportPipe(rep), prog: prog}
	a.matches.New = func() any { return new([]rules.Match) }
	cfg := classify.DefaultConfig()
	cfg.MaxFlows = maxFlows
	cfg.InspectWindow = window
	cfg.SkipUnknown = !all // unknown flows raise no finding: count them, list them only on request
	st := &pol.Settings
	cfg.TCPTimeout, cfg.TCPClosedTimeout, cfg.UDPTimeout = st.Timeouts.TCP, st.Timeouts.TCPClosed, st.Timeouts.UDP
	cfg.Detectors = classify.Detectors(st.TLSPorts)
	a.workers = make([]*rules.Checker, workers)
	a.eng = classify.NewParallelAnnotated(cfg, workers, func(w int) classify.Annotator {
		ch := pol.NewChecker()
		a.workers[w] = ch
		return func(r *flow.Record) any { return a.match(ch, r) }
	}, a.flow)
	return a
}

// policyErrors lists, in policy order, the rules whose expressions failed while running on
// the workers' checkers, with their counts and first errors. Call it when every flow has
// been checked (after the engine's Flush).
func (a *auditor) policyErrors() []report.PolicyError {
	var st rules.Stats
	for _, ch := range a.workers {
		st.Add(ch.Stats())
	}
	var out []report.PolicyError
	for _, r := range a.pol.Rules {
		if n := st.EvalErrors[r.ID]; n > 0 {
			out = append(out, report.PolicyError{Rule: r.ID, Count: n, First: st.FirstEvalError[r.ID]})
		}
	}
	return out
}

// match runs on a worker: the policy's rules on a flow that ended, without the thresholds.
func (a *auditor) match(ch *rules.Checker, r *flow.Record) any {
	ms := a.matches.Get().(*[]rules.Match)
	*ms = ch.Match(r, (*ms)[:0])
	if len(*ms) == 0 {
		a.matches.Put(ms)
		return nil
	}
	return ms
}

// flow decides the thresholds of a flow's matches, in flow order, and hands the flow and its
// findings to the reporter.
func (a *auditor) flow(r *flow.Record, note any) {
	a.findings = a.findings[:0]
	if ms, ok := note.(*[]rules.Match); ok {
		a.checker.Apply(*ms, a.collect)
		clear(*ms) // let the findings go with the flow
		a.matches.Put(ms)
	}
	a.prog.flows.Add(1)
	a.prog.findings.Add(uint64(len(a.findings)))
	a.out.flow(r, a.findings)
}

func (a *auditor) collect(f *rules.Finding) {
	if f.Rule.Severity > a.worst {
		a.worst = f.Rule.Severity
	}
	a.findings = append(a.findings, f)
}

// file audits one input. A file that cannot be read is reported in the summary and logged;
// a file cut short is audited up to the cut, with a warning.
// badWhy says in words what a decode status means for a packet that could not be read.
var badWhy = map[decode.Status]string{
	decode.Truncated:       "cut short: the capture holds fewer bytes than its headers need",
	decode.Malformed:       "malformed: its headers contradict themselves or exceed a bound",
	decode.UnsupportedLink: "a link type pcapaudit does not read",
	decode.TunnelLimit:     "tunnels nested deeper than pcapaudit follows",
	decode.TunnelMalformed: "a damaged tunnel header; the flow inside was skipped",
}

func (a *auditor) file(ctx context.Context, name string, stdin io.Reader, log zerolog.Logger) report.FileSummary {
	fs := report.FileSummary{Name: name}
	var src capture.Source
	var err error
	if name == "-" {
		src, err = capture.OpenReader("-", stdin)
	} else {
		src, err = capture.Open(name)
	}
	a.prog.file.Store(&name)
	defer a.prog.fileDone(&fs)
	if err != nil {
		fs.Err = err.Error()
		log.Error().Str("file", name).Msg(err.Error())
		return fs
	}
	defer src.Close()
	var p capture.Packet
	// Packets the decoder could not read (cut by the snap length, contradicting headers, an
	// unknown link type, a tunnel too deep or damaged): counted, and the first one named in a warning at the end.
	var bad struct {
		n      uint64
		frame  uint64
		status decode.Status
	}
	done := ctx.Done()
	for n := 0; ; n++ {
		if n&1023 == 0 { // now and then: publish the progress, heed an interrupt
			a.prog.read(&fs)
			select {
			case <-done:
				a.eng.Flush()
				return fs
			default:
			}
		}
		err = src.Next(&p)
		if err != nil {
			break
		}
		if fs.Packets == 0 {
			fs.First = p.Timestamp
		}
		if p.Timestamp.After(fs.Last) {
			fs.Last = p.Timestamp
		}
		fs.Packets++
		fs.Bytes += uint64(len(p.Data))
		switch st := a.eng.Packet(&p); st {
		case decode.Truncated, decode.Malformed, decode.UnsupportedLink, decode.TunnelLimit, decode.TunnelMalformed:
			if bad.n++; bad.n == 1 {
				bad.frame, bad.status = p.Frame, st
			}
		}
	}
	a.eng.Flush()
	if bad.n > 0 {
		m := fmt.Sprintf("%s: %d packet(s) could not be decoded, the first at frame %d (%s)", name, bad.n, bad.frame, badWhy[bad.status])
		fs.Warnings = append(fs.Warnings, m)
		log.Warn().Str("file", name).Uint64("frame", bad.frame).Uint64("packets", bad.n).Msg(m)
	}
	var te *capture.TruncatedError
	switch {
	case errors.Is(err, io.EOF):
	case errors.As(err, &te):
		fs.Warnings = append(fs.Warnings, err.Error())
		log.Warn().Str("file", name).Msg(err.Error())
	default:
		fs.Err = err.Error()
		log.Error().Str("file", name).Msg(err.Error())
	}
	return fs
}
