// Package summary aggregates the flows and findings of an audit into an overview: per host
// (roles, protocols, flows, bytes, findings by severity), per server (the LDAP, NTP and SIP
// servers seen, the TLS versions, cipher suites and certificates they presented, the SIP user
// agents and registrars), the top talkers, a timeline, and — for the HTML report — the findings
// themselves. The Aggregator is a sink of the audit pipeline (report.Reporter), so every filter
// the pipeline applies applies to it; the renderers (text, JSON, CSV here, HTML in
// cmd/internal/htmlreport) all read the same Report.
//
// Memory is bounded: at most Limits.Hosts hosts and Limits.Servers servers are tracked (the
// first seen); the flows of hosts or servers past the bound are still counted in the totals
// and in Report.Dropped, not listed. Lists inside an entry (TLS versions, cipher suites,
// certificates, user agents, clients counted) have small fixed bounds, and past them entries
// are counted, not kept.
package summary

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// Limits bound what an Aggregator keeps.
type Limits struct {
	// Hosts and Servers bound the per-host and per-server maps (default 10,000 each).
	Hosts, Servers int
	// Findings is the number of findings kept for a report that lists them (the HTML report);
	// 0 keeps none (every finding is still counted).
	Findings int
	// Top is the number of top talkers (default 10).
	Top int
}

// Bounds of the lists inside one entry.
const (
	maxClients    = 64   // distinct clients counted per server; past it the count says "at least"
	maxVersions   = 8    // TLS versions per server
	maxCiphers    = 16   // cipher suites per server
	maxCerts      = 8    // certificates per server
	maxAgents     = 16   // SIP user agents / Server headers per server
	maxAgentHosts = 16   // hosts listed per SIP user agent
	maxAgentsAll  = 1000 // distinct SIP user agents in the report
)

// DefaultLimits are the bounds the commands use unless told otherwise.
func DefaultLimits() Limits { return Limits{Hosts: 10_000, Servers: 10_000, Top: 10} }

// Aggregator is a report.Reporter that builds a Report. Flow is called from one goroutine
// (the pipeline's sinks goroutine); Close completes the report and hands it to the outputs
// added with Output.
type Aggregator struct {
	lim     Limits
	hosts   map[netip.Addr]*Host
	servers map[serverKey]*Server
	agents  map[string]*UserAgent
	rep     Report
	outs    []func(*Report) error
	tl      timeline
	closed  bool
}

type serverKey struct {
	label flow.Label
	addr  netip.AddrPort
}

// New returns an empty Aggregator; zero limits take the defaults.
func New(lim Limits) *Aggregator {
	d := DefaultLimits()
	lim.Hosts = cmp.Or(lim.Hosts, d.Hosts)
	lim.Servers = cmp.Or(lim.Servers, d.Servers)
	lim.Top = cmp.Or(lim.Top, d.Top)
	a := &Aggregator{
		lim:     lim,
		hosts:   map[netip.Addr]*Host{},
		servers: map[serverKey]*Server{},
		agents:  map[string]*UserAgent{},
	}
	a.rep.Limits = lim
	return a
}

// Output adds a writer of the finished report, called by Close in the order added. Close
// returns their errors joined.
func (a *Aggregator) Output(w func(*Report) error) { a.outs = append(a.outs, w) }

// Flow implements report.Reporter.
func (a *Aggregator) Flow(r *flow.Record, findings []*rules.Finding) {
	if r.Interim {
		return // a live sensor's interim report: the final record follows
	}
	rep := &a.rep
	rep.Flows++
	bytes := r.Bytes[0] + r.Bytes[1]
	rep.Bytes += bytes
	rep.FlowsByLabel[r.Label]++
	var sev [numSev]uint64
	for _, f := range findings {
		if i := sevIndex(f.Rule.Severity); i >= 0 {
			sev[i]++
			rep.Findings[i]++
		}
	}
	start := r.Start.Time()
	a.tl.add(start, 1, false)
	for _, f := range findings {
		t := f.Evidence.Time.Time()
		if t.IsZero() {
			t = start
		}
		a.tl.add(t, 1, true)
	}

	a.host(r.Client.Addr(), r, true, bytes, r.Bytes[0], &sev)
	if r.Server.Addr() != r.Client.Addr() {
		a.host(r.Server.Addr(), r, false, bytes, r.Bytes[1], &sev)
	} else if h := a.hosts[r.Server.Addr()]; h != nil {
		h.Server = true // one host talking to itself is both
	}
	if r.Label != flow.Unknown {
		a.server(r)
	}
	if a.lim.Findings > 0 {
		for _, f := range findings {
			if len(rep.FindingList) >= a.lim.Findings {
				rep.Dropped.Findings++
				continue
			}
			rep.FindingList = append(rep.FindingList, newFinding(r, f))
		}
	}
}

