package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// part of a message: literal text, or a compiled {{ expression }} (text is then its source).
type part struct {
	text   string
	prog   *vm.Program
	render renderFn // prog compiled to Go (render.go); nil: it runs on the VM
}

// evidenceProg is a compiled `evidence` expression and where its value holds the flow.Event.
type evidenceProg struct {
	prog *vm.Program
	path []int   // nil: the value is a flow.Event (or *flow.Event)
	fast eventFn // prog compiled to Go; nil: it runs on the VM
}

type allowList struct {
	prefixes []netip.Prefix
	hosts    []netip.Addr
	ports    []uint16
}

func (a *allowList) empty() bool { return len(a.prefixes)+len(a.hosts)+len(a.ports) == 0 }

type threshold struct {
	count    int
	by       *vm.Program
	distinct *vm.Program
	weight   *vm.Program // how many matches a flow counts for; nil: one (or its each matches)
	window   time.Duration
	// by, distinct and weight compiled to Go (render.go); nil: on the VM.
	byR, distinctR renderFn
	weightF        func(*frame) int64
}

var (
	idRE   = regexp.MustCompile(`^[a-z0-9]+(?:[-_][a-z0-9]+)*(?:\.[a-z0-9]+(?:[-_][a-z0-9]+)*)*$`)
	nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	pathRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*$`)
	yamlRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// ruleKeys are the keys a rule may have, in the order docs/policy.md lists them.
var ruleKeys = []string{"id", "name", "description", "severity", "protocol", "each", "when",
	"message", "evidence", "remedy", "references", "allow", "threshold"}

type loader struct {
	name      string
	rule      string // id of the rule being loaded, for errors
	lists     map[string][]string
	eachTypes map[typeKey]*eachType
}

func (l *loader) errf(n *yaml.Node, format string, a ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &LoadError{File: l.name, Line: line, Rule: l.rule, Msg: fmt.Sprintf(format, a...)}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (l *loader) load(data []byte) (*Policy, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		le := &LoadError{File: l.name, Msg: oneLine(err.Error())}
		if m := yamlRE.FindStringSubmatch(le.Msg); m != nil {
			le.Line, _ = strconv.Atoi(m[1])
			le.Msg = "YAML: " + m[2]
		}
		return nil, le
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &LoadError{File: l.name, Line: 1, Msg: "a policy is a YAML mapping with version, settings and rules"}
	}
	top := root.Content[0]
	f, err := l.fields(top, "policy", "version", "settings", "rules")
	if err != nil {
		return nil, err
	}
	if v := f["version"]; v == nil {
		return nil, l.errf(top, "missing \"version\" (want version: 1)")
	} else if v.Kind != yaml.ScalarNode || v.Value != "1" {
		return nil, l.errf(v, "version %q: this pcapaudit reads version 1", v.Value)
	}
	p := &Policy{Name: l.name, Source: data, Settings: defaultSettings()}
	if s := f["settings"]; s != nil {
		if err := l.settings(s, &p.Settings); err != nil {
			return nil, err
		}
	}
	l.lists = p.Settings.Lists
	rs := f["rules"]
	if rs == nil {
		return nil, l.errf(top, "missing \"rules\"")
	}
	if rs.Kind != yaml.SequenceNode {
		return nil, l.errf(rs, "rules: want a list of rules")
	}
	seen := map[string]int{}
	for i, rn := range rs.Content {
		r, err := l.ruleOf(rn, i+1)
		if err != nil {
			return nil, err
		}
		if line, dup := seen[r.ID]; dup {
			l.rule = r.ID
			err := l.errf(rn, "id already used by the rule at line %d", line)
			l.rule = ""
			return nil, err
		}
		seen[r.ID] = r.Line
		r.index = len(p.Rules)
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

// defaultSettings are the built-in settings, the same as the default policy's, for a policy
// that leaves some out.
func defaultSettings() Settings {
	return Settings{
		Timeouts: Timeouts{TCP: 10 * time.Minute, TCPClosed: 5 * time.Second, UDP: 2 * time.Minute,
			UDPAnswered: defaultUDPAnswered()},
		TLSPorts: map[uint16]flow.Label{636: flow.LDAPS, 3269: flow.LDAPS, 5061: flow.SIPTLS},
		StandardPorts: map[flow.Label][]uint16{
			flow.NTP: {123}, flow.SIP: {5060, 5061}, flow.SIPTLS: {5061},
			flow.LDAP: {389, 3268}, flow.LDAPS: {636, 3269},
		},
		Lists: map[string][]string{},
	}
}

// fields reads a mapping node, rejecting keys not in allowed (what is named in errors) and
// keys given twice.
func (l *loader) fields(n *yaml.Node, what string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, l.errf(n, "%s: want a mapping of %s", what, strings.Join(allowed, ", "))
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := n.Content[i]
		k := kn.Value
		if kn.Kind != yaml.ScalarNode || !slices.Contains(allowed, k) {
			return nil, l.errf(kn, "%s: unknown key %q (want one of %s)", what, k, strings.Join(allowed, ", "))
		}
		if _, dup := out[k]; dup {
			return nil, l.errf(kn, "%s: key %q given twice", what, k)
		}
		out[k] = n.Content[i+1]
	}
	return out, nil
}

// mapping walks the pairs of a mapping node whose keys are data (ports, labels, list names),
// rejecting a key given twice.
func (l *loader) mapping(n *yaml.Node, what string, fn func(k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return l.errf(n, "%s: want a mapping", what)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			return l.errf(k, "%s: %q given twice", what, k.Value)
		}
		seen[k.Value] = true
		if err := fn(k, n.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) str(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", l.errf(n, "%s: want a string", what)
	}
	return n.Value, nil
}

// strs reads a scalar or a list of scalars; nodes are the element nodes, for error lines.
func (l *loader) strs(n *yaml.Node, what string) (vals []string, nodes []*yaml.Node, err error) {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, []*yaml.Node{n}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, nil, l.errf(n, "%s: want a value or a list of values", what)
	}
	for _, c := range n.Content {
		s, err := l.str(c, what)
		if err != nil {
			return nil, nil, err
		}
		vals = append(vals, s)
		nodes = append(nodes, c)
	}
	return vals, nodes, nil
}

func (l *loader) duration(n *yaml.Node, what string) (time.Duration, error) {
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d <= 0 {
		return 0, l.errf(n, "%s: duration %q: want a positive Go duration such as 90s, 10m or 1h30m", what, n.Value)
	}
	return d, nil
}

// defaultUDPAnswered are the built-in lingers of answered UDP exchanges (the default
// policy's settings.timeouts.udp_answered).
func defaultUDPAnswered() (d [flow.NumLabels]time.Duration) {
	d[flow.NTP], d[flow.LDAP], d[flow.SIP] = 5*time.Second, 2*time.Second, 5*time.Second
	return d
}

// udpAnswered reads settings.timeouts.udp_answered: a linger by UDP protocol (ntp, ldap,
// sip), 0s for none. A protocol left out keeps its built-in linger.
func (l *loader) udpAnswered(n *yaml.Node, dst *[flow.NumLabels]time.Duration) error {
	const what = "settings.timeouts.udp_answered"
	return l.mapping(n, what, func(k, v *yaml.Node) error {
		lab, ok := flow.ParseLabel(k.Value)
		if k.Kind != yaml.ScalarNode || !ok || (lab != flow.NTP && lab != flow.LDAP && lab != flow.SIP) {
			return l.errf(k, "%s: unknown protocol %q (want ntp, ldap or sip: the protocols answered over UDP)", what, k.Value)
		}
		d, err := time.ParseDuration(v.Value)
		if v.Kind != yaml.ScalarNode || err != nil || d < 0 {
			return l.errf(v, "%s.%s: duration %q: want a Go duration such as 2s, or 0s for no linger", what, k.Value, v.Value)
		}
		dst[lab] = d
		return nil
	})
}

func (l *loader) port(n *yaml.Node, what string) (uint16, error) {
	v, err := strconv.ParseUint(n.Value, 10, 16)
	if n.Kind != yaml.ScalarNode || err != nil || v == 0 {
		return 0, l.errf(n, "%s: port %q: want a number from 1 to 65535", what, n.Value)
	}
	return uint16(v), nil
}

func (l *loader) label(n *yaml.Node, what string) (flow.Label, error) {
	lab, ok := flow.ParseLabel(n.Value)
	if n.Kind != yaml.ScalarNode || !ok || lab == flow.Unknown {
		return 0, l.errf(n, "%s: unknown protocol %q (want ntp, sip, sip-tls, ldap or ldaps)", what, n.Value)
	}
	return lab, nil
}

func (l *loader) ports(n *yaml.Node, what string) ([]uint16, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, l.errf(n, "%s: want a list of ports", what)
	}
	var out []uint16
	for _, pn := range n.Content {
		p, err := l.port(pn, what)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (l *loader) settings(n *yaml.Node, s *Settings) error {
	f, err := l.fields(n, "settings", "timeouts", "tls_ports", "standard_ports", "lists")
	if err != nil {
		return err
	}
	if t := f["timeouts"]; t != nil {
		tf, err := l.fields(t, "settings.timeouts", "tcp", "tcp_closed", "udp", "udp_answered")
		if err != nil {
			return err
		}
		if a := tf["udp_answered"]; a != nil {
			if err := l.udpAnswered(a, &s.Timeouts.UDPAnswered); err != nil {
				return err
			}
		}
		for _, k := range []struct {
			key string
			dst *time.Duration
		}{{"tcp", &s.Timeouts.TCP}, {"tcp_closed", &s.Timeouts.TCPClosed}, {"udp", &s.Timeouts.UDP}} {
			if v := tf[k.key]; v != nil {
				if *k.dst, err = l.duration(v, "settings.timeouts."+k.key); err != nil {
					return err
				}
			}
		}
	}
	if t := f["tls_ports"]; t != nil {
		s.TLSPorts = map[uint16]flow.Label{}
		err := l.mapping(t, "settings.tls_ports", func(k, v *yaml.Node) error {
			port, err := l.port(k, "settings.tls_ports")
			if err != nil {
				return err
			}
			lab, err := l.label(v, "settings.tls_ports")
			if err != nil {
				return err
			}
			if lab != flow.LDAPS && lab != flow.SIPTLS {
				return l.errf(v, "settings.tls_ports: a TLS port is ldaps or sip-tls, not %s", lab)
			}
			s.TLSPorts[port] = lab
			return nil
		})
		if err != nil {
			return err
		}
	}
	if t := f["standard_ports"]; t != nil {
		s.StandardPorts = map[flow.Label][]uint16{}
		err := l.mapping(t, "settings.standard_ports", func(k, v *yaml.Node) error {
			lab, err := l.label(k, "settings.standard_ports")
			if err != nil {
				return err
			}
			s.StandardPorts[lab], err = l.ports(v, "settings.standard_ports."+lab.String())
			return err
		})
		if err != nil {
			return err
		}
	}
	if t := f["lists"]; t != nil {
		err := l.mapping(t, "settings.lists", func(k, v *yaml.Node) error {
			if !nameRE.MatchString(k.Value) {
				return l.errf(k, "settings.lists: list name %q: want lower case letters, digits and _ (it is used as lists.%s)", k.Value, k.Value)
			}
			if v.Kind != yaml.SequenceNode {
				return l.errf(v, "settings.lists.%s: want a list of values", k.Value)
			}
			vals, _, err := l.strs(v, "settings.lists."+k.Value)
			if vals == nil {
				vals = []string{}
			}
			s.Lists[k.Value] = vals
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) ruleOf(n *yaml.Node, num int) (*Rule, error) {
	l.rule = ""
	defer func() { l.rule = "" }()
	if n.Kind != yaml.MappingNode {
		return nil, l.errf(n, "rules: rule %d: want a mapping with id, name, severity, protocol, when, message, ...", num)
	}
	// Name the rule in every error, even one about a key before its id.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "id" && n.Content[i+1].Kind == yaml.ScalarNode {
			l.rule = n.Content[i+1].Value
		}
	}
	f, err := l.fields(n, "rule", ruleKeys...)
	if err != nil {
		return nil, err
	}
	if f["id"] == nil {
		return nil, l.errf(n, "rule %d: missing \"id\"", num)
	}
	for _, k := range []string{"name", "description", "severity", "protocol", "when", "message", "remedy"} {
		if f[k] == nil {
			return nil, l.errf(n, "missing %q", k)
		}
	}
	r := &Rule{Line: n.Line}
	if r.ID, err = l.str(f["id"], "id"); err != nil {
		return nil, err
	}
	if !idRE.MatchString(r.ID) {
		return nil, l.errf(f["id"], "id %q: want lower case words joined by dots, such as ldap.cleartext-password", r.ID)
	}
	for _, s := range []struct {
		key string
		dst *string
	}{{"name", &r.Name}, {"description", &r.Description}, {"remedy", &r.Remedy}, {"when", &r.When}} {
		if *s.dst, err = l.str(f[s.key], s.key); err != nil {
			return nil, err
		}
		if strings.TrimSpace(*s.dst) == "" {
			return nil, l.errf(f[s.key], "%s: empty", s.key)
		}
	}
	sev, err := l.str(f["severity"], "severity")
	if err != nil {
		return nil, err
	}
	if r.Severity, err = ParseSeverity(sev); err != nil {
		return nil, l.errf(f["severity"], "%v", err)
	}
	protos, nodes, err := l.strs(f["protocol"], "protocol")
	if err != nil {
		return nil, err
	}
	if len(protos) == 0 {
		return nil, l.errf(f["protocol"], "protocol: want at least one protocol")
	}
	for i := range protos {
		lab, err := l.label(nodes[i], "protocol")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(r.Protocols, lab) {
			r.Protocols = append(r.Protocols, lab)
		}
	}
	if refs := f["references"]; refs != nil {
		if r.References, _, err = l.strs(refs, "references"); err != nil {
			return nil, err
		}
	}

	// The environment: Env, or Env plus `it` for a rule with each. Expressions are compiled
	// against the struct value, not a pointer to it: only then does expr resolve a name to a
	// field index at compile time (OpLoadField) instead of looking it up by name, through a
	// lock-free map and reflection, on every run. The checker runs them on pointers.
	var env any = Env{}
	if e := f["each"]; e != nil {
		if r.Each, err = l.str(e, "each"); err != nil {
			return nil, err
		}
		if !pathRE.MatchString(r.Each) {
			return nil, l.errf(e, "each: %q: want the dotted name of a list, such as ldap.binds", r.Each)
		}
		path, msg := resolveEach(r.Each)
		if path == nil {
			return nil, l.errf(e, "each: %s", msg)
		}
		r.each = path
		et := l.eachTypes[path.elem]
		if et == nil {
			et = newEachType(path.elem)
			l.eachTypes[path.elem] = et
		}
		r.eachT = et
		env = reflect.New(et.typ).Elem().Interface()
	}

	if r.when, err = l.compile(f["when"], "when", r.When, env, expr.AsBool()); err != nil {
		return nil, err
	}
	var it reflect.Type
	if r.each != nil {
		it = r.each.elem
	}
	r.fast = compileFast(r.when.Node(), it, l.lists)
	if r.message, err = l.template(f["message"], env); err != nil {
		return nil, err
	}
	for i := range r.message {
		if p := &r.message[i]; p.prog != nil {
			p.render = compileRender(p.prog.Node(), it, l.lists)
		}
	}
	var seen []string
	for _, p := range r.message {
		if p.prog != nil && !slices.Contains(seen, p.text) {
			seen = append(seen, p.text)
		}
	}
	r.observed = len(seen)
	if ev := f["evidence"]; ev != nil {
		if r.evidence, err = l.evidence(ev, env); err != nil {
			return nil, err
		}
		r.evidence.fast = compileEvent(r.evidence.prog.Node(), it, l.lists, r.evidence.path)
	}
	if a := f["allow"]; a != nil {
		if err := l.allow(a, &r.allow); err != nil {
			return nil, err
		}
	}
	if t := f["threshold"]; t != nil {
		if r.thresh, err = l.threshold(t, env); err != nil {
			return nil, err
		}
		th := r.thresh
		th.byR = compileRender(th.by.Node(), it, l.lists)
		if th.distinct != nil {
			th.distinctR = compileRender(th.distinct.Node(), it, l.lists)
		}
		if th.weight != nil {
			th.weightF = compileWeight(th.weight.Node(), it, l.lists)
		}
	}
	return r, nil
}

// compile compiles one expression of a rule against env. key names the expression in errors
// ("when", "threshold.by", "message placeholder {{ x }}").
func (l *loader) compile(n *yaml.Node, key, src string, env any, opts ...expr.Option) (*vm.Program, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, l.errf(n, "%s: want an expression (a string)", key)
	}
	if strings.TrimSpace(src) == "" {
		return nil, l.errf(n, "%s: empty expression", key)
	}
	lc := &listsCheck{known: l.lists}
	opts = append([]expr.Option{expr.Env(env), expr.DisableBuiltin("now"), expr.Patch(lc), isNilFunc, expr.Patch(nilCheck{}), expr.Patch(&factTimes{})}, opts...)
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, l.exprErr(n, key, src, err)
	}
	if lc.unknown != "" {
		return nil, l.errf(n, "unknown list %q in %s (settings.lists has %s)", "lists."+lc.unknown, key, listNames(l.lists))
	}
	return p, nil
}

func listNames(m map[string][]string) string {
	if len(m) == 0 {
		return "none"
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// listsCheck is an expr patcher that only looks: it records the first lists.<name> whose
// name is not in settings.lists (a map, which expr cannot check by itself).
// nilCheck rewrites `x != nil` and `x == nil` on a pointer into a call of isNil. expr would
// otherwise dereference the pointer to compare it, copying the whole struct it points to
// (the facts of a flow, hundreds of bytes) on every evaluation of `tls != nil && ...`.
type nilCheck struct{}

func (nilCheck) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || (b.Operator != "!=" && b.Operator != "==") {
		return
	}
	x := b.Left
	if _, ok := b.Right.(*ast.NilNode); !ok {
		if _, ok := b.Left.(*ast.NilNode); !ok {
			return
		}
		x = b.Right
	}
	if t := x.Type(); t == nil || t.Kind() != reflect.Pointer {
		return
	}
	var out ast.Node = &ast.CallNode{Callee: &ast.IdentifierNode{Value: "isNil"}, Arguments: []ast.Node{x}}
	if b.Operator == "!=" {
		out = &ast.UnaryNode{Operator: "!", Node: out}
	}
	ast.Patch(node, out)
}

// factTimes rewrites every expression of type flow.Time or flow.Date (the packet times,
// timestamps and certificate validity the protocol facts hold as integers: `ldap.first.time`,
// `ntp.response.transmit`, `it.time`, `tls.server.not_after`) into a call of its Time method,
// so that a policy sees them as the time.Time values it always has: they compare with < <= ==
// and with `start` and `end`, have the methods Before, After, Equal, IsZero and Sub, and print
// in messages and threshold keys as times do.
//
// It runs until nothing is left to rewrite (expr types the arguments of a method call only once
// its receiver has the method: `tls.server.not_after.Sub(tls.certificate.time)`), and never
// rewrites the same expression twice.
type factTimes struct {
	done    map[ast.Node]bool // the expressions already wrapped in a call of Time
	changed bool
}

func (v *factTimes) Reset()             { v.changed = false }
func (v *factTimes) ShouldRepeat() bool { return v.changed }

var (
	flowTimeType = reflect.TypeFor[flow.Time]()
	flowDateType = reflect.TypeFor[flow.Date]()
)

func (v *factTimes) Visit(node *ast.Node) {
	if t := (*node).Type(); (t != flowTimeType && t != flowDateType) || v.done[*node] {
		return
	}
	if v.done == nil {
		v.done = map[ast.Node]bool{}
	}
	v.done[*node], v.changed = true, true
	ast.Patch(node, &ast.CallNode{Callee: &ast.MemberNode{Node: *node, Property: &ast.StringNode{Value: "Time"}, Method: true}})
}

// factTime returns the flow.Time or flow.Date expression that factTimes turned n into a
// time.Time of, or nil when n is not such a call.
func factTime(n ast.Node) ast.Node {
	c, ok := n.(*ast.CallNode)
	if !ok || len(c.Arguments) != 0 {
		return nil
	}
	m, ok := c.Callee.(*ast.MemberNode)
	if !ok || !m.Method || m.Optional || (m.Node.Type() != flowTimeType && m.Node.Type() != flowDateType) {
		return nil
	}
	if p, ok := m.Property.(*ast.StringNode); !ok || p.Value != "Time" {
		return nil
	}
	return m.Node
}

// isNilFunc is the function nilCheck calls: a nil interface or a nil pointer.
var isNilFunc = expr.Function("isNil", func(p ...any) (any, error) {
	if p[0] == nil {
		return true, nil
	}
	v := reflect.ValueOf(p[0])
	return v.Kind() == reflect.Pointer && v.IsNil(), nil
}, new(func(any) bool))

type listsCheck struct {
	known   map[string][]string
	unknown string
}

func (c *listsCheck) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || c.unknown != "" {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "lists" {
		return
	}
	if s, ok := m.Property.(*ast.StringNode); ok {
		if _, known := c.known[s.Value]; !known {
			c.unknown = s.Value
		}
	}
}

// exprErr turns an expr compile error into one line that names the key, with the line of the
// policy file the error is on.
func (l *loader) exprErr(n *yaml.Node, key, src string, err error) error {
	line := n.Line
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Message
		switch {
		case strings.Contains(msg, " has no field "):
			msg = "unknown field " + strconv.Quote(tokenAt(src, fe.From))
		case strings.HasPrefix(msg, "unknown name "):
			msg = "unknown name " + strconv.Quote(tokenAt(src, fe.From))
		default:
			msg = oneLine(msg)
			if strings.Contains(src, "\n") || len(src) > 20 {
				msg += fmt.Sprintf(" (at %q)", tokenAt(src, fe.From))
			}
		}
		switch {
		case n.Style&yaml.LiteralStyle != 0 && fe.Line > 0:
			line = n.Line + fe.Line // the block starts on the line after its key
		case n.Style&yaml.FoldedStyle != 0:
			line = n.Line + 1
		}
	} else if t, ok := strings.CutPrefix(msg, "expected bool, but got "); ok {
		msg = "want a bool condition, but the expression is a " + t
	}
	return l.errf(&yaml.Node{Line: line}, "%s in %s", oneLine(msg), key)
}

// tokenAt returns the dotted name (or the word) of src around rune offset at.
func tokenAt(src string, at int) string {
	rs := []rune(src)
	if at < 0 || at >= len(rs) {
		return strings.TrimSpace(src)
	}
	word := func(r rune) bool {
		return r == '_' || r == '.' || r == '?' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	i, j := at, at
	for i > 0 && word(rs[i-1]) {
		i--
	}
	for j < len(rs) && word(rs[j]) && (rs[j] != '.' || j == at) {
		j++
	}
	if i == j {
		return string(rs[at])
	}
	return strings.Trim(string(rs[i:j]), ".")
}

// template compiles a message with {{ expression }} placeholders.
func (l *loader) template(n *yaml.Node, env any) ([]part, error) {
	s, err := l.str(n, "message")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(s) == "" {
		return nil, l.errf(n, "message: empty")
	}
	var parts []part
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if strings.Contains(s, "}}") {
				return nil, l.errf(n, "message: }} without {{")
			}
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
			if strings.Contains(s[:i], "}}") {
				return nil, l.errf(n, "message: }} without {{")
			}
			parts = append(parts, part{text: s[:i]})
		}
		src := strings.TrimSpace(s[i+2 : i+j])
		p, err := l.compile(n, "message placeholder {{ "+src+" }}", src, env)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part{text: src, prog: p})
		s = s[i+j+2:]
	}
}

func (l *loader) evidence(n *yaml.Node, env any) (*evidenceProg, error) {
	src, err := l.str(n, "evidence")
	if err != nil {
		return nil, err
	}
	p, err := l.compile(n, "evidence", src, env)
	if err != nil {
		return nil, err
	}
	t := p.Node().Type()
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == eventType {
		return &evidenceProg{prog: p}, nil
	}
	if t != nil {
		if path := eventPath(t); path != nil {
			return &evidenceProg{prog: p, path: path}, nil
		}
	}
	return nil, l.errf(n, "evidence: %q is a %v, want an event (a frame and a time, such as ldap.first)", src, t)
}

func (l *loader) allow(n *yaml.Node, a *allowList) error {
	f, err := l.fields(n, "allow", "cidrs", "hosts", "ports")
	if err != nil {
		return err
	}
	if c := f["cidrs"]; c != nil {
		vals, nodes, err := l.strs(c, "allow.cidrs")
		if err != nil {
			return err
		}
		for i, v := range vals {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return l.errf(nodes[i], "allow.cidrs: %q is not a CIDR (such as 10.0.0.0/8 or 2001:db8::/32)", v)
			}
			a.prefixes = append(a.prefixes, p.Masked())
		}
	}
	if h := f["hosts"]; h != nil {
		vals, nodes, err := l.strs(h, "allow.hosts")
		if err != nil {
			return err
		}
		for i, v := range vals {
			ip, err := netip.ParseAddr(v)
			if err != nil {
				return l.errf(nodes[i], "allow.hosts: %q is not an IP address (host names are not resolved: give addresses or cidrs)", v)
			}
			a.hosts = append(a.hosts, ip.Unmap().WithZone(""))
		}
	}
	if p := f["ports"]; p != nil {
		if a.ports, err = l.ports(p, "allow.ports"); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) threshold(n *yaml.Node, env any) (*threshold, error) {
	f, err := l.fields(n, "threshold", "count", "by", "distinct", "window", "weight")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"count", "by", "window"} {
		if f[k] == nil {
			return nil, l.errf(n, "threshold: missing %q (count, by and window are required)", k)
		}
	}
	t := &threshold{}
	if t.count, err = strconv.Atoi(f["count"].Value); err != nil || t.count < 1 || f["count"].Kind != yaml.ScalarNode {
		return nil, l.errf(f["count"], "threshold.count: %q: want a positive number", f["count"].Value)
	}
	if t.window, err = l.duration(f["window"], "threshold.window"); err != nil {
		return nil, err
	}
	if t.by, err = l.compile(f["by"], "threshold.by", f["by"].Value, env); err != nil {
		return nil, err
	}
	if d := f["distinct"]; d != nil {
		if t.distinct, err = l.compile(d, "threshold.distinct", d.Value, env); err != nil {
			return nil, err
		}
	}
	if w := f["weight"]; w != nil {
		if t.distinct != nil {
			return nil, l.errf(w, "threshold: weight and distinct do not go together (distinct counts values, not matches)")
		}
		if t.weight, err = l.compile(w, "threshold.weight", w.Value, env, expr.AsInt()); err != nil {
			return nil, err
		}
	}
	return t, nil
}
