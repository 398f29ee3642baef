// Package rules is the policy: YAML rules whose conditions are expr-lang expressions over a
// flow's record, compiled once when the policy loads, and the Checker that runs them on every
// flow that ends. The policy never sees packets; detectors never see the policy.
package rules

import (
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

//go:embed default.yaml
var defaultYAML []byte

// Severity of a finding.
type Severity uint8

// Severities, in increasing order.
const (
	Low Severity = iota + 1
	Medium
	High
	Critical
)

var sevNames = [...]string{"", "low", "medium", "high", "critical"}

// String returns "low", "medium", "high" or "critical".
func (s Severity) String() string {
	if int(s) < len(sevNames) {
		return sevNames[s]
	}
	return "unknown"
}

// Score is the ECS event.severity: 21, 47, 73, 99.
func (s Severity) Score() int {
	switch s {
	case Low:
		return 21
	case Medium:
		return 47
	case High:
		return 73
	case Critical:
		return 99
	}
	return 0
}

// ParseSeverity parses a severity word.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range sevNames {
		if i > 0 && n == s {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("severity %q: want low, medium, high or critical", s)
}

// Rule is one compiled rule of a policy.
type Rule struct {
	ID, Name, Description, Remedy string
	Severity                      Severity
	Protocols                     []flow.Label
	References                    []string
	// Line is where the rule starts in the policy file.
	Line int

	when     *vm.Program
	each     *vm.Program
	evidence *vm.Program
	message  []part
	allow    allow
	thresh   *threshold
}

// part of a message: literal text, or a compiled {{ expression }}.
type part struct {
	text string
	prog *vm.Program
}

type allow struct {
	prefixes []netip.Prefix
	hosts    []netip.Addr
	ports    []uint16
}

type threshold struct {
	count    int
	by       *vm.Program
	distinct *vm.Program
	window   time.Duration
}

// KV is one observed value of a finding: the expression and what it evaluated to.
type KV struct{ Key, Value string }

// Finding is a rule that held on a flow, with its evidence.
type Finding struct {
	Rule    *Rule
	Message string
	// Evidence is the packet that proves the finding.
	Evidence flow.Event
	// Count is how many list elements (with `each`) or flows (with `threshold`) matched.
	Count    int
	Observed []KV
}

// Timeouts are the engine's idle timeouts, in packet time.
type Timeouts struct{ TCP, TCPClosed, UDP time.Duration }

// Settings are the engine settings a policy carries.
type Settings struct {
	Timeouts      Timeouts
	TLSPorts      map[uint16]flow.Label
	StandardPorts map[flow.Label][]uint16
	Lists         map[string][]string
}

// Policy is a loaded, compiled policy.
type Policy struct {
	Name     string
	Rules    []*Rule
	Settings Settings
	// Source is the YAML as given.
	Source []byte
}

// LoadError is a policy that does not load: it names the file, the line and the rule.
type LoadError struct {
	File string
	Line int
	Rule string
	Msg  string
}

func (e *LoadError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Rule != "" {
		s += fmt.Sprintf(": rule %q", e.Rule)
	}
	return s + ": " + e.Msg
}

// Default returns the embedded default policy.
func Default() *Policy {
	p, err := Load("default", defaultYAML)
	if err != nil {
		panic("rules: the embedded default policy does not load: " + err.Error())
	}
	return p
}

// LoadFile loads a policy file.
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{File: path, Msg: errors.Unwrap(err).Error()}
	}
	p, err := Load(filepath.Base(path), data)
	if le, ok := err.(*LoadError); ok {
		le.File = path
	}
	return p, err
}

// Load parses and compiles a policy named name.
func Load(name string, data []byte) (*Policy, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &LoadError{File: name, Msg: oneLine(err.Error())}
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &LoadError{File: name, Line: 1, Msg: "a policy is a YAML mapping with version, settings and rules"}
	}
	l := &loader{name: name}
	p := &Policy{Name: name, Source: data}
	if err := l.policy(root.Content[0], p); err != nil {
		return nil, err
	}
	return p, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

