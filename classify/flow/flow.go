// Package flow defines what the engine, the protocol detectors, the policy and the reporters
// share: the flow Record (the output of classification, with the protocol facts the detectors
// read from the payload), the Open the engine holds for each open flow, the Flow a detector
// works on during one call (an Open and the packet being inspected), and the Detector contract.
//
// The package has no behaviour beyond small helpers, so every other package can depend on it
// without pulling in the engine or the policy: detectors import flow, the engine (package
// classify) imports flow and the detectors, the policy (package rules) imports flow only.
package flow

import "net/netip"

// Label is the protocol a flow was classified as.
type Label uint8

// The labels, in the order the summary lists them.
const (
	Unknown Label = iota
	NTP
	SIP
	SIPTLS
	LDAP
	LDAPS
	NumLabels
)

var labelNames = [NumLabels]string{"unknown", "ntp", "sip", "sip-tls", "ldap", "ldaps"}

// String returns the label as it appears in every output ("sip-tls", "unknown", ...).
func (l Label) String() string {
	if l < NumLabels {
		return labelNames[l]
	}
	return "unknown"
}

// ParseLabel turns a label name back into a Label. ok is false for a name that is not a label.
func ParseLabel(s string) (l Label, ok bool) {
	for i, n := range labelNames {
		if n == s {
			return Label(i), true
		}
	}
	return Unknown, false
}

// Transport is the layer-4 protocol of a flow.
type Transport uint8

// Transports the engine follows.
const (
	TCP Transport = 6
	UDP Transport = 17
)

