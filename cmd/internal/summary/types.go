package summary

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// Report is the aggregated overview of an audit. Its json tags are the `--format json` output.
type Report struct {
	Policy  string    `json:"policy"`
	Files   []File    `json:"files"`
	Packets uint64    `json:"packets"`
	First   time.Time `json:"first,omitzero"`
	Last    time.Time `json:"last,omitzero"`
	// Flows and Bytes count the flows the pipeline handed on (after its filters); Bytes are
	// IP bytes, both directions.
	Flows        uint64                 `json:"flows"`
	Bytes        uint64                 `json:"bytes"`
	FlowsByLabel [flow.NumLabels]uint64 `json:"-"`
	Findings     Counts                 `json:"findings"`
	Hosts        []*Host                `json:"hosts"`
	Servers      []*Server              `json:"servers"`
	UserAgents   []*UserAgent           `json:"sip_user_agents"`
	TopTalkers   []*Host                `json:"-"`
	Timeline     Timeline               `json:"timeline"`
	Dropped      Dropped                `json:"dropped"`
	Limits       Limits                 `json:"-"`
	FindingList  []*Finding             `json:"-"`
	// UnknownSkipped counts the flows labelled unknown that the pipeline did not hand on
	// (listed only with --all).
	UnknownSkipped uint64 `json:"unknown_flows_skipped"`
}

// File is what was read from one input.
type File struct {
	Name     string    `json:"name"`
	Packets  uint64    `json:"packets"`
	Bytes    uint64    `json:"bytes"`
	First    time.Time `json:"first,omitzero"`
	Last     time.Time `json:"last,omitzero"`
	Warnings []string  `json:"warnings,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Dropped counts what the bounds kept out of the lists (still counted in the totals).
type Dropped struct {
	// HostFlows counts host sides of flows not listed because Limits.Hosts hosts were
	// tracked already; ServerFlows the flows of servers past Limits.Servers.
	HostFlows   uint64 `json:"host_flows"`
	ServerFlows uint64 `json:"server_flows"`
	// Agents counts SIP user-agent sightings past the bound of distinct user agents.
	Agents uint64 `json:"sip_user_agents"`
	// Findings counts the findings not kept for listing past Limits.Findings.
	Findings uint64 `json:"findings_not_listed,omitempty"`
}

// Any reports whether a bound was reached.
func (d Dropped) Any() bool { return d.HostFlows+d.ServerFlows+d.Agents+d.Findings > 0 }

// Counts are findings by severity, indexed by sevIndex (low first).
type Counts [numSev]uint64

const numSev = 4

// sevIndex maps a severity to its index in Counts (-1 for none).
func sevIndex(s rules.Severity) int {
	if s >= rules.Low && s <= rules.Critical {
		return int(s - rules.Low)
	}
	return -1
}

// Of returns the count of severity s.
func (c Counts) Of(s rules.Severity) uint64 {
	if i := sevIndex(s); i >= 0 {
		return c[i]
	}
	return 0
}

// Total is the sum over the severities.
func (c Counts) Total() uint64 { return c[0] + c[1] + c[2] + c[3] }

// MarshalJSON writes the counts by severity name, most severe first.
func (c Counts) MarshalJSON() ([]byte, error) {
	b := []byte(`{`)
	for s := rules.Critical; s >= rules.Low; s-- {
		b = append(b, '"')
		b = append(b, s.String()...)
		b = append(b, `":`...)
		b = strconv.AppendUint(b, c.Of(s), 10)
		if s > rules.Low {
			b = append(b, ',')
		}
	}
	return append(b, '}'), nil
}

// Host is one address seen at either end of a flow.
type Host struct {
	Addr netip.Addr `json:"address"`
	// Roles: "client" (opened a flow), "server" (answered one).
	Roles     []string `json:"roles"`
	Protocols []string `json:"protocols"`
	Flows     uint64   `json:"flows"`
	// Bytes are the IP bytes of its flows, both directions; Sent those it sent.
	Bytes uint64 `json:"bytes"`
	Sent  uint64 `json:"bytes_sent"`
	// Findings counts the findings raised on the flows it took part in (a finding counts
	// for both ends of its flow).
	Findings Counts `json:"findings"`

	Client, Server bool `json:"-"`
	labels         uint16
}

