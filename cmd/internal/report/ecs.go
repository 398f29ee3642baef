package report

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/netip"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

// TimeFormat is RFC 3339 with nanoseconds, always nine digits, in UTC.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func ts(t time.Time) string { return t.UTC().Format(TimeFormat) }

// The ECS documents. Field order is fixed by the structs, so output is reproducible.
type (
	ecsEvent struct {
		Kind     string   `json:"kind"`
		Category []string `json:"category"`
		Type     []string `json:"type"`
		Module   string   `json:"module"`
		Dataset  string   `json:"dataset"`
		Start    string   `json:"start"`
		End      string   `json:"end"`
		Duration int64    `json:"duration"`
		Reason   string   `json:"reason,omitempty"`
		Severity int      `json:"severity,omitempty"`
	}
	ecsEndpoint struct {
		IP      string `json:"ip"`
		Port    uint16 `json:"port"`
		Packets uint64 `json:"packets"`
		Bytes   uint64 `json:"bytes"`
	}
	ecsNetwork struct {
		Transport   string `json:"transport"`
		Type        string `json:"type"`
		Protocol    string `json:"protocol"`
		CommunityID string `json:"community_id"`
		Packets     uint64 `json:"packets"`
		Bytes       uint64 `json:"bytes"`
	}
	ecsRule struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Category    string `json:"category,omitempty"`
		Reference   string `json:"reference,omitempty"`
		Ruleset     string `json:"ruleset"`
	}
	// pcapaudit.* holds what ECS has no field for.
	ecsFlowInfo struct {
		File         string `json:"file"`
		Frame        uint64 `json:"frame"`
		EndReason    string `json:"end_reason"`
		ClientKnown  bool   `json:"client_known"`
		PayloadBytes struct {
			Client uint64 `json:"client"`
			Server uint64 `json:"server"`
		} `json:"payload_bytes"`
		ParseErrors uint32 `json:"parse_errors,omitempty"`
		ParseError  string `json:"parse_error,omitempty"`
		Gaps        uint32 `json:"gaps,omitempty"`
		Cut         bool   `json:"cut,omitempty"`
	}
	ecsFindingInfo struct {
		File      string            `json:"file"`
		Frame     uint64            `json:"frame"`
		FlowFrame uint64            `json:"flow_frame"`
		Severity  string            `json:"severity"`
		Remedy    string            `json:"remedy,omitempty"`
		Count     int               `json:"count"`
		Observed  map[string]string `json:"observed,omitempty"`
	}
	flowDoc struct {
		Timestamp   string          `json:"@timestamp"`
		Event       ecsEvent        `json:"event"`
		Source      ecsEndpoint     `json:"source"`
		Destination ecsEndpoint     `json:"destination"`
		Network     ecsNetwork      `json:"network"`
		NTP         *flow.NTPFacts  `json:"ntp,omitempty"`
		SIP         *flow.SIPFacts  `json:"sip,omitempty"`
		LDAP        *flow.LDAPFacts `json:"ldap,omitempty"`
		TLS         *flow.TLSFacts  `json:"tls,omitempty"`
		PcapAudit   ecsFlowInfo     `json:"pcapaudit"`
	}
	findingDoc struct {
		Timestamp   string         `json:"@timestamp"`
		Event       ecsEvent       `json:"event"`
		Rule        ecsRule        `json:"rule"`
		Message     string         `json:"message"`
		Source      ecsEndpoint    `json:"source"`
		Destination ecsEndpoint    `json:"destination"`
		Network     ecsNetwork     `json:"network"`
		PcapAudit   ecsFindingInfo `json:"pcapaudit"`
	}
)

func network(r *flow.Record) ecsNetwork {
	typ := "ipv6"
	if r.Client.Addr().Is4() {
		typ = "ipv4"
	}
	return ecsNetwork{
		Transport:   r.Transport.String(),
		Type:        typ,
		Protocol:    r.Label.String(),
		CommunityID: CommunityID(r.Client, r.Server, r.Transport),
		Packets:     r.Packets[0] + r.Packets[1],
		Bytes:       r.Bytes[0] + r.Bytes[1],
	}
}

func endpoints(r *flow.Record) (src, dst ecsEndpoint) {
	src = ecsEndpoint{IP: r.Client.Addr().String(), Port: r.Client.Port(), Packets: r.Packets[0], Bytes: r.Bytes[0]}
	dst = ecsEndpoint{IP: r.Server.Addr().String(), Port: r.Server.Port(), Packets: r.Packets[1], Bytes: r.Bytes[1]}
	return src, dst
}

// The fixed lists of the documents, shared rather than made per document.
var (
	categoryNetwork = []string{"network"}
	typeConnection  = []string{"connection"}
	typeInfo        = []string{"info"}
)

