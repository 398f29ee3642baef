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
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/cmd/internal/audit"
	"github.com/pcapaudit/pcapaudit/cmd/internal/debugserver"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/cmd/internal/summary"
	"github.com/pcapaudit/pcapaudit/cmd/internal/triage"
	"github.com/pcapaudit/pcapaudit/rules"
)

const rootLong = `pcapaudit reads packet captures (pcap or pcapng, optionally gzip-compressed; "-" for
standard input; directories are walked for captures, and several inputs are merged in packet
time as one capture), follows every flow, says which flows are NTP, SIP, SIP-TLS, LDAP or LDAPS
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
	engineFlags
	triage     triageFlags
	format     string
	failOn     string
	all        bool
	perLabel   int
	color      string
	cpuProfile string
	memProfile string
	debugAddr  string
	html       string
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:           "pcapaudit [flags] FILE|DIR...",
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
	fl.StringVarP(&o.format, "format", "f", "text", "output format: text (for a person), json (NDJSON, Elastic Common Schema) or csv (flows and findings, one table)")
	fl.StringVar(&o.failOn, "fail-on", "medium", "exit 1 when a finding has this severity or higher: low, medium, high, critical, or none")
	o.engineFlags.add(fl, "flow workers (the output is the same for any number)")
	fl.BoolVarP(&o.all, "all", "a", false, "also list flows labelled unknown")
	fl.IntVar(&o.perLabel, "list", 20, "text format: flows listed per label and findings shown per rule (the rest are counted)")
	fl.StringVar(&o.color, "color", "auto", "text format colours: auto (on a terminal, unless NO_COLOR is set), always, never")
	fl.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	fl.StringVar(&o.memProfile, "memprofile", "", "write a heap profile to this file at the end")
	fl.StringVar(&o.html, "html", "", "also write a self-contained HTML report (overview, timeline, findings with their evidence, hosts, policy) to this file")
	o.triage.add(fl)
	fl.StringVar(&o.debugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof/) and the audit's progress (/debug/vars) on this address while it runs, e.g. localhost:6060")
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.AddCommand(newPolicyCmd(stdout), newVersionCmd(stdout), newSensorCmd(stdout, stderr), newSummaryCmd(stdin, stdout, stderr))
	return cmd
}

func usageErr(format string, a ...any) error {
	return &exitErr{code: exitError, err: fmt.Errorf(format, a...)}
}

// engineFlags are the flags every front end shares: the policy, the engine's bounds and
// workers, the log level.
type engineFlags struct {
	policy     string
	maxFlows   int
	window     int
	workers    int
	logLevel   string
	vxlanPorts []uint
}

// add adds the shared flags to fl; workersHelp says what --workers means for the command.
func (e *engineFlags) add(fl *pflag.FlagSet, workersHelp string) {
	fl.StringVarP(&e.policy, "policy", "p", "", "policy file replacing the default policy (see 'pcapaudit policy')")
	fl.IntVar(&e.maxFlows, "max-flows", 1_000_000, "flows tracked at once; the least recently active is evicted when full")
	fl.IntVar(&e.window, "inspect-window", classify.DefaultConfig().InspectWindow, "bytes per flow direction a detector may wait on (an undecided prefix, an incomplete message); past it inspection stops, counted")
	fl.IntVar(&e.workers, "workers", runtime.GOMAXPROCS(0), workersHelp)
	fl.StringVar(&e.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	fl.UintSliceVar(&e.vxlanPorts, "vxlan-port", []uint{4789}, "UDP ports on which a valid VXLAN header is followed into the tunnel (repeat or comma-separate)")
}

// check validates the shared flags' values.
func (e *engineFlags) check() error {
	if e.workers < 1 || e.workers > 256 {
		return usageErr("--workers %d: want 1 to 256", e.workers)
	}
	if e.maxFlows <= 0 {
		return usageErr("--max-flows %d: want a positive number", e.maxFlows)
	}
	if e.window < 512 || e.window > 16<<20 {
		return usageErr("--inspect-window %d: want 512 to 16777216 bytes", e.window)
	}
	for _, p := range e.vxlanPorts {
		if p == 0 || p > 65535 {
			return usageErr("--vxlan-port %d: want 1 to 65535", p)
		}
	}
	return nil
}

// decodeConfig is the decoder's settings from the shared flags (the tunnel ports).
func (e *engineFlags) decodeConfig() decode.Config {
	var c decode.Config
	for _, p := range e.vxlanPorts {
		c.VXLANPorts = append(c.VXLANPorts, uint16(p))
	}
	return c
}

// engine applies the shared flags that are engine settings.
func (e *engineFlags) engine(c *classify.Config) { c.Decode = e.decodeConfig() }

// engineWith applies the shared flags and a filter's cheap part, checked before the detectors.
func (e *engineFlags) engineWith(f *triage.Filter) func(*classify.Config) {
	return func(c *classify.Config) {
		e.engine(c)
		if f.Cheap() {
			c.Admit = f.Admit
		}
	}
}

// loadPolicy loads --policy, or the default policy.
func (e *engineFlags) loadPolicy() (*rules.Policy, error) {
	if e.policy == "" {
		return rules.Default(), nil
	}
	return rules.LoadFile(e.policy)
}

// newLogger logs to stderr: a console format on a terminal, JSON otherwise.
// component names the command in every line ("audit", "sensor").
func newLogger(stderr io.Writer, level, component string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), usageErr("--log-level %q: want debug, info, warn or error", level)
	}
	var w io.Writer = stderr
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("component", component).Logger(), nil
}

func runAudit(ctx context.Context, o *auditOptions, files []string, stdin io.Reader, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logLevel, "audit")
	if err != nil {
		return err
	}
	var failOn rules.Severity
	if o.failOn != "none" {
		if failOn, err = rules.ParseSeverity(o.failOn); err != nil {
			return usageErr("--fail-on %q: want low, medium, high, critical or none", o.failOn)
		}
	}
	if err := o.engineFlags.check(); err != nil {
		return err
	}
	switch o.format {
	case "text", "json", "ndjson", "csv":
	default:
		return usageErr("--format %q: want text, json or csv", o.format)
	}
	filter, flaggedOut, err := o.triage.setup(files)
	if err != nil {
		return err
	}
	if flaggedOut != nil {
		defer flaggedOut.Close()
	}
	pol, err := o.loadPolicy()
	if err != nil {
		return &exitErr{code: exitError, err: err}
	}
	var rep report.Reporter
	switch o.format {
	case "text":
		rep = report.NewText(stdout, o.all, useColor(o.color, stdout), o.perLabel)
	case "json", "ndjson":
		rep = report.NewJSON(stdout, o.all, pol.Name)
	case "csv":
		rep = triage.NewCSV(stdout, o.all)
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

	// Directories are walked for captures; several inputs are merged in packet time.
	in, err := expandInputs(files, log)
	if err != nil {
		return err
	}
	// Every output is filtered alike: the report, the flagged capture, the HTML report.
	var flagged *triage.Flagged
	sinks := []report.Reporter{rep}
	if flaggedOut != nil {
		flagged = triage.NewFlagged()
		sinks = append(sinks, flagged)
	}
	if o.html != "" {
		agg := summary.New(summary.Limits{Findings: maxHTMLFindings})
		hf, err := addHTML(agg, o.html, pol)
		if err != nil {
			return err
		}
		defer hf.Abort() // no-op once written
		sinks = append(sinks, agg)
	}
	fsink := triage.NewSink(filter, sinks...)

	prog := audit.NewProgress(len(in.names))
	if o.debugAddr != "" {
		srv, err := debugserver.Start(o.debugAddr, prog.Snapshot)
		if err != nil {
			return usageErr("--debug-addr %q: %v", o.debugAddr, err)
		}
		defer srv.Close()
		log.Info().Str("addr", srv.Addr()).Msgf("profiles on http://%s/debug/pprof/, progress on http://%s/debug/vars", srv.Addr(), srv.Addr())
	}

	a := audit.New(audit.Options{
		Policy: pol, Workers: o.workers, MaxFlows: o.maxFlows, InspectWindow: o.window, All: o.all,
		Sinks: []audit.Sink{fsink}, Log: log, Progress: prog, Engine: o.engineWith(filter),
	})
	stopBar := startBar(stderr, inputSize(in.names), prog.Consumed)
	bad := readInputs(ctx, a, in, stdin, log)
	stopBar()
	if _, err := a.Close(); err != nil {
		return &exitErr{code: exitError, err: fmt.Errorf("writing the report: %w", err)}
	}
	if flagged != nil && ctx.Err() == nil {
		again, _ := triage.Parse(o.triage.spec) // a fresh filter: relative times fixed again
		var admit func(*decode.Packet, time.Time) bool
		if again.Cheap() {
			admit = again.Admit
		}
		// The decoder as the engine has it, tunnel ports included.
		st, err := flagged.WriteTo(flaggedOut, in.names, o.decodeConfig(), admit)
		if err == nil {
			err = flaggedOut.Close()
		}
		if err != nil {
			return &exitErr{code: exitError, err: fmt.Errorf("--write-flagged %s: %w", o.triage.flagged, err)}
		}
		log.Info().Str("file", o.triage.flagged).Int("flows", st.Flows).Int("packets", st.Packets).Int("comments", st.Comments).
			Msgf("%s: %d packets of %d flagged flows, %d comments", o.triage.flagged, st.Packets, st.Flows, st.Comments)
	}
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			log.Error().Err(err).Msg("--memprofile")
		}
	}
	switch {
	case bad > 0:
		return &exitErr{code: exitError}
	case fsink.Worst() >= failOn && failOn != 0:
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