type loader struct {
	name string
	rule string
}

func (l *loader) errf(n *yaml.Node, format string, a ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &LoadError{File: l.name, Line: line, Rule: l.rule, Msg: fmt.Sprintf(format, a...)}
}

// fields walks a mapping node, rejecting keys not in allowed.
func (l *loader) fields(n *yaml.Node, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, l.errf(n, "want a mapping")
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if !slices.Contains(allowed, k) {
			return nil, l.errf(n.Content[i], "unknown key %q (want one of %s)", k, strings.Join(allowed, ", "))
		}
		if _, dup := out[k]; dup {
			return nil, l.errf(n.Content[i], "key %q given twice", k)
		}
		out[k] = n.Content[i+1]
	}
	return out, nil
}

func (l *loader) str(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", l.errf(n, "want a string")
	}
	return n.Value, nil
}

func (l *loader) strs(n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, l.errf(n, "want a list")
	}
	var out []string
	for _, c := range n.Content {
		s, err := l.str(c)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (l *loader) duration(n *yaml.Node) (time.Duration, error) {
	d, err := time.ParseDuration(n.Value)
	if err != nil || d <= 0 {
		return 0, l.errf(n, "duration %q: want a positive Go duration such as 90s or 10m", n.Value)
	}
	return d, nil
}

func (l *loader) port(n *yaml.Node) (uint16, error) {
	v, err := strconv.ParseUint(n.Value, 10, 16)
	if err != nil || v == 0 {
		return 0, l.errf(n, "port %q: want 1 to 65535", n.Value)
	}
	return uint16(v), nil
}

func (l *loader) label(n *yaml.Node) (flow.Label, error) {
	lab, ok := flow.ParseLabel(n.Value)
	if !ok || lab == flow.Unknown {
		return 0, l.errf(n, "protocol %q: want ntp, sip, sip-tls, ldap or ldaps", n.Value)
	}
	return lab, nil
}

func (l *loader) policy(n *yaml.Node, p *Policy) error {
	f, err := l.fields(n, "version", "settings", "rules")
	if err != nil {
		return err
	}
	if v := f["version"]; v == nil || v.Value != "1" {
		return l.errf(n, "version: want 1")
	}
	p.Settings = Settings{
		Timeouts: Timeouts{TCP: 10 * time.Minute, TCPClosed: 5 * time.Second, UDP: 2 * time.Minute},
		TLSPorts: map[uint16]flow.Label{636: flow.LDAPS, 3269: flow.LDAPS, 5061: flow.SIPTLS},
		StandardPorts: map[flow.Label][]uint16{flow.NTP: {123}, flow.SIP: {5060, 5061}, flow.SIPTLS: {5061},
			flow.LDAP: {389, 3268}, flow.LDAPS: {636, 3269}},
		Lists: map[string][]string{},
	}
	if s := f["settings"]; s != nil {
		if err := l.settings(s, &p.Settings); err != nil {
			return err
		}
	}
	env := newEnvTypes(&p.Settings)
	rs := f["rules"]
	if rs == nil || rs.Kind != yaml.SequenceNode {
		return l.errf(n, "rules: want a list of rules")
	}
	seen := map[string]bool{}
	for _, rn := range rs.Content {
		r, err := l.ruleOf(rn, env)
		if err != nil {
			return err
		}
		if seen[r.ID] {
			return l.errf(rn, "id %q used twice", r.ID)
		}
		seen[r.ID] = true
		p.Rules = append(p.Rules, r)
	}
	return nil
}

func (l *loader) settings(n *yaml.Node, s *Settings) error {
	f, err := l.fields(n, "timeouts", "tls_ports", "standard_ports", "lists")
	if err != nil {
		return err
	}
	if t := f["timeouts"]; t != nil {
		tf, err := l.fields(t, "tcp", "tcp_closed", "udp")
		if err != nil {
			return err
		}
		for k, dst := range map[string]*time.Duration{"tcp": &s.Timeouts.TCP, "tcp_closed": &s.Timeouts.TCPClosed, "udp": &s.Timeouts.UDP} {
			if v := tf[k]; v != nil {
				if *dst, err = l.duration(v); err != nil {
					return err
				}
			}
		}
	}
	if t := f["tls_ports"]; t != nil {
		if t.Kind != yaml.MappingNode {
			return l.errf(t, "tls_ports: want a mapping of port: label")
		}
		s.TLSPorts = map[uint16]flow.Label{}
		for i := 0; i+1 < len(t.Content); i += 2 {
			port, err := l.port(t.Content[i])
			if err != nil {
				return err
			}
			lab, err := l.label(t.Content[i+1])
			if err != nil {
				return err
			}
			if lab != flow.LDAPS && lab != flow.SIPTLS {
				return l.errf(t.Content[i+1], "tls_ports: a TLS port is ldaps or sip-tls, not %s", lab)
			}
			s.TLSPorts[port] = lab
		}
	}
	if t := f["standard_ports"]; t != nil {
		if t.Kind != yaml.MappingNode {
			return l.errf(t, "standard_ports: want a mapping of label: [ports]")
		}
		s.StandardPorts = map[flow.Label][]uint16{}
		for i := 0; i+1 < len(t.Content); i += 2 {
			lab, err := l.label(t.Content[i])
			if err != nil {
				return err
			}
			if t.Content[i+1].Kind != yaml.SequenceNode {
				return l.errf(t.Content[i+1], "standard_ports: want a list of ports")
			}
			for _, pn := range t.Content[i+1].Content {
				p, err := l.port(pn)
				if err != nil {
					return err
				}
				s.StandardPorts[lab] = append(s.StandardPorts[lab], p)
			}
		}
	}
	if t := f["lists"]; t != nil {
		if t.Kind != yaml.MappingNode {
			return l.errf(t, "lists: want a mapping of name: [values]")
		}
		for i := 0; i+1 < len(t.Content); i += 2 {
			vals, err := l.strs(t.Content[i+1])
			if err != nil {
				return err
			}
			s.Lists[t.Content[i].Value] = vals
		}
	}
	return nil
}

func (l *loader) ruleOf(n *yaml.Node, env *envTypes) (*Rule, error) {
	l.rule = ""
	defer func() { l.rule = "" }()
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "id" {
				l.rule = n.Content[i+1].Value
			}
		}
	}
	f, err := l.fields(n, "id", "name", "description", "severity", "protocol", "each", "when",
		"message", "evidence", "remedy", "references", "allow", "threshold")
	if err != nil {
		return nil, err
	}
	r := &Rule{Line: n.Line}
	for _, k := range []string{"id", "name", "description", "severity", "protocol", "when", "message", "remedy"} {
		if f[k] == nil {
			return nil, l.errf(n, "missing %q", k)
		}
	}
	r.ID, r.Name, r.Description, r.Remedy = f["id"].Value, f["name"].Value, f["description"].Value, f["remedy"].Value
	if r.Severity, err = ParseSeverity(f["severity"].Value); err != nil {
		return nil, l.errf(f["severity"], "%v", err)
	}
	protos, err := l.strs(f["protocol"])
	if err != nil {
		return nil, err
	}
	for i, s := range protos {
		node := f["protocol"]
		if node.Kind == yaml.SequenceNode {
			node = node.Content[i]
		}
		lab, err := l.label(&yaml.Node{Value: s, Line: node.Line})
		if err != nil {
			return nil, err
		}
		r.Protocols = append(r.Protocols, lab)
	}
	if refs := f["references"]; refs != nil {
		if r.References, err = l.strs(refs); err != nil {
			return nil, err
		}
	}
	types := env.base
	if e := f["each"]; e != nil {
		if r.each, err = l.compile(e, e.Value, types); err != nil {
			return nil, err
		}
		t := r.each.Node().Type()
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Slice {
			return nil, l.errf(e, "each: %q is not a list", e.Value)
		}
		types = env.withIt(reflect.Zero(t.Elem()).Interface())
	}
	if r.when, err = l.compile(f["when"], f["when"].Value, types, expr.AsBool()); err != nil {
		return nil, err
	}
	if r.message, err = l.template(f["message"], types); err != nil {
		return nil, err
	}
	if ev := f["evidence"]; ev != nil {
		if r.evidence, err = l.compile(ev, ev.Value, types); err != nil {
			return nil, err
		}
		if t := r.evidence.Node().Type(); !isEvent(t) {
			return nil, l.errf(ev, "evidence: %q is a %v, want an event (frame and time)", ev.Value, t)
		}
	}
	if a := f["allow"]; a != nil {
		if err := l.allow(a, &r.allow); err != nil {
			return nil, err
		}
	}
	if t := f["threshold"]; t != nil {
		if r.thresh, err = l.threshold(t, types); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (l *loader) compile(n *yaml.Node, src string, env map[string]any, opts ...expr.Option) (*vm.Program, error) {
	opts = append([]expr.Option{expr.Env(env)}, opts...)
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, l.errf(n, "%s: %s", strings.TrimSpace(src), oneLine(strings.SplitN(err.Error(), "\n", 2)[0]))
	}
	return p, nil
}

