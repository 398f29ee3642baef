// Package report turns flow records and findings into output: NDJSON in Elastic Common Schema
// for machines, and a report grouped by severity for people. Reporters see only records,
// findings and the final summary — never packets.
package report

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

// Reporter receives every flow that ended, with the findings raised on it, and the summary.
type Reporter interface {
	// Flow is called once per flow. r and findings are valid only during the call: after it,
	// the record's protocol facts and the findings are recycled for later flows
	// (flow.Record.ReleaseFacts, rules.ReleaseFinding), so a reporter copies what it keeps —
	// strings may be kept as they are; a finding, a pointer into the facts, or a list of
	// theirs may not (flow.Record.Clone copies a whole record).
	Flow(r *flow.Record, findings []*rules.Finding)
	// Close writes whatever is left and flushes.
	Close(s *Summary) error
}

// FileSummary is what was read from one input.
type FileSummary struct {
	Name        string
	Packets     uint64
	Bytes       uint64
	First, Last time.Time
	// Warnings say what was wrong where in a file that was read: cut short (the packets
	// before the cut were audited), packets that could not be decoded.
	Warnings []string
	// Err is set when the input could not be read at all.
	Err string
}

// Summary is what the audit read and how it went.
type Summary struct {
	Files  []FileSummary
	Stats  classify.Stats
	Policy string
	// PolicyErrors are the rules whose expressions failed while running (a field read
	// through facts a flow does not have): such a condition counts as no match, so a rule
	// that always fails finds nothing, and the user needs to be told.
	PolicyErrors []PolicyError
	// Suppressed is the number of findings a live sensor held back as repeats within its
	// suppression window; SuppressEvicted the keys its bounded state forgot.
	Suppressed, SuppressEvicted uint64
}

// PolicyError is a rule whose expressions failed while running: how many times, and the
// first error. The NDJSON summary carries it as it is.
type PolicyError struct {
	Rule  string `json:"rule"`
	Count uint64 `json:"count"`
	First string `json:"first"`
}

// Text writes the report for a person: what was read, the classified flows, then the
// findings grouped by severity, most severe first.
type Text struct {
	w        *bufio.Writer
	all      bool
	color    bool
	perLabel int
	flows    [flow.NumLabels][]string
	more     [flow.NumLabels]int
	groups   []*findingGroup // by rule, in order of first appearance
	byRule   map[string]*findingGroup
}

// findingGroup is every finding of one rule: the first perLabel are kept to be shown, the
// others only counted, so that a capture with a hundred thousand cleartext flows gives a
// report a person can read (and costs memory for twenty of them, not all).
type findingGroup struct {
	sev      rules.Severity
	id, name string
	remedy   string
	n        int
	shown    []textFinding
}

type textFinding struct {
	message         string
	where, evidence string
	filter          string // Wireshark display filter of the flow
	count           int
}

// NewText writes to w; color adds ANSI colours (only for a terminal without NO_COLOR).
// Up to perLabel flows of each label are listed; unknown flows only when all is set.
func NewText(w io.Writer, all, color bool, perLabel int) *Text {
	return &Text{w: bufio.NewWriter(w), all: all, color: color, perLabel: perLabel}
}

func endpoint(r *flow.Record) string {
	s := fmt.Sprintf("%s → %s (%s)", r.Client, r.Server, r.Transport)
	if a := Arrival(r); a != "" {
		s += " via " + a
	}
	return s
}

// Arrival says how a flow arrived, outermost first: the VLAN tags and tunnel layers in the order
// they wrap it ("vlan 5 › vxlan 5001 127.0.0.10→127.0.0.20 › vlan 30/40"), or "" for a plain
// untagged flow.
func Arrival(r *flow.Record) string {
	if r.Tunnel == nil && r.NVLAN == 0 {
		return ""
	}
	var b strings.Builder
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(" › ")
		}
	}
	for _, t := range r.TunnelLayers() {
		if t.HasVLAN {
			sep()
			fmt.Fprintf(&b, "vlan %d", t.VLAN)
		}
		sep()
		b.WriteString(t.Type)
		if t.HasID {
			fmt.Fprintf(&b, " %d", t.ID)
		}
		if t.Source.IsValid() {
			fmt.Fprintf(&b, " %s→%s", t.Source, t.Destination)
		}
	}
	if r.NVLAN > 0 {
		sep()
		fmt.Fprintf(&b, "vlan %d", r.VLAN[0])
		if r.NVLAN > 1 {
			fmt.Fprintf(&b, "/%d", r.VLAN[1])
		}
	}
	return b.String()
}

