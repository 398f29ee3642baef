// Package ldap detects LDAP (RFC 4511) over TCP and connectionless LDAP (CLDAP) over UDP by
// the content of the payload, whatever the port, and reads the facts the policy needs:
// binds (mechanism, whether a password travelled in cleartext — never the password), their
// results, StartTLS and its outcome, extended operations, searches (with a summary of the
// filter) and the request/response volume of CLDAP.
//
// Messages are framed and read with the bounds-checked BER reader of package ber. Several
// messages in one segment are parsed in one call; a message split across segments is left to
// the engine (More with the count of bytes consumed) and read when complete. After a
// successful StartTLS the bytes that follow are TLS and go to the shared TLS parser; after a
// SASL bind that negotiated a security layer the stream is SASL-wrapped and inspection stops.
package ldap

import (
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"sync"
)

// Bounds on the facts kept per flow.
const (
	maxBinds    = 16
	maxSearches = 16
	maxExtended = 8
	maxAttrs    = 8   // requested attributes kept per search
	maxDN       = 256 // bytes of a bind name or search base kept
	maxAttrLen  = 64  // bytes of an attribute description kept
	maxDiag     = 128 // bytes of a diagnostic message kept
	maxOID      = 64  // bytes of an unknown extended request name kept
	maxMech     = 32  // bytes of an unknown SASL mechanism kept
	maxPending  = 16  // outstanding requests matched with their responses
)

// pending.idx is an int8: the build fails if a facts list could outgrow it.
const _ = uint8(127 - max(maxBinds, maxSearches, maxExtended))

// claimPartialAt is the size of an incomplete first message from which its envelope, message
// ID and operation header alone are enough to claim the flow: a large first message (a search
// result picked up mid-flow) would otherwise outlast the engine's patience for undecided flows.
const claimPartialAt = 4096

// Detector recognises LDAP and CLDAP. It keeps no state of its own: per-flow state lives in
// Flow.State.
type Detector struct{}

// statePool keeps the per-flow states of ended flows for new ones (flow.StateReuser).
var statePool = sync.Pool{New: func() any { return new(state) }}

// PutState implements flow.StateReuser.
func (*Detector) PutState(s any) {
	if st, ok := s.(*state); ok {
		*st = state{}
		statePool.Put(st)
	}
}

// New returns the LDAP detector.
func New() *Detector { return &Detector{} }

// Name implements flow.Detector.
func (*Detector) Name() string { return "ldap" }

// Accepts implements flow.Detector: LDAP over TCP, CLDAP over UDP.
func (*Detector) Accepts(t flow.Transport) bool { return t == flow.TCP || t == flow.UDP }

// Hint implements flow.Detector. 389 and 3268 (Global Catalog) carry LDAP and CLDAP; 636 and
// 3269 are the TLS ports, hinted so that cleartext LDAP there is found by its content.
func (*Detector) Hint(t flow.Transport, port uint16) bool {
	switch port {
	case 389, 3268:
		return true
	case 636, 3269:
		return t == flow.TCP
	}
	return false
}

// pending is an outstanding request waiting for its response.
type pending struct {
	id   int32
	op   byte // opBindRequest, opSearchRequest or opExtendedRequest
	idx  int8 // index in the facts list, -1 when past its bound
	wrap bool // a SASL bind whose mechanism can negotiate a security layer
	tls  bool // a StartTLS request
}

// The ring keeps a pending request in 6 bytes: its id, and its index with its operation and
// flags in one byte (an operation number is below 32).
const (
	pendWrap = 0x40
	pendTLS  = 0x80
	pendOp   = 0x1f
)

// The build fails if an operation number could outgrow pendOp.
const _ = uint8(pendOp - opIntermediateResponse)

// state is the per-flow state, allocated once when the flow is claimed. It is 120 bytes, in
// the 128-byte size class (TestStateFitsItsSizeClass): every LDAP flow holds one while it is
// inspected.
type state struct {
	// The ring of outstanding requests, by position: ids, indexes in the facts lists and
	// operations with flags (see pending).
	ids   [maxPending]int32
	idx   [maxPending]int8
	kind  [maxPending]uint8
	npend uint8
	next  uint8 // ring position for the next request when pend is full

	clearOps uint32 // messages other than the StartTLS exchange
	upgraded bool   // bytes are TLS from here on
	lastResp bool   // the last message framed was a response
	wrapOK   bool   // a SASL bind that may negotiate a security layer succeeded

	// tls parses what follows a successful StartTLS; made then, as few flows upgrade, so the
	// state of every other flow is smaller by the TLS parser's size.
	tls *tlsHandoff
}

// at returns the outstanding request at position i of the ring.
func (st *state) at(i int) pending {
	k := st.kind[i]
	return pending{id: st.ids[i], op: k & pendOp, idx: st.idx[i], wrap: k&pendWrap != 0, tls: k&pendTLS != 0}
}

// set puts p at position i of the ring.
func (st *state) set(i int, p pending) {
	k := p.op & pendOp
	if p.wrap {
		k |= pendWrap
	}
	if p.tls {
		k |= pendTLS
	}
	st.ids[i], st.idx[i], st.kind[i] = p.id, p.idx, k
}

