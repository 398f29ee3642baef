package report

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TimeFormat is RFC 3339 with nanoseconds, always nine digits, in UTC.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func ts(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ecsEvent is the event object of the summary document (the flow and finding documents are
// written by ndjson.go).
type ecsEvent struct {
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

// The fixed lists of the summary document, shared rather than made per document.
var (
	categoryNetwork = []string{"network"}
	typeInfo        = []string{"info"}
)

// appendCommunityID appends the Community ID v1 flow hash (seed 0) of a flow to dst: the ECS
// network.community_id that lets records of pcapaudit, Zeek and Suricata be joined.
func appendCommunityID(dst []byte, a, b netip.AddrPort, t flow.Transport) []byte {
	aa, ba := a.Addr().Unmap(), b.Addr().Unmap()
	pa, pb := a.Port(), b.Port()
	// Order the endpoints: the smaller address (then port) first.
	if c := aa.Compare(ba); c > 0 || (c == 0 && pa > pb) {
		aa, ba, pa, pb = ba, aa, pb, pa
	}
	var in [2 + 16 + 16 + 4 + 4]byte
	buf := append(in[:0], 0, 0) // seed
	buf = appendAddrBytes(buf, aa)
	buf = appendAddrBytes(buf, ba)
	buf = append(buf, byte(t), 0)
	buf = binary.BigEndian.AppendUint16(buf, pa)
	buf = binary.BigEndian.AppendUint16(buf, pb)
	sum := sha1.Sum(buf)
	var out [28]byte
	base64.StdEncoding.Encode(out[:], sum[:])
	dst = append(dst, '1', ':')
	return append(dst, out[:]...)
}

// appendAddrBytes appends the 4 or 16 bytes of a (Addr.AsSlice, without allocating).
func appendAddrBytes(dst []byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return append(dst, b[:]...)
	}
	if a.Is6() {
		b := a.As16()
		return append(dst, b[:]...)
	}
	return dst
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
		Policy       string        `json:"policy"`
		PolicyErrors []PolicyError `json:"policy_errors,omitempty"`
		// A live sensor's: interim records written, findings held back as repeats.
		Interim    uint64 `json:"interim_records,omitempty"`
		Suppressed uint64 `json:"findings_suppressed,omitempty"`
		// Packets a triage filter (--host, --port, --since, --until) turned away before
		// the detectors.
		Filtered uint64 `json:"filtered_packets,omitempty"`
	}
	summaryDoc struct {
		Timestamp string       `json:"@timestamp"`
		Event     ecsEvent     `json:"event"`
		Observer  *observerDoc `json:"observer,omitempty"`
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
	in.Interim, in.Suppressed, in.Filtered = st.Interim, s.Suppressed, st.Filtered
	d.Observer = j.obsDoc
	in.Policy = s.Policy
	in.PolicyErrors = s.PolicyErrors
	d.Timestamp = ts(last)
	d.Event = ecsEvent{Kind: "metric", Category: categoryNetwork, Type: typeInfo, Module: "pcapaudit",
		Dataset: "pcapaudit.summary", Start: ts(first), End: ts(last), Duration: last.Sub(first).Nanoseconds()}
	return d
}