// flowDocOf fills d, the ECS document of a flow record.
func flowDocOf(d *flowDoc, r *flow.Record, start, end string, nw ecsNetwork, src, dst ecsEndpoint) {
	*d = flowDoc{
		Timestamp: start,
		Event: ecsEvent{
			Kind: "event", Category: categoryNetwork, Type: typeConnection,
			Module: "pcapaudit", Dataset: "pcapaudit.flow",
			Start: start, End: end, Duration: int64(r.End.Sub(r.Start)),
			Reason: r.EndReason.String(),
		},
		Source: src, Destination: dst, Network: nw,
		NTP: r.NTP, SIP: r.SIP, LDAP: r.LDAP, TLS: r.TLS,
	}
	d.PcapAudit = ecsFlowInfo{
		File: r.File, Frame: r.FirstFrame, EndReason: r.EndReason.String(), ClientKnown: r.ClientKnown,
		ParseErrors: r.ParseErrors, ParseError: r.ParseError, Gaps: r.Gaps, Cut: r.Cut,
	}
	d.PcapAudit.PayloadBytes.Client = r.Payload[0]
	d.PcapAudit.PayloadBytes.Server = r.Payload[1]
}

// findingDocOf fills d, the ECS document of a finding raised on flow r. The observed map is
// reused when d already has one.
func findingDocOf(d *findingDoc, r *flow.Record, f *rules.Finding, ruleset, start, end string, nw ecsNetwork, src, dst ecsEndpoint) {
	obs := d.PcapAudit.Observed
	clear(obs)
	*d = findingDoc{
		Timestamp: ts(f.Evidence.Time),
		Event: ecsEvent{
			Kind: "alert", Category: categoryNetwork, Type: typeInfo,
			Module: "pcapaudit", Dataset: "pcapaudit.finding",
			Start: start, End: end, Duration: int64(r.End.Sub(r.Start)),
			Severity: f.Rule.Severity.Score(),
		},
		Rule: ecsRule{
			ID: f.Rule.ID, Name: f.Rule.Name, Description: f.Rule.Description,
			Category: r.Label.String(), Reference: joinRefs(f.Rule.References), Ruleset: ruleset,
		},
		Message: f.Message,
		Source:  src, Destination: dst, Network: nw,
	}
	d.PcapAudit = ecsFindingInfo{
		File: r.File, Frame: f.Evidence.Frame, FlowFrame: r.FirstFrame,
		Severity: f.Rule.Severity.String(), Remedy: f.Rule.Remedy, Count: f.Count,
	}
	if len(f.Observed) > 0 {
		if obs == nil {
			obs = make(map[string]string, len(f.Observed))
		}
		for _, kv := range f.Observed {
			obs[kv.Key] = kv.Value
		}
		d.PcapAudit.Observed = obs
	}
}

func joinRefs(refs []string) string {
	switch len(refs) {
	case 0:
		return ""
	case 1:
		return refs[0]
	}
	return strings.Join(refs, "; ")
}

// CommunityID returns the Community ID v1 flow hash (seed 0) of a flow, the ECS
// network.community_id that lets records of pcapaudit, Zeek and Suricata be joined.
func CommunityID(a, b netip.AddrPort, t flow.Transport) string {
	aa, ba := a.Addr().Unmap(), b.Addr().Unmap()
	pa, pb := a.Port(), b.Port()
	// Order the endpoints: the smaller address (then port) first.
	if c := aa.Compare(ba); c > 0 || (c == 0 && pa > pb) {
		aa, ba, pa, pb = ba, aa, pb, pa
	}
	buf := make([]byte, 0, 2+16+16+4+4)
	buf = append(buf, 0, 0) // seed
	buf = append(buf, aa.AsSlice()...)
	buf = append(buf, ba.AsSlice()...)
	buf = append(buf, byte(t), 0)
	buf = binary.BigEndian.AppendUint16(buf, pa)
	buf = binary.BigEndian.AppendUint16(buf, pb)
	sum := sha1.Sum(buf)
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}

// JSON writes NDJSON: one ECS document per flow (event.kind "event") and one per finding
// (event.kind "alert"), each finding right after the flow it was raised on.
type JSON struct {
	w        *bufio.Writer
	enc      *json.Encoder
	all      bool
	ruleset  string
	err      error
	findings [4]uint64  // by severity, Low first
	fd       flowDoc    // reused for every flow
	nd       findingDoc // reused for every finding
}

// NewJSON writes to w. Unknown flows are written only when all is set.
func NewJSON(w io.Writer, all bool, ruleset string) *JSON {
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &JSON{w: bw, enc: enc, all: all, ruleset: ruleset}
}

// Flow implements Reporter.
func (j *JSON) Flow(r *flow.Record, findings []*rules.Finding) {
	if j.err != nil || (r.Label == flow.Unknown && !j.all && len(findings) == 0) {
		return
	}
	// What the flow and its findings share is made once.
	start, end := ts(r.Start), ts(r.End)
	nw := network(r)
	src, dst := endpoints(r)
	flowDocOf(&j.fd, r, start, end, nw, src, dst)
	j.err = j.enc.Encode(&j.fd)
	for _, f := range findings {
		if i := int(f.Rule.Severity) - int(rules.Low); i >= 0 && i < len(j.findings) {
			j.findings[i]++
		}
		if j.err == nil {
			findingDocOf(&j.nd, r, f, j.ruleset, start, end, nw, src, dst)
			j.err = j.enc.Encode(&j.nd)
		}
	}
}