// String returns "tcp" or "udp" (ECS network.transport).
func (t Transport) String() string {
	switch t {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return "other"
}

// Dir is the direction of a payload within a flow.
type Dir uint8

// Directions. The client is the side that opened the flow (see Record).
const (
	FromClient Dir = 0
	FromServer Dir = 1
)

// End says why a flow record was emitted.
type End uint8

// Reasons a flow ends.
const (
	EndEOF     End = iota // end of input: the flow was still open
	EndFIN                // TCP FIN seen from both sides
	EndRST                // TCP RST
	EndIdle               // idle timeout (packet time, or wall clock on a live sensor)
	EndEvicted            // evicted from a full flow table
)

var endNames = [...]string{"eof", "fin", "rst", "idle", "evicted"}

// String returns the reason as it appears in the output (pcapaudit.flow.end_reason).
func (e End) String() string {
	if int(e) < len(endNames) {
		return endNames[e]
	}
	return "eof"
}

// Record is everything known about one flow when it ends: where it came from, what it carried
// and what the detector read from its payload. Reporters and the policy see only Records.
//
// The json tags are the output schema (the NDJSON writer maps the top level to ECS itself and
// marshals the protocol facts as they are); the expr tags are the names the policy's conditions
// use. The two agree for every protocol fact.
//
// The fields are ordered by size, the one-byte ones last, so that they pack: with the state
// Open adds, an Open fills the 256-byte size class (see Open). Times are Time values (eight
// bytes, Unix nanoseconds in UTC) rather than time.Time (24 bytes); the file and the parse
// error are numbered strings (FileRef, Text: four bytes each), and the rarely set tunnel
// layers are behind a pointer.
type Record struct {
	FirstFrame uint64 // frame number (as Wireshark counts them, from 1 per file) of the first packet
	Start, End Time   // packet time of the first and of the last packet

	// Client is the side that opened the flow: the sender of the SYN when it was captured,
	// otherwise the side the detector recognised as sending requests, otherwise the first sender.
	// ClientKnown (below) says whether a SYN or the detector fixed it.
	Client, Server netip.AddrPort

	// Tunnel holds the tunnel layers the packets came out of, as on the first packet the
	// engine kept of the flow (nil when there are none, as on most flows; TunnelLayers reads
	// them). It is not reused and may be kept; flows may share it, so it is never changed.
	// VLAN and NVLAN, below, are the rest of how the flow arrived.
	Tunnel *Tunnels

	// ProtoFrame is the frame number of the first packet whose payload the detector
	// recognised, ProtoTime its packet time and ProtoFile its capture file when it is not File
	// (see Event.File; 0, whose String is "", when it is File). All three are zero while the
	// flow is unclaimed.
	ProtoFrame uint64
	ProtoTime  Time

	Packets [2]uint64 // by Dir
	Bytes   [2]uint64 // IP bytes (IP header onward) by Dir
	Payload [2]uint64 // transport payload bytes by Dir

	// EmitAt is the packet time at which the flow ended by the engine's rules: its last
	// activity plus the idle timeout, or the moment it was evicted or its ports were reused
	// (a live sensor's engine clock also follows the wall clock: Engine.Advance). It is zero
	// (unset) for flows still open at the end of input. Records are reported in (EmitAt,
	// FirstFrame) order, with the open flows last, whatever the number of workers.
	EmitAt Time

	// File is the capture file the first packet came from ("-" for standard input, the
	// interface on a live sensor); File.String() is its name.
	File FileRef

	// Inspection bookkeeping: counted problems on this flow. They never stop the audit.
	ParseError  Text   // the first parse error (its text), for the evidence
	ParseErrors uint32 // payloads the detector could not parse (hostile or malformed)
	Gaps        uint32 // TCP sequence gaps skipped (bytes missing from the capture)

	// Protocol facts, set by the detector that claimed the flow (nil otherwise).
	// TLS is set for sip-tls and ldaps flows and for LDAP after StartTLS. They are recycled:
	// whoever consumes a record last gives them back (ReleaseFacts), so a consumer that keeps
	// a pointer into them, or one of their lists, beyond its call keeps a Clone instead
	// (their strings may be kept as they are).
	NTP  *NTPFacts  `json:"ntp,omitempty" expr:"ntp"`
	SIP  *SIPFacts  `json:"sip,omitempty" expr:"sip"`
	LDAP *LDAPFacts `json:"ldap,omitempty" expr:"ldap"`
	TLS  *TLSFacts  `json:"tls,omitempty" expr:"tls"`

	ProtoFile FileRef // see ProtoFrame

	// VLAN holds the ids of the first NVLAN (at most 2) VLAN tags of the frame that carried
	// the flow's own IP packet, as on the first packet the engine kept of the flow: the outer
	// tag, then the inner one of QinQ.
	VLAN  [2]uint16
	NVLAN uint8

	Transport Transport
	// ClientKnown is true when the client was fixed by a captured TCP SYN (or by the detector).
	ClientKnown bool

	Label Label
	// Certain is true when the label rests on evidence other protocols do not produce by
	// chance, beyond the one message that made the claim: a request answered by a reply that
	// matches it, or a message whose whole structure was checked (a SIP message with its
	// mandatory headers, a complete LDAP message, a TLS hello). A finding whose only evidence
	// is the label itself (a protocol on a non-standard port) needs it. Each detector's
	// README says when it sets it.
	Certain bool

	EndReason End

	// Interim is set on an interim report of a flow that is still open (a live sensor's
	// Config.Interim): its counters so far. The flow's final record follows when it ends.
	// FactsPending is set on an interim report whose detector is still reading the flow:
	// its protocol facts are still changing, so they may be read during the emit call only
	// (the policy runs there) and are left out of what is kept (classify.Parallel drops them
	// after its Annotator).
	Interim, FactsPending bool

	Cut bool // inspection stopped at the per-flow inspection window

	// What the claiming detector asked of the engine (Open.Reverse, Open.Answered). They are
	// the engine's business, not part of the record, and sit in the padding after the
	// one-byte fields, where they cost nothing.
	reverse, answered bool
}

// TunnelLayers returns the tunnel layers the flow arrived in, outermost first (nil outside
// tunnels).
func (r *Record) TunnelLayers() []Tunnel {
	if r.Tunnel == nil {
		return nil
	}
	return r.Tunnel.Layers
}

// Tunnels is the list of tunnel layers a flow arrived in (Record.Tunnel).
type Tunnels struct {
	Layers []Tunnel // outermost first
}

// Tunnel is one tunnel layer a flow arrived in (see Record.Tunnel). The expr tags are the
// names a policy condition uses for the elements of `tunnel`.
type Tunnel struct {
	// Type is "gre", "pptp", "erspan", "vxlan", "geneve", "gtp-u", "mpls", "pppoe",
	// "ip-in-ip" or "capwap".
	Type string
	// Source and Destination are the outer IP endpoints of the layer, Source on the client's
	// side of the flow; invalid (the zero Addr) for MPLS and PPPoE layers.
	Source, Destination netip.Addr
	// ID is the layer's identifier when HasID: the VNI (VXLAN, Geneve), the GRE key, the
	// ERSPAN session id, the GTP-U TEID, the MPLS label, the PPPoE session id or the PPTP call
	// id. A TEID, a label and a call id are those of the flow's first packet (each direction
	// has its own).
	ID    uint32
	HasID bool
	// VLAN is the id of the first VLAN tag of the frame that carried the layer, when HasVLAN.
	VLAN    uint16
	HasVLAN bool
}

// Event marks where in the capture a fact was seen: the frame number and the packet time of
// the packet that completed the message. Facts that a finding may point at embed it. It is 24
// bytes without a pointer, as a flow's facts hold many.
type Event struct {
	Frame uint64 `json:"frame" expr:"frame"`
	Time  Time   `json:"time" expr:"time"`
	// File is the capture file the packet came from when it is not the file of the flow's
	// first packet (Record.File), else 0 (File.String() is then ""). When several files are
	// read as one (merged in packet time), a flow's packets may come from more than one
	// file, and frame numbers count from 1 in each. Reporters name it beside Frame; it is not
	// a fact.
	File FileRef `json:"-" expr:"-"`
}

// Open is a flow as the engine holds it while the flow is open, one for every flow it
// classifies: the Record it fills in and the claiming detector's per-flow state. It says
// nothing of the packet being inspected: a detector reaches an Open through the Flow of its
// Inspect call, which adds that packet.
type Open struct {
	Record

	// State is the claiming detector's private per-flow state. The engine clears it when the
	// flow ends; a detector sets it once, when it claims the flow.
	State any

	// An Open fills the 256-byte size class of Go's allocator (TestFlowSizeClass): the engine
	// holds one for every open flow it classifies, and one byte more would take the 288-byte
	// class. The requests a detector makes of the engine (Reverse, Answered) live in Record's
	// padding, after its one-byte fields.
}

// Flow is what a detector works on during one Inspect call: the open flow (its Record and the
// detector's State, through Open) plus the packet being inspected. The engine owns it and
// reuses it for every call, for whichever flow it inspects: a detector must not keep it, nor
// a pointer to it, beyond the call (per-flow state goes in State, which lives in the Open).
type Flow struct {
	*Open

	// Frame and Time identify the packet whose payload is being inspected (for a TCP message
	// that spans segments, the segment that completed it). Detectors copy them into Event.
	Frame uint64
	Time  Time

	// FrameFile is the capture file the packet being inspected came from, when it is not
	// Record.File (see Event.File), else 0.
	FrameFile FileRef
}

// New returns a Flow over a new, empty Open, for calling a detector outside the engine (its
// tests and fuzz targets).
func New() *Flow { return &Flow{Open: new(Open)} }

// Now returns the Event of the packet being inspected.
func (f *Flow) Now() Event { return Event{Frame: f.Frame, Time: f.Time, File: f.FrameFile} }

// Claim labels the flow. A detector calls it once, from the Inspect call that recognised the
// protocol, before it writes any fact; until then it must leave the Flow untouched.
func (f *Flow) Claim(l Label) {
	f.Label = l
	if f.ProtoFrame == 0 {
		f.ProtoFrame, f.ProtoTime, f.ProtoFile = f.Frame, f.Time, f.FrameFile
	}
}

// Withdraw takes back the claim of the detector that made it, from a later Inspect call of
// that detector, when what followed showed the flow is not its protocol (a reply that does
// not answer the request the claim rested on). It clears the label, the protocol facts, the
// detector's state and the parse errors it counted; the detector then returns Reject and
// the flow is reported as unknown.
func (f *Open) Withdraw() {
	f.Label, f.Certain = Unknown, false
	f.ProtoFrame, f.ProtoTime, f.ProtoFile = 0, 0, 0
	f.ParseErrors, f.ParseError = 0, 0
	f.NTP, f.SIP, f.LDAP, f.TLS = nil, nil, nil, nil
	f.State = nil
	f.answered = false
}

// Answered tells the engine that the exchange the flow carries is complete: over UDP, a
// request and the reply that ends it (an NTP reply, a CLDAP search result, the final response
// to a SIP OPTIONS or REGISTER). The engine then ends the flow after the short linger of its
// protocol (Config.UDPAnswered) instead of the UDP idle timeout; a later exchange on the same
// endpoints becomes a new flow. Packets during the linger still belong to the flow.
func (f *Open) Answered() { f.answered = true }

// Asked tells the engine that a new request opened an exchange that awaits its reply: the
// flow goes back to the UDP idle timeout until Answered is called again.
func (f *Open) Asked() { f.answered = false }

// IsAnswered reports whether the flow's exchange is complete (see Answered). Only the engine
// calls it.
func (f *Open) IsAnswered() bool { return f.answered }

// Relabel changes the label of a claimed flow (for example a TLS flow whose port says LDAPS).
func (f *Open) Relabel(l Label) { f.Label = l }

// Reverse tells the engine, from within the claiming Inspect call, that the sender of the
// payload being inspected is the server (a response seen before its request, for example a
// capture that started mid-flow). The engine swaps client and server unless a captured SYN
// already fixed them. The dir of the current call keeps the old orientation (the detector
// knows this payload came from the server); later calls see directions as swapped.
func (f *Open) Reverse() { f.reverse = true }

// TakeReverse reports and clears a pending Reverse request. Only the engine calls it.
func (f *Open) TakeReverse() bool {
	r := f.reverse
	f.reverse = false
	return r
}

// Fail counts a parse error on the flow and keeps the first one as evidence. err should be a
// package-level sentinel: Fail is called on the per-packet path and must not allocate, and
// the texts of the errors it keeps are numbered (TextOf) for as long as the process runs.
func (f *Open) Fail(err error) {
	if f.ParseErrors == 0 && err != nil {
		f.ParseError = TextOf(err.Error())
	}
	f.ParseErrors++
}

// Reset clears the flow for reuse by the engine's pool.
func (f *Open) Reset() { *f = Open{} }

// Verdict is a detector's answer to one Inspect call.
type Verdict uint8

// Verdicts.
const (
	// Reject: not this protocol, or nothing more can be parsed. The detector is not called
	// again for the flow. If it had claimed the flow, the label stays.
	Reject Verdict = iota
	// More: call again with the next payload. Before the flow is claimed this means "cannot
	// tell yet": the engine presents the whole undecided prefix of the direction again with the
	// next bytes (the detector must not have changed the Flow). After the claim, the bytes past
	// the returned count n are kept and presented again in front of the next bytes of the same
	// direction (an incomplete message), within the per-flow inspection window.
	More
	// Done: every fact the policy needs is known. The flow's payload is not inspected again;
	// its packets are still counted.
	Done
)

// StateReuser is implemented by a detector that reuses the per-flow states it makes. The
// engine calls PutState with a flow's State when it lets the state go (the flow ended, or its
// inspection stopped), after which nothing refers to it but the detector's pool.
type StateReuser interface {
	PutState(state any)
}

// Detector recognises one protocol (or a family, such as TLS) and reads its facts.
//
// One Detector value serves every flow and every worker: it must be safe for concurrent use,
// which in practice means it keeps no mutable state of its own (per-flow state goes in
// Flow.State).
//
// Inspect is called with payload bytes of a flow, one direction at a time and in order (TCP is
// reassembled first), until it returns Reject or Done. data aliases the capture buffer or the
// engine's reassembly buffer and is valid only during the call: copy what you keep. So is f
// itself: the engine reuses it for every call, so what a detector keeps between calls goes
// in f.State, never f. n is the number of bytes consumed (only meaningful with More after the
// flow is claimed).
//
// Inspect must not panic on any input (the engine recovers and counts it as a parse error, but
// that is a bug), must not allocate when it rejects, and must check every length it reads
// from the wire against the data and against a limit before using it.
type Detector interface {
	// Name is a short lower-case name ("ntp", "sip", "ldap", "tls").
	Name() string
	// Hint reports whether port (either end of a flow) is one where this detector's protocol
	// usually lives over transport t. Hinted detectors are tried first; a port never decides.
	Hint(t Transport, port uint16) bool
	// Accepts reports whether the detector can work on transport t at all.
	Accepts(t Transport) bool
	Inspect(f *Flow, dir Dir, data []byte) (v Verdict, n int)
}
