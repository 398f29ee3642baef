// Package rules is pcapaudit's policy: a YAML file of rules whose conditions are expr-lang
// expressions over a flow's Record, the engine settings that go with them, and the Checker
// that runs the rules on every flow when it ends.
//
// The policy never sees packets and detectors never see the policy: a detector fills the
// protocol facts of a flow.Record (classify/flow), the engine emits the Record when the flow
// ends, and Checker.Check evaluates every rule whose protocol is the record's label.
//
// Every expression of a policy (conditions, message placeholders, evidence, threshold keys)
// is compiled when the policy loads, type-checked against Env (and, for rules with `each`,
// against the element type of the list), so a misspelt field, a type error or a condition
// that is not a bool is a *LoadError naming the file, the line and the rule, never a surprise
// in the middle of an audit. The default policy is embedded (default.yaml) and returned by
// Default; a policy file given by the user replaces it. The format is described in
// docs/policy.md.
package rules

import (
	_ "embed"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

//go:embed default.yaml
var defaultYAML []byte

// Severity of a finding. The words follow common SIEM practice.
type Severity uint8

// Severities, in increasing order. The zero value is not a severity.
const (
	Low Severity = iota + 1
	Medium
	High
	Critical
)

var sevNames = [...]string{"", "low", "medium", "high", "critical"}

// String returns "low", "medium", "high" or "critical" ("unknown" for anything else).
func (s Severity) String() string {
	if s > 0 && int(s) < len(sevNames) {
		return sevNames[s]
	}
	return "unknown"
}

// Score is the ECS event.severity of the severity: 21, 47, 73 or 99 (0 for no severity).
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

// ParseSeverity parses "low", "medium", "high" or "critical" (lower case, as in the policy
// and on the command line).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range sevNames {
		if i > 0 && n == s {
			return Severity(i), nil
		}
	}
	return 0, errors.New("severity " + strconv.Quote(s) + ": want low, medium, high or critical")
}

// Rule is one compiled rule of a policy. The exported fields are the rule's description as
// the policy gives it; the compiled expressions are private. A Rule is immutable after Load
// and may be shared by any number of Checkers.
type Rule struct {
	// ID is stable and unique within the policy: lower case, dotted ("ldap.cleartext-password").
	ID string
	// Name is a short title; Description says what the rule detects and why it matters;
	// Remedy says what to do about it.
	Name, Description, Remedy string
	Severity                  Severity
	// Protocols are the labels the rule applies to: it is evaluated only on records with one
	// of them.
	Protocols []flow.Label
	// References are standards, CVEs or advisories ("RFC 4513 §5.1.2", "CVE-2013-5211").
	References []string
	// Line is the line of the policy file where the rule starts.
	Line int
	// Each is the list the rule iterates over ("ldap.binds"), empty for a flow-level rule.
	Each string
	// When is the condition's source text.
	When string

	index    int // position in Policy.Rules, for the checker's per-rule state
	when     *vm.Program
	fast     fastCond // when, compiled to Go; nil when it runs on the VM
	message  []part
	observed int // distinct placeholders of message: the observed values of a finding
	evidence *evidenceProg
	each     *eachPath
	eachT    *eachType
	allow    allowList
	thresh   *threshold
}

// KV is one observed value of a finding: the expression (as written in the rule's message)
// and what it evaluated to.
type KV struct{ Key, Value string }