func (a *Aggregator) host(addr netip.Addr, r *flow.Record, client bool, bytes, sent uint64, sev *[numSev]uint64) {
	h := a.hosts[addr]
	if h == nil {
		if len(a.hosts) >= a.lim.Hosts {
			a.rep.Dropped.HostFlows++
			return
		}
		h = &Host{Addr: addr}
		a.hosts[addr] = h
	}
	if client {
		h.Client = true
	} else {
		h.Server = true
	}
	h.labels |= 1 << r.Label
	h.Flows++
	h.Bytes += bytes
	h.Sent += sent
	for i, n := range sev {
		h.Findings[i] += n
	}
}

func (a *Aggregator) server(r *flow.Record) {
	k := serverKey{r.Label, r.Server}
	s := a.servers[k]
	if s == nil {
		if len(a.servers) >= a.lim.Servers {
			a.rep.Dropped.ServerFlows++
			return
		}
		s = &Server{Protocol: r.Label.String(), Addr: r.Server, Transport: r.Transport.String(), clients: map[netip.Addr]struct{}{}}
		a.servers[k] = s
	}
	s.Flows++
	s.Bytes += r.Bytes[0] + r.Bytes[1]
	if _, ok := s.clients[r.Client.Addr()]; !ok {
		if len(s.clients) < maxClients {
			s.clients[r.Client.Addr()] = struct{}{}
		} else {
			s.ClientsBounded = true
		}
	}
	if r.NTP != nil {
		s.NTPVersions = addInt(s.NTPVersions, int(r.NTP.Version), maxVersions)
	}
	if t := r.TLS; t != nil {
		if t.Version != "" {
			s.TLSVersions = addStr(s.TLSVersions, t.VersionProtocol+" "+t.Version, maxVersions)
		}
		if t.Cipher != "" {
			s.Ciphers = addStr(s.Ciphers, t.Cipher, maxCiphers)
		}
		if c := t.Server; c != nil && (c.Subject != "" || c.Issuer != "" || c.Hash.SHA256 != "") {
			a.cert(s, r, c)
		}
	}
	if sp := r.SIP; sp != nil {
		if sp.Methods.Register > 0 {
			s.Registrar = true
		}
		if sp.Server != "" {
			s.ServerAgents = addStr(s.ServerAgents, sp.Server, maxAgents)
		}
		if sp.UserAgent != "" {
			s.UserAgents = addStr(s.UserAgents, sp.UserAgent, maxAgents)
			a.agent(sp.UserAgent, "user-agent", r.Client.Addr())
		}
		if sp.Server != "" {
			a.agent(sp.Server, "server", r.Server.Addr())
		}
	}
}

func (a *Aggregator) cert(s *Server, r *flow.Record, c *flow.TLSServerFacts) {
	for i := range s.Certificates {
		x := &s.Certificates[i]
		if x.SHA256 == c.Hash.SHA256 && x.Subject == c.Subject && x.Issuer == c.Issuer {
			x.Flows++
			x.Expired = x.Expired || expiredAt(c, r.Start.Time())
			return
		}
	}
	if len(s.Certificates) >= maxCerts {
		s.CertificatesDropped++
		return
	}
	s.Certificates = append(s.Certificates, Certificate{
		Subject: c.Subject, Issuer: c.Issuer, NotBefore: c.NotBefore.Time(), NotAfter: c.NotAfter.Time(),
		SelfSigned: c.SelfSigned || c.SelfIssued, Expired: expiredAt(c, r.Start.Time()),
		KeyAlgorithm: c.X509.PublicKeyAlgorithm, KeySize: c.X509.PublicKeySize,
		SHA256: c.Hash.SHA256, Flows: 1,
	})
}