// Server is one server endpoint of one protocol, with what it presented.
type Server struct {
	Protocol  string         `json:"protocol"`
	Addr      netip.AddrPort `json:"address"`
	Transport string         `json:"transport"`
	Flows     uint64         `json:"flows"`
	Bytes     uint64         `json:"bytes"`
	// Clients is the number of distinct client addresses; ClientsBounded says it reached
	// its bound (64) and is a lower bound.
	Clients        int  `json:"clients"`
	ClientsBounded bool `json:"clients_bounded,omitempty"`

	NTPVersions         []int         `json:"ntp_versions,omitempty"`
	TLSVersions         []string      `json:"tls_versions,omitempty"`
	Ciphers             []string      `json:"tls_ciphers,omitempty"`
	Certificates        []Certificate `json:"tls_certificates,omitempty"`
	CertificatesDropped uint64        `json:"tls_certificates_dropped,omitempty"`
	// Registrar: a SIP server that received REGISTER requests. UserAgents are its clients'
	// User-Agent headers, ServerAgents its own Server headers.
	Registrar    bool     `json:"sip_registrar,omitempty"`
	UserAgents   []string `json:"sip_user_agents,omitempty"`
	ServerAgents []string `json:"sip_server_agents,omitempty"`

	clients map[netip.Addr]struct{}
}

// Certificate is a server's leaf certificate as the TLS handshake showed it (TLS ≤ 1.2).
type Certificate struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// SelfSigned: the subject is the issuer. Expired: outside its validity at the packet
	// time of a flow that presented it.
	SelfSigned   bool   `json:"self_signed"`
	Expired      bool   `json:"expired"`
	KeyAlgorithm string `json:"key_algorithm,omitempty"`
	KeySize      int    `json:"key_size,omitempty"`
	SHA256       string `json:"sha256,omitempty"`
	Flows        uint64 `json:"flows"`
}

// UserAgent is a SIP User-Agent (Role "user-agent") or Server header ("server") value and
// the hosts that sent it.
type UserAgent struct {
	Name         string       `json:"name"`
	Role         string       `json:"role"`
	Flows        uint64       `json:"flows"`
	Hosts        []netip.Addr `json:"hosts"`
	HostsBounded bool         `json:"hosts_bounded,omitempty"`
}

// Finding is one finding with its evidence, as the HTML report lists it.
type Finding struct {
	Severity  rules.Severity
	Rule      string
	Name      string
	Protocol  string
	Transport string
	Client    netip.AddrPort
	Server    netip.AddrPort
	Time      time.Time
	File      string
	Frame     uint64 // the evidence packet, numbered as Wireshark does in File
	FlowFrame uint64 // the flow's first packet
	Message   string
	Count     int
	Observed  []rules.KV
	// Filter is the Wireshark display filter that isolates the flow.
	Filter string
	// Arrival says how the flow arrived (VLANs and tunnel layers), "" for a plain flow.
	Arrival string
}

func newFinding(r *flow.Record, f *rules.Finding) *Finding {
	return &Finding{
		Severity: f.Rule.Severity, Rule: f.Rule.ID, Name: f.Rule.Name,
		Protocol: r.Label.String(), Transport: r.Transport.String(),
		Client: r.Client, Server: r.Server, Time: f.Evidence.Time.Time(),
		File: r.File.String(), Frame: f.Evidence.Frame, FlowFrame: r.FirstFrame,
		Message: f.Message, Count: f.Count, Observed: slices.Clone(f.Observed), // f is reused after the call
		Filter:  report.DisplayFilter(r.Transport, r.Client, r.Server),
		Arrival: report.Arrival(r),
	}
}
