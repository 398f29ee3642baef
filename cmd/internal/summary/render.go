package summary

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// WriteJSON writes the report as one indented JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	doc := jsonReport{Report: r, FlowsByLabel: r.byLabel(), TopTalkers: []netip.Addr{}}
	for _, h := range r.TopTalkers {
		doc.TopTalkers = append(doc.TopTalkers, h.Addr)
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(doc)
}

// jsonReport adds to the Report what it holds in another shape.
type jsonReport struct {
	*Report
	TopTalkers   []netip.Addr      `json:"top_talkers"`
	FlowsByLabel map[string]uint64 `json:"flows_by_protocol"`
}

func (r *Report) byLabel() map[string]uint64 {
	m := map[string]uint64{}
	for l := flow.Label(0); l < flow.NumLabels; l++ {
		if n := r.FlowsByLabel[l]; n > 0 {
			m[l.String()] = n
		}
	}
	return m
}

// CSVHeader are the columns of `--format csv`: one table, a row per host, server, TLS
// certificate and SIP user agent, the kind in the first column; a column that does not
// apply to a kind is empty. Lists are joined with "; ".
var CSVHeader = []string{
	"record", "protocol", "address", "port", "transport", "roles", "protocols", "flows", "bytes",
	"bytes_sent", "clients", "critical", "high", "medium", "low", "talker_rank",
	"tls_versions", "tls_ciphers", "ntp_versions", "sip_registrar", "sip_user_agents", "sip_server_agents",
	"cert_subject", "cert_issuer", "cert_not_before", "cert_not_after", "cert_self_signed", "cert_expired",
	"cert_key", "cert_sha256", "name", "hosts",
}

// WriteCSV writes the report as one CSV table (see CSVHeader).
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	col := map[string]int{}
	for i, h := range CSVHeader {
		col[h] = i
	}
	row := make([]string, len(CSVHeader))
	put := func(k, v string) { row[col[k]] = cell(v) }
	emit := func() {
		cw.Write(row)
		clear(row)
	}
	cw.Write(CSVHeader)
	rank := map[netip.Addr]int{}
	for i, h := range r.TopTalkers {
		rank[h.Addr] = i + 1
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, h := range r.Hosts {
		put("record", "host")
		put("address", h.Addr.String())
		put("roles", strings.Join(h.Roles, "; "))
		put("protocols", strings.Join(h.Protocols, "; "))
		put("flows", u(h.Flows))
		put("bytes", u(h.Bytes))
		put("bytes_sent", u(h.Sent))
		for s := rules.Critical; s >= rules.Low; s-- {
			put(s.String(), u(h.Findings.Of(s)))
		}
		if n := rank[h.Addr]; n > 0 {
			put("talker_rank", strconv.Itoa(n))
		}
		emit()
	}
	for _, s := range r.Servers {
		server := func() {
			put("protocol", s.Protocol)
			put("address", s.Addr.Addr().String())
			put("port", strconv.Itoa(int(s.Addr.Port())))
			put("transport", s.Transport)
		}
		server()
		put("record", "server")
		put("flows", u(s.Flows))
		put("bytes", u(s.Bytes))
		put("clients", strconv.Itoa(s.Clients))
		put("tls_versions", strings.Join(s.TLSVersions, "; "))
		put("tls_ciphers", strings.Join(s.Ciphers, "; "))
		put("ntp_versions", joinInts(s.NTPVersions))
		if s.Protocol == "sip" || s.Protocol == "sip-tls" {
			put("sip_registrar", strconv.FormatBool(s.Registrar))
		}
		put("sip_user_agents", strings.Join(s.UserAgents, "; "))
		put("sip_server_agents", strings.Join(s.ServerAgents, "; "))
		emit()
		for _, c := range s.Certificates {
			server()
			put("record", "certificate")
			put("flows", u(c.Flows))
			put("cert_subject", c.Subject)
			put("cert_issuer", c.Issuer)
			put("cert_not_before", rfc3339(c.NotBefore))
			put("cert_not_after", rfc3339(c.NotAfter))
			put("cert_self_signed", strconv.FormatBool(c.SelfSigned))
			put("cert_expired", strconv.FormatBool(c.Expired))
			put("cert_key", keyName(c))
			put("cert_sha256", c.SHA256)
			emit()
		}
	}
	for _, a := range r.UserAgents {
		put("record", "sip_user_agent")
		put("protocol", "sip")
		put("roles", a.Role)
		put("name", a.Name)
		put("flows", u(a.Flows))
		put("hosts", joinAddrs(a.Hosts, a.HostsBounded))
		emit()
	}
	cw.Flush()
	return cw.Error()
}