func (st *state) push(p pending) {
	if st.npend < maxPending {
		st.set(int(st.npend), p)
		st.npend++
		return
	}
	st.set(int(st.next), p)
	st.next = (st.next + 1) % maxPending
}

// take finds the outstanding request id of operation op; remove drops it.
func (st *state) take(id int32, op byte, remove bool) (pending, bool) {
	for i := range int(st.npend) {
		if st.ids[i] != id || st.kind[i]&pendOp != op {
			continue
		}
		p := st.at(i)
		if remove {
			st.npend--
			st.set(i, st.at(int(st.npend)))
			if st.next > st.npend {
				st.next = 0
			}
		}
		return p, true
	}
	return pending{}, false
}

// Inspect implements flow.Detector.
func (d *Detector) Inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	if st, ok := f.State.(*state); ok && f.LDAP != nil {
		return d.parseExchange(f, st, dir, data)
	}
	if len(data) == 0 {
		return flow.More, 0
	}
	m, err := envelope(data)
	switch {
	case err == nil:
	case err == errShort && f.Transport == flow.TCP:
		if !m.opSeen || len(data) < claimPartialAt {
			return flow.More, 0
		}
	default:
		return flow.Reject, 0
	}

	f.Claim(flow.LDAP)
	st := statePool.Get().(*state)
	f.State = st
	facts := flow.NewLDAPFacts()
	facts.First, facts.CLDAP, facts.Cleartext = f.Now(), f.Transport == flow.UDP, true
	f.LDAP = facts
	server := f.Server.Port()
	// Requests come from the client. The first message says who is who when the engine could
	// not tell (no SYN captured).
	if isResponse(m.op) != (dir == flow.FromServer) {
		f.Reverse()
		if !f.ClientKnown {
			server = f.Client.Port()
		}
	}
	facts.TLSPort = server == 636 || server == 3269
	return d.parseExchange(f, st, dir, data)
}

// parseExchange parses data and, for CLDAP, tells the engine whether the exchange is complete
// (flow.Flow.Answered): a response that leaves no request outstanding ends it, a request
// opens one.
func (d *Detector) parseExchange(f *flow.Flow, st *state, dir flow.Dir, data []byte) (flow.Verdict, int) {
	v, n := d.parse(f, st, dir, data)
	if f.Transport == flow.UDP && f.LDAP != nil {
		if st.lastResp && st.npend == 0 {
			f.Answered()
		} else {
			f.Asked()
		}
	}
	return v, n
}

// parse reads every complete message in data. It returns More with the bytes consumed, or
// Done/Reject when inspection ends.
func (d *Detector) parse(f *flow.Flow, st *state, dir flow.Dir, data []byte) (flow.Verdict, int) {
	n := 0
	for n < len(data) && !st.upgraded {
		b := data[n:]
		if b[0] != 0x30 {
			switch {
			case st.wrapOK && saslWrapped(b):
				f.LDAP.SASLLayer = true
				return flow.Done, len(data)
			case st.startTLSPending() && looksTLS(b):
				// The StartTLS response was not captured but the handshake follows.
				d.upgrade(f, st)
				continue
			}
			f.Fail(ErrNotLDAP)
			return flow.Reject, n
		}
		m, err := envelope(b)
		switch err {
		case nil:
			d.message(f, st, &m)
		case errShort:
			if f.Transport == flow.UDP {
				f.Fail(ErrDatagram)
				return flow.More, len(data)
			}
			return flow.More, n
		case ErrMalformed:
			f.Fail(ErrMalformed)
			d.count(f, st, &m)
		default:
			f.Fail(err)
			return flow.Reject, n
		}
		n += m.total
	}
	if st.upgraded {
		v, k := st.tls.inspect(f, dir, data[n:])
		return v, n + k
	}
	return flow.More, n
}

// startTLSPending reports whether a StartTLS request awaits its response.
func (st *state) startTLSPending() bool {
	for i := range int(st.npend) {
		if st.kind[i]&pendTLS != 0 {
			return true
		}
	}
	return false
}

// saslWrapped reports whether b starts like a SASL security-layer buffer (RFC 4422 §3.7,
// RFC 4513 §5.2.1.8): a 4-octet big-endian length, then at least that many octets (or the
// rest of the segment). The largest buffer a SASL peer may announce is 2^24-1 octets.
func saslWrapped(b []byte) bool {
	if len(b) < 4 {
		return b[0] == 0
	}
	l := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return l >= 8 && l < 1<<24
}

// looksTLS reports whether b starts with a TLS handshake record header.
func looksTLS(b []byte) bool {
	return len(b) >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04
}

// upgrade switches the flow to TLS: what follows in both directions is the TLS handshake.
func (d *Detector) upgrade(f *flow.Flow, st *state) {
	st.upgraded = true
	if st.tls == nil {
		st.tls = new(tlsHandoff)
	}
	f.LDAP.Upgraded = true
	if f.LDAP.StartTLS != nil {
		f.LDAP.StartTLS.Upgraded = true
	}
	f.LDAP.Cleartext = st.clearOps > 0
}