// template compiles a message with {{ expression }} placeholders.
func (l *loader) template(n *yaml.Node, env map[string]any) ([]part, error) {
	s := n.Value
	var parts []part
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if s != "" {
				parts = append(parts, part{text: s})
			}
			return parts, nil
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return nil, l.errf(n, "message: {{ without }}")
		}
		if i > 0 {
			parts = append(parts, part{text: s[:i]})
		}
		src := strings.TrimSpace(s[i+2 : i+j])
		p, err := l.compile(n, src, env)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part{text: src, prog: p})
		s = s[i+j+2:]
	}
}

func (l *loader) allow(n *yaml.Node, a *allow) error {
	f, err := l.fields(n, "cidrs", "hosts", "ports")
	if err != nil {
		return err
	}
	if c := f["cidrs"]; c != nil {
		vals, err := l.strs(c)
		if err != nil {
			return err
		}
		for _, v := range vals {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return l.errf(c, "allow.cidrs: %q is not a CIDR", v)
			}
			a.prefixes = append(a.prefixes, p.Masked())
		}
	}
	if h := f["hosts"]; h != nil {
		vals, err := l.strs(h)
		if err != nil {
			return err
		}
		for _, v := range vals {
			ip, err := netip.ParseAddr(v)
			if err != nil {
				return l.errf(h, "allow.hosts: %q is not an IP address", v)
			}
			a.hosts = append(a.hosts, ip.Unmap())
		}
	}
	if p := f["ports"]; p != nil {
		if p.Kind != yaml.SequenceNode {
			return l.errf(p, "allow.ports: want a list")
		}
		for _, pn := range p.Content {
			v, err := l.port(pn)
			if err != nil {
				return err
			}
			a.ports = append(a.ports, v)
		}
	}
	return nil
}

func (l *loader) threshold(n *yaml.Node, env map[string]any) (*threshold, error) {
	f, err := l.fields(n, "count", "by", "distinct", "window")
	if err != nil {
		return nil, err
	}
	t := &threshold{}
	if f["count"] == nil || f["by"] == nil || f["window"] == nil {
		return nil, l.errf(n, "threshold: count, by and window are required")
	}
	if t.count, err = strconv.Atoi(f["count"].Value); err != nil || t.count < 1 {
		return nil, l.errf(f["count"], "threshold.count: want a positive number")
	}
	if t.window, err = l.duration(f["window"]); err != nil {
		return nil, err
	}
	if t.by, err = l.compile(f["by"], f["by"].Value, env); err != nil {
		return nil, err
	}
	if d := f["distinct"]; d != nil {
		if t.distinct, err = l.compile(d, d.Value, env); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// isEvent reports whether t is a flow.Event or a struct embedding one.
func isEvent(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return false
	}
	if t == reflect.TypeOf(flow.Event{}) {
		return true
	}
	for _, name := range []string{"Event", "At"} {
		if f, ok := t.FieldByName(name); ok && f.Type == reflect.TypeOf(flow.Event{}) {
			return true
		}
	}
	return false
}