// cell keeps a value that came off the wire from being read as a formula by a spreadsheet
// (OWASP "CSV injection"): a leading = + - @ or control character gets a quote in front.
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "'" + v
		}
	}
	return v
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func keyName(c Certificate) string {
	switch {
	case c.KeyAlgorithm != "" && c.KeySize > 0:
		return fmt.Sprintf("%s %d", c.KeyAlgorithm, c.KeySize)
	}
	return c.KeyAlgorithm
}

func joinInts(l []int) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, "; ")
}

func joinAddrs(l []netip.Addr, more bool) string {
	s := make([]string, len(l), len(l)+1)
	for i, a := range l {
		s[i] = a.String()
	}
	if more {
		s = append(s, "…")
	}
	return strings.Join(s, "; ")
}

// Clean makes a value that came off the wire safe and short for a terminal table: control
// characters become '?', and past max runes it is cut with "…".
func Clean(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// WriteText writes the report as aligned tables for a person.
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	read := 0
	for _, f := range r.Files {
		if f.Error == "" {
			read++
		}
	}
	fmt.Fprintln(bw, "pcapaudit summary")
	fmt.Fprintf(bw, "  read      %d of %d file(s), %d packets", read, len(r.Files), r.Packets)
	if !r.First.IsZero() {
		fmt.Fprintf(bw, ", %s → %s", r.First.UTC().Format("2006-01-02 15:04:05"), r.Last.UTC().Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintln(bw)
	for _, f := range r.Files {
		if f.Error != "" {
			fmt.Fprintf(bw, "  error     %s\n", f.Error)
		}
		for _, m := range f.Warnings {
			fmt.Fprintf(bw, "  warning   %s\n", m)
		}
	}
	var labels []string
	for l := flow.Label(1); l <= flow.NumLabels; l++ {
		lab := l % flow.NumLabels
		if n := r.FlowsByLabel[lab]; n > 0 {
			labels = append(labels, fmt.Sprintf("%s %d", lab, n))
		}
	}
	fmt.Fprintf(bw, "  flows     %d (%s)", r.Flows, report.Human(r.Bytes))
	if len(labels) > 0 {
		fmt.Fprintf(bw, ": %s", strings.Join(labels, ", "))
	}
	if r.UnknownSkipped > 0 {
		fmt.Fprintf(bw, "; %d unknown not counted (--all counts them)", r.UnknownSkipped)
	}
	fmt.Fprintln(bw)
	fmt.Fprintf(bw, "  findings  %s\n", countsText(r.Findings))
	fmt.Fprintf(bw, "  policy    %s\n", r.Policy)
	if d := r.Dropped; d.HostFlows+d.ServerFlows+d.Agents > 0 {
		fmt.Fprintf(bw, "  bounds    past %d hosts / %d servers: %d host sides and %d server flows counted in the totals only; %d SIP user agent sightings not listed\n",
			r.Limits.Hosts, r.Limits.Servers, d.HostFlows, d.ServerFlows, d.Agents)
	}

	section := func(title string) {
		tw.Flush()
		fmt.Fprintf(bw, "\n%s\n", title)
	}
	if len(r.Hosts) > 0 {
		section(fmt.Sprintf("Hosts (%d)", len(r.Hosts)))
		fmt.Fprintln(tw, "  HOST\tROLES\tPROTOCOLS\tFLOWS\tBYTES\tCRITICAL\tHIGH\tMEDIUM\tLOW")
		for _, h := range r.Hosts {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\n", h.Addr, strings.Join(h.Roles, ","), strings.Join(h.Protocols, ","),
				h.Flows, report.Human(h.Bytes), h.Findings.Of(rules.Critical), h.Findings.Of(rules.High), h.Findings.Of(rules.Medium), h.Findings.Of(rules.Low))
		}
	}
	if len(r.Servers) > 0 {
		section(fmt.Sprintf("Servers (%d)", len(r.Servers)))
		fmt.Fprintln(tw, "  PROTOCOL\tSERVER\tFLOWS\tCLIENTS\tPRESENTED")
		for _, s := range r.Servers {
			clients := strconv.Itoa(s.Clients)
			if s.ClientsBounded {
				clients += "+"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", s.Protocol, s.Addr, s.Flows, clients, Clean(presented(s), 100))
		}
	}
	var certs bool
	for _, s := range r.Servers {
		certs = certs || len(s.Certificates) > 0
	}
	if certs {
		section("TLS certificates")
		fmt.Fprintln(tw, "  SERVER\tSUBJECT\tISSUER\tEXPIRES\tKEY\tNOTE")
		for _, s := range r.Servers {
			for _, c := range s.Certificates {
				var note []string
				if c.SelfSigned {
					note = append(note, "self-signed")
				}
				if c.Expired {
					note = append(note, "EXPIRED when seen")
				}
				exp := "-"
				if !c.NotAfter.IsZero() {
					exp = c.NotAfter.UTC().Format("2006-01-02")
				}
				fmt.Fprintf(tw, "  %s %s\t%s\t%s\t%s\t%s\t%s\n", s.Protocol, s.Addr, Clean(c.Subject, 48), Clean(c.Issuer, 48), exp, keyName(c), strings.Join(note, ", "))
			}
			if s.CertificatesDropped > 0 {
				fmt.Fprintf(tw, "  %s %s\t… and %d more certificates\t\t\t\t\n", s.Protocol, s.Addr, s.CertificatesDropped)
			}
		}
	}
	if len(r.UserAgents) > 0 {
		section("SIP user agents")
		fmt.Fprintln(tw, "  ROLE\tNAME\tFLOWS\tHOSTS")
		for _, a := range r.UserAgents {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", a.Role, Clean(a.Name, 48), a.Flows, joinAddrs(a.Hosts, a.HostsBounded))
		}
	}
	if len(r.TopTalkers) > 0 {
		section("Top talkers")
		fmt.Fprintln(tw, "  #\tHOST\tBYTES\tSENT\tFLOWS")
		for i, h := range r.TopTalkers {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%d\n", i+1, h.Addr, report.Human(h.Bytes), report.Human(h.Sent), h.Flows)
		}
	}
	tw.Flush()
	return bw.Flush()
}

// presented says in a few words what a server showed: TLS versions and suites, NTP
// versions, SIP registrar and agents.
func presented(s *Server) string {
	var p []string
	if len(s.TLSVersions) > 0 {
		p = append(p, strings.Join(s.TLSVersions, ", "))
	}
	if len(s.Ciphers) > 0 {
		p = append(p, strings.Join(s.Ciphers, ", "))
	}
	if len(s.NTPVersions) > 0 {
		p = append(p, "NTPv"+strings.ReplaceAll(joinInts(s.NTPVersions), "; ", ", v"))
	}
	if s.Registrar {
		p = append(p, "registrar")
	}
	if len(s.ServerAgents) > 0 {
		p = append(p, "server "+quoteAll(s.ServerAgents))
	}
	if len(s.UserAgents) > 0 {
		p = append(p, "clients "+quoteAll(s.UserAgents))
	}
	return strings.Join(p, "; ")
}

func quoteAll(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, ", ")
}

func countsText(c Counts) string {
	if c.Total() == 0 {
		return "none"
	}
	var p []string
	for s := rules.Critical; s >= rules.Low; s-- {
		p = append(p, fmt.Sprintf("%d %s", c.Of(s), s))
	}
	return strings.Join(p, ", ")
}