// Close implements Reporter: it writes the summary document last.
func (j *JSON) Close(s *Summary) error {
	if j.err == nil && s != nil {
		j.err = j.enc.Encode(j.summaryDoc(s))
	}
	if err := j.w.Flush(); j.err == nil {
		j.err = err
	}
	return j.err
}

type (
	summaryFile struct {
		Path     string   `json:"path"`
		Packets  uint64   `json:"packets"`
		Bytes    uint64   `json:"bytes"`
		Warnings []string `json:"warnings,omitempty"`
		Error    string   `json:"error,omitempty"`
	}
	summaryInfo struct {
		Files   []summaryFile `json:"files"`
		Packets uint64        `json:"packets"`
		Bytes   uint64        `json:"bytes"`
		Flows   uint64        `json:"flows"`
		ByProto struct {
			NTP     uint64 `json:"ntp"`
			SIP     uint64 `json:"sip"`
			SIPTLS  uint64 `json:"sip-tls"`
			LDAP    uint64 `json:"ldap"`
			LDAPS   uint64 `json:"ldaps"`
			Unknown uint64 `json:"unknown"`
		} `json:"flows_by_protocol"`
		Findings struct {
			Critical uint64 `json:"critical"`
			High     uint64 `json:"high"`
			Medium   uint64 `json:"medium"`
			Low      uint64 `json:"low"`
		} `json:"findings"`
		Bounds struct {
			Evicted          uint64 `json:"evicted"`
			HalfOpenEvicted  uint64 `json:"half_open_evicted"`
			Emergencies      uint64 `json:"emergencies"`
			Cut              uint64 `json:"cut"`
			TCPGaps          uint64 `json:"tcp_gaps"`
			ParseErrors      uint64 `json:"parse_errors"`
			DetectorFailures uint64 `json:"detector_failures"`
			Undecodable      uint64 `json:"undecodable_packets"`
			FragmentsDropped uint64 `json:"fragments_dropped"`
		} `json:"bounds"`
		Policy string `json:"policy"`
	}
	summaryDoc struct {
		Timestamp string   `json:"@timestamp"`
		Event     ecsEvent `json:"event"`
		PcapAudit struct {
			Summary summaryInfo `json:"summary"`
		} `json:"pcapaudit"`
	}
)

// summaryDoc is the last document of a report: what was read, what was found, which bounds
// were hit and what was wrong with the input, so a script reading only the NDJSON knows too.
func (j *JSON) summaryDoc(s *Summary) *summaryDoc {
	d := &summaryDoc{}
	var first, last time.Time
	in := &d.PcapAudit.Summary
	in.Files = []summaryFile{}
	for _, f := range s.Files {
		in.Files = append(in.Files, summaryFile{Path: f.Name, Packets: f.Packets, Bytes: f.Bytes, Warnings: f.Warnings, Error: f.Err})
		in.Packets += f.Packets
		in.Bytes += f.Bytes
		if f.Packets > 0 {
			if first.IsZero() || f.First.Before(first) {
				first = f.First
			}
			if f.Last.After(last) {
				last = f.Last
			}
		}
	}
	st := &s.Stats
	for l := flow.Label(0); l < flow.NumLabels; l++ {
		in.Flows += st.FlowsByLabel[l]
	}
	bp, by := &in.ByProto, &st.FlowsByLabel
	bp.NTP, bp.SIP, bp.SIPTLS, bp.LDAP, bp.LDAPS, bp.Unknown = by[flow.NTP], by[flow.SIP], by[flow.SIPTLS], by[flow.LDAP], by[flow.LDAPS], by[flow.Unknown]
	in.Findings.Low, in.Findings.Medium, in.Findings.High, in.Findings.Critical = j.findings[0], j.findings[1], j.findings[2], j.findings[3]
	b := &in.Bounds
	b.Evicted, b.HalfOpenEvicted, b.Emergencies = st.Evicted, st.HalfOpenEvicted, st.Emergencies
	b.Cut, b.TCPGaps, b.ParseErrors, b.DetectorFailures = st.Cut, st.TCPGaps, st.ParseErrors, st.Panics
	b.Undecodable, b.FragmentsDropped = st.Decode.Undecodable(), st.Decode.FragmentsDropped()
	in.Policy = s.Policy
	d.Timestamp = ts(last)
	d.Event = ecsEvent{Kind: "metric", Category: categoryNetwork, Type: typeInfo, Module: "pcapaudit",
		Dataset: "pcapaudit.summary", Start: ts(first), End: ts(last), Duration: last.Sub(first).Nanoseconds()}
	return d
}