// Flow implements Reporter.
func (t *Text) Flow(r *flow.Record, findings []*rules.Finding) {
	if r.Label != flow.Unknown || t.all {
		if len(t.flows[r.Label]) < t.perLabel {
			line := fmt.Sprintf("%s  %d pkts %s  frame %d of %s", endpoint(r),
				r.Packets[0]+r.Packets[1], human(r.Bytes[0]+r.Bytes[1]), r.FirstFrame, r.File.String())
			if x := flowExtra(r); x != "" {
				line += "  " + x
			}
			t.flows[r.Label] = append(t.flows[r.Label], line)
		} else {
			t.more[r.Label]++
		}
	}
	for _, f := range findings {
		g := t.byRule[f.Rule.ID]
		if g == nil {
			if t.byRule == nil {
				t.byRule = map[string]*findingGroup{}
			}
			g = &findingGroup{sev: f.Rule.Severity, id: f.Rule.ID, name: f.Rule.Name, remedy: f.Rule.Remedy}
			t.byRule[f.Rule.ID] = g
			t.groups = append(t.groups, g)
		}
		g.n++
		if len(g.shown) < max(t.perLabel, 1) {
			g.shown = append(g.shown, textFinding{
				message: f.Message, where: endpoint(r) + ", " + r.Label.String(),
				evidence: fmt.Sprintf("frame %d of %s at %s", f.Evidence.Frame, cmp.Or(f.Evidence.File.String(), r.File.String()),
					f.Evidence.Time.Time().Format("2006-01-02 15:04:05.000000")),
				filter: DisplayFilter(r.Transport, r.Client, r.Server),
				count:  f.Count,
			})
		}
	}
}

// flowExtra is a short note on what the detector found, for the flow list.
func flowExtra(r *flow.Record) string {
	var parts []string
	if r.TLS != nil && r.TLS.Version != "" {
		parts = append(parts, r.TLS.VersionProtocol+" "+r.TLS.Version)
	}
	if r.ParseErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d parse errors", r.ParseErrors))
	}
	if r.Gaps > 0 {
		parts = append(parts, fmt.Sprintf("%d gaps", r.Gaps))
	}
	if r.Cut {
		parts = append(parts, "inspection cut")
	}
	return strings.Join(parts, ", ")
}

var sevColor = map[rules.Severity]string{
	rules.Low: "\x1b[36m", rules.Medium: "\x1b[33m", rules.High: "\x1b[31m", rules.Critical: "\x1b[1;37;41m",
}

func (t *Text) paint(s rules.Severity, text string) string {
	if !t.color {
		return text
	}
	return sevColor[s] + text + "\x1b[0m"
}

func (t *Text) bold(text string) string {
	if !t.color {
		return text
	}
	return "\x1b[1m" + text + "\x1b[0m"
}