// expiredAt: the certificate was outside its validity when the flow was seen (packet time,
// so a capture read years later is judged as of its own day).
func expiredAt(c *flow.TLSServerFacts, t time.Time) bool {
	return (!c.NotAfter.IsZero() && t.After(c.NotAfter.Time())) || (!c.NotBefore.IsZero() && t.Before(c.NotBefore.Time()))
}

func (a *Aggregator) agent(name, role string, host netip.Addr) {
	k := role + "\x00" + name
	u := a.agents[k]
	if u == nil {
		if len(a.agents) >= maxAgentsAll {
			a.rep.Dropped.Agents++
			return
		}
		u = &UserAgent{Name: name, Role: role}
		a.agents[k] = u
	}
	u.Flows++
	if !slices.Contains(u.Hosts, host) {
		if len(u.Hosts) < maxAgentHosts {
			u.Hosts = append(u.Hosts, host)
		} else {
			u.HostsBounded = true
		}
	}
}

func addStr(l []string, s string, max int) []string {
	if slices.Contains(l, s) || len(l) >= max {
		return l
	}
	return append(l, s)
}

func addInt(l []int, v, max int) []int {
	if slices.Contains(l, v) || len(l) >= max {
		return l
	}
	return append(l, v)
}

// Close implements report.Reporter: it completes the report with the audit's summary and
// hands it to the outputs.
func (a *Aggregator) Close(s *report.Summary) error {
	if a.closed {
		return nil
	}
	a.closed = true
	rep := a.Finish(s)
	var errs []error
	for _, w := range a.outs {
		if err := w(rep); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Finish completes and returns the report (Close calls it; a test may call it directly).
func (a *Aggregator) Finish(s *report.Summary) *Report {
	rep := &a.rep
	if s != nil {
		rep.Policy = s.Policy
		for _, f := range s.Files {
			rep.Files = append(rep.Files, File{Name: f.Name, Packets: f.Packets, Bytes: f.Bytes, First: f.First, Last: f.Last, Warnings: f.Warnings, Error: f.Err})
			rep.Packets += f.Packets
			if !f.First.IsZero() && (rep.First.IsZero() || f.First.Before(rep.First)) {
				rep.First = f.First
			}
			if f.Last.After(rep.Last) {
				rep.Last = f.Last
			}
		}
		rep.UnknownSkipped = s.Stats.FlowsByLabel[flow.Unknown] - rep.FlowsByLabel[flow.Unknown]
	}
	rep.Hosts = make([]*Host, 0, len(a.hosts))
	for _, h := range a.hosts {
		h.Protocols = []string{}
		for l := flow.Label(0); l < flow.NumLabels; l++ {
			if h.labels&(1<<l) != 0 {
				h.Protocols = append(h.Protocols, l.String())
			}
		}
		h.Roles = []string{}
		if h.Client {
			h.Roles = append(h.Roles, "client")
		}
		if h.Server {
			h.Roles = append(h.Roles, "server")
		}
		rep.Hosts = append(rep.Hosts, h)
	}
	slices.SortFunc(rep.Hosts, func(x, y *Host) int { return x.Addr.Compare(y.Addr) })
	rep.Servers = make([]*Server, 0, len(a.servers))
	for _, s := range a.servers {
		s.Clients = len(s.clients)
		rep.Servers = append(rep.Servers, s)
	}
	order := func(p string) int { l, _ := flow.ParseLabel(p); return int(l) }
	slices.SortFunc(rep.Servers, func(x, y *Server) int {
		return cmp.Or(cmp.Compare(order(x.Protocol), order(y.Protocol)), x.Addr.Compare(y.Addr))
	})
	rep.UserAgents = make([]*UserAgent, 0, len(a.agents))
	for _, u := range a.agents {
		rep.UserAgents = append(rep.UserAgents, u)
	}
	slices.SortFunc(rep.UserAgents, func(x, y *UserAgent) int {
		return cmp.Or(cmp.Compare(x.Role, y.Role), cmp.Compare(y.Flows, x.Flows), cmp.Compare(x.Name, y.Name))
	})
	talkers := slices.Clone(rep.Hosts)
	slices.SortStableFunc(talkers, func(x, y *Host) int { return cmp.Compare(y.Bytes, x.Bytes) })
	rep.TopTalkers = talkers[:min(len(talkers), a.lim.Top)]
	rep.Timeline = a.tl.buckets()
	return rep
}