// Finding is a rule that held on a flow, with its evidence. A Finding is new for every emit
// call and belongs to the receiver, which may keep it, or give it back with ReleaseFinding
// once nothing reads it or its Observed list any more (as the audit does after its sinks;
// the strings may be kept).
type Finding struct {
	Rule *Rule
	// Message is the rule's message with its {{ placeholders }} filled in. Values that came
	// off the wire have their control characters escaped.
	Message string
	// Evidence is the packet that proves the finding: the `evidence` expression's event,
	// else the first matching element's (rules with `each`), else the packet where the
	// detector recognised the protocol (Record.ProtoFrame), else the flow's first packet.
	Evidence flow.Event
	// Count is the number of matching elements (rules with `each`), 1 for a flow-level rule,
	// or, for a threshold rule, the number of matches (or distinct values) in the window when
	// it fired.
	Count int
	// Observed lists the values the message interpolated, in order, keyed by the placeholder's
	// expression text (a placeholder used twice appears once).
	Observed []KV

	// The flow the finding was raised on (for a threshold rule: the flow that crossed it).
	Client, Server netip.AddrPort
	Transport      flow.Transport
	Label          flow.Label
	File           string
	FlowFirstFrame uint64

	// Suppressed is the number of findings of the same rule, client and server that a live
	// sensor held back since it last reported one (its suppression window).
	Suppressed uint64
}

// Timeouts are the engine's idle timeouts, in packet time.
type Timeouts struct {
	TCP       time.Duration // an open TCP flow
	TCPClosed time.Duration // a TCP flow after FIN or RST, for late packets
	UDP       time.Duration // a UDP flow
	// UDPAnswered is, by label (ntp, ldap, sip), the linger of a UDP flow whose exchange is
	// complete, instead of UDP; zero turns it off (settings.timeouts.udp_answered).
	UDPAnswered [flow.NumLabels]time.Duration
}

// Settings are the engine settings a policy carries; the command passes them to the engine.
// A policy that leaves a setting out gets the built-in value (the default policy's).
type Settings struct {
	Timeouts Timeouts
	// TLSPorts labels a TLS flow by its server port (636: ldaps, 5061: sip-tls).
	TLSPorts map[uint16]flow.Label
	// StandardPorts are the ports where each protocol belongs (the standard_port env field).
	StandardPorts map[flow.Label][]uint16
	// Lists are the named lists conditions use as lists.<name>.
	Lists map[string][]string
}

// Policy is a loaded, compiled policy. It is immutable after Load and safe to share between
// goroutines; per-audit state lives in a Checker.
type Policy struct {
	// Name is the file name the policy was loaded from, or "default".
	Name  string
	Rules []*Rule
	// Settings for the engine.
	Settings Settings
	// Source is the YAML as given (what `pcapaudit policy` prints for the default).
	Source []byte
}

// LoadError is a policy that does not load. It names the file, the line (0 when unknown) and
// the rule (empty outside a rule), and Error() is a single line:
//
//	policy.yaml:42: rule "ldap.cleartext-password": unknown field "ldap.bindz" in when
type LoadError struct {
	File string
	Line int
	Rule string
	Msg  string
	// Err is the underlying error when there is one (reading the file).
	Err error
}

func (e *LoadError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Rule != "" {
		s += ": rule " + strconv.Quote(e.Rule)
	}
	return s + ": " + e.Msg
}

// Unwrap returns the underlying error, if any (for errors.Is(err, fs.ErrNotExist)).
func (e *LoadError) Unwrap() error { return e.Err }

// Default returns the embedded default policy (rules/default.yaml), named "default". Each
// call compiles a new Policy. It panics if the embedded file does not load, which a test
// rules out.
func Default() *Policy {
	p, err := Load("default", defaultYAML)
	if err != nil {
		panic("rules: the embedded default policy does not load: " + err.Error())
	}
	return p
}

// LoadFile reads and loads a policy file. Errors are *LoadError naming path.
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		var pe *os.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, &LoadError{File: path, Msg: msg, Err: err}
	}
	p, err := Load(filepath.Base(path), data)
	if le, ok := err.(*LoadError); ok {
		le.File = path
	}
	return p, err
}

// Load parses and compiles the policy in data; name is used in errors and as Policy.Name.
// Errors are *LoadError.
func Load(name string, data []byte) (*Policy, error) {
	l := &loader{name: name, eachTypes: map[typeKey]*eachType{}}
	p, err := l.load(data)
	if err != nil {
		return nil, err
	}
	return p, nil
}