// Close implements Reporter: it writes the whole report.
func (t *Text) Close(s *Summary) error {
	w := t.w
	st := &s.Stats
	var pk, by uint64
	var first, last time.Time
	read := 0
	for _, f := range s.Files {
		pk += f.Packets
		by += f.Bytes
		if f.Err == "" {
			read++
		}
		if !f.First.IsZero() && (first.IsZero() || f.First.Before(first)) {
			first = f.First
		}
		if f.Last.After(last) {
			last = f.Last
		}
	}
	fmt.Fprintln(w, t.bold("pcapaudit report"))
	fmt.Fprintf(w, "  read     %d of %d file(s), %d packets, %s", read, len(s.Files), pk, human(by))
	if !first.IsZero() {
		fmt.Fprintf(w, ", %s → %s (%s)", first.UTC().Format("2006-01-02 15:04:05"),
			last.UTC().Format("2006-01-02 15:04:05"), last.Sub(first).Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	for _, f := range s.Files {
		switch {
		case f.Err != "":
			fmt.Fprintf(w, "  error    %s\n", f.Err)
		default:
			for _, m := range f.Warnings {
				fmt.Fprintf(w, "  warning  %s\n", m)
			}
		}
	}
	var total uint64
	var labels []string
	for l := flow.Label(0); l < flow.NumLabels; l++ {
		n := st.FlowsByLabel[l]
		total += n
		if n > 0 && l != flow.Unknown {
			labels = append(labels, fmt.Sprintf("%s %d", l, n))
		}
	}
	if n := st.FlowsByLabel[flow.Unknown]; n > 0 {
		note := "unknown %d"
		if !t.all {
			note += " (listed with --all)"
		}
		labels = append(labels, fmt.Sprintf(note, n))
	}
	if len(labels) == 0 {
		fmt.Fprintf(w, "  flows    %d\n", total)
	} else {
		fmt.Fprintf(w, "  flows    %d: %s\n", total, strings.Join(labels, ", "))
	}
	if x := boundsNote(st); x != "" {
		fmt.Fprintf(w, "  bounds   %s\n", x)
	}
	fmt.Fprintf(w, "  policy   %s\n", s.Policy)
	for _, e := range s.PolicyErrors {
		fmt.Fprintf(w, "           rule %s failed to evaluate %d time(s), counted as no match: %s\n", e.Rule, e.Count, e.First)
	}

	for l := flow.Label(1); l <= flow.NumLabels; l++ {
		lab := l % flow.NumLabels // unknown last
		if len(t.flows[lab]) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", t.bold(strings.ToUpper(lab.String())+" flows"))
		for _, line := range t.flows[lab] {
			fmt.Fprintf(w, "  %s\n", line)
		}
		if m := t.more[lab]; m > 0 {
			fmt.Fprintf(w, "  … and %d more (all of them with --format json)\n", m)
		}
	}

	slices.SortStableFunc(t.groups, func(a, b *findingGroup) int { return int(b.sev) - int(a.sev) })
	counts := map[rules.Severity]int{}
	for _, g := range t.groups {
		counts[g.sev] += g.n
	}
	fmt.Fprintf(w, "\n%s", t.bold("Findings"))
	if len(t.groups) == 0 {
		fmt.Fprintf(w, ": none\n")
		return w.Flush()
	}
	var cs []string
	for s := rules.Critical; s >= rules.Low; s-- {
		if counts[s] > 0 {
			cs = append(cs, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(w, ": %s\n", strings.Join(cs, ", "))
	prev := rules.Severity(0)
	for _, g := range t.groups {
		if g.sev != prev {
			fmt.Fprintf(w, "\n%s\n", t.paint(g.sev, strings.ToUpper(g.sev.String())))
			prev = g.sev
		}
		if g.n > 1 {
			fmt.Fprintf(w, "  %s  %s  (%d findings)\n", t.bold(g.id), g.name, g.n)
		} else {
			fmt.Fprintf(w, "  %s  %s\n", t.bold(g.id), g.name)
		}
		for _, f := range g.shown {
			fmt.Fprintf(w, "    flow      %s\n", f.where)
			fmt.Fprintf(w, "    evidence  %s\n", f.evidence)
			fmt.Fprintf(w, "    filter    %s\n", f.filter)
			msg := f.message
			if f.count > 1 {
				msg += fmt.Sprintf(" (%d times)", f.count)
			}
			fmt.Fprintf(w, "    reason    %s\n", msg)
		}
		if m := g.n - len(g.shown); m > 0 {
			fmt.Fprintf(w, "    … and %d more (all of them with --format json)\n", m)
		}
		if g.remedy != "" {
			fmt.Fprintf(w, "    remedy    %s\n", g.remedy)
		}
	}
	return w.Flush()
}

// boundsNote lists the bounds that were hit, so a reader knows the audit saw less than all.
func boundsNote(st *classify.Stats) string {
	var p []string
	add := func(n uint64, what string) {
		if n > 0 {
			p = append(p, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(st.Filtered, "packets filtered out before the detectors (--host, --port, --since, --until)")
	switch {
	case st.HalfOpenEvicted == st.Evicted:
		add(st.Evicted, "SYN-only flows evicted (half-open table full)")
	case st.HalfOpenEvicted > 0:
		add(st.Evicted, fmt.Sprintf("flows evicted (table full; %d of them SYN-only)", st.HalfOpenEvicted))
	default:
		add(st.Evicted, "flows evicted (table full)")
	}
	add(st.Emergencies, "times in emergency mode (timeouts shortened)")
	add(st.Cut, "flows cut at the inspection window")
	add(st.TCPGaps, "TCP gaps skipped")
	add(st.ParseErrors, "parse errors")
	add(st.Panics, "detector failures recovered")
	add(st.Decode.Undecodable(), "packets not decodable")
	add(st.Decode.FragmentsDropped(), "IP fragments dropped")
	return strings.Join(p, ", ")
}

func human(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
