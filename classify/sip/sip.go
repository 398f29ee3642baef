// Package sip detects cleartext SIP (RFC 3261) over UDP and TCP by the content of the payload,
// whatever the port, and reads the facts the policy needs: message counts by method and
// status, the first request, Via transports, From/To/Contact, Call-ID, CSeq, User-Agent and
// Server (with known scanner names), credentials (Authorization / Proxy-Authorization: the
// scheme and digest parameters, never the response, the nonce or a Basic credential) and
// challenges, and the SDP bodies (media transport profiles, SDES a=crypto suites and k= lines,
// never a key; DTLS fingerprints' hash names).
//
// A flow is recognised by its first message: a start line `METHOD SP Request-URI SP SIP/2.0`
// with one of the RFC methods and a sip:, sips: or tel: URI, or `SIP/2.0 NNN reason`; its
// label is certain (flow.Record.Certain) when the header block holds Via, From, To, Call-ID
// and CSeq (compact forms count). Leading CR LF
// keep-alives are skipped, and in a UDP datagram a little padding (NULs, blanks) as well.
// HTTP, RTSP and other text protocols do not match.
//
// Headers are scanned in place (no maps, no splitting into strings), case-insensitively,
// compact forms included, folded lines tolerated. Over TCP the engine's (More, n) contract
// frames messages: complete messages are consumed, an incomplete one is presented again with
// the next bytes; Content-Length delimits the body. A header block is bounded (32 KiB, 256
// fields); a body that fits in 16 KiB with its headers is read whole, a larger one (up to
// 1 MiB) piecewise without being buffered, and a larger Content-Length stops inspection with a
// parse error. Over UDP a datagram is one message.
package sip

import (
	"bytes"
	"errors"
	"sync"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/classify/sip/sdp"
)

// Parse errors counted on a flow (flow.Fail).
var (
	ErrNotSIP           = errors.New("sip: not a SIP message")
	ErrHeaderTooLarge   = errors.New("sip: header block over 32 KiB")
	ErrTooManyHeaders   = errors.New("sip: more than 256 header fields")
	ErrMalformedHeader  = errors.New("sip: header line without a colon")
	ErrBadContentLength = errors.New("sip: unreadable Content-Length")
	ErrBodyTooLarge     = errors.New("sip: Content-Length over 1 MiB")
	ErrTruncated        = errors.New("sip: datagram shorter than its Content-Length")
)

// errShort means "incomplete, wait for more bytes"; it is never counted.
var errShort = errors.New("sip: incomplete")

// Bounds.
const (
	maxStartLine   = 8 << 10  // bytes of a start line
	maxHeaderBlock = 32 << 10 // bytes of a header block (start line included)
	maxHeaders     = 256      // header fields read per message; more is a parse error
	maxWhole       = 16 << 10 // a message up to this size is read whole
	maxBody        = 1 << 20  // a larger Content-Length stops inspection
	maxJunk        = 64       // padding tolerated before a UDP message
	maxKeepalive   = 32       // a shorter non-SIP datagram after the claim is a keep-alive

	maxURI       = 256
	maxValue     = 128
	maxScheme    = 32
	maxShort     = 64
	maxCodes     = 16
	maxCreds     = 8
	maxChalls    = 8
	maxMedia     = 16
	maxSuites    = 4
	maxAllSuites = 8
)

// Detector recognises SIP. It keeps no state of its own: per-flow state lives in Flow.State.
type Detector struct{}

// statePool keeps the parser states of ended flows for new ones (flow.StateReuser), and lends
// them to UDP flows for one datagram at a time.
var statePool = sync.Pool{New: func() any { return new(state) }}

// between is what a UDP flow keeps from one datagram to the next. A datagram is one whole
// message, so the parser state (the message being read, the TCP framing, the SDP parsers:
// about 300 bytes) is needed only while one is read: a UDP flow borrows it from statePool for
// that, and holds only this between datagrams.
type between struct {
	callHash   uint64
	haveCallID bool
	txOpen     bool
	dialog     bool
}

var betweenPool = sync.Pool{New: func() any { return new(between) }}

// getState returns a parser state from the pool, its fields zero but for the SDP parsers.
func getState() *state {
	st := statePool.Get().(*state)
	st.dir[0].st, st.dir[1].st = st, st
	return st
}

// putState gives st back to the pool.
func putState(st *state) {
	// The SDP parsers are kept for the next flow: each is Reset before every body.
	p0, p1 := st.dir[0].sdp, st.dir[1].sdp
	*st = state{}
	st.dir[0].sdp, st.dir[1].sdp = p0, p1
	statePool.Put(st)
}

// lend parses one datagram of a UDP flow with a borrowed parser state, from and back to what
// the flow keeps between datagrams.
func lend(bt *between, f *flow.Flow, dir flow.Dir, data []byte, at int, first *startLine) (flow.Verdict, int) {
	st := getState()
	st.callHash, st.haveCallID, st.txOpen, st.dialog = bt.callHash, bt.haveCallID, bt.txOpen, bt.dialog
	v, n := st.parseFrom(f, dir, data, at, first)
	bt.callHash, bt.haveCallID, bt.txOpen, bt.dialog = st.callHash, st.haveCallID, st.txOpen, st.dialog
	putState(st)
	return v, n
}

// PutState implements flow.StateReuser.
func (*Detector) PutState(s any) {
	switch st := s.(type) {
	case *state:
		putState(st)
	case *between:
		*st = between{}
		betweenPool.Put(st)
	}
}

// New returns the SIP detector.
func New() *Detector { return &Detector{} }

// Name implements flow.Detector.
func (*Detector) Name() string { return "sip" }

// Accepts implements flow.Detector: SIP over UDP and TCP (SCTP is not followed).
func (*Detector) Accepts(t flow.Transport) bool { return t == flow.TCP || t == flow.UDP }

// Hint implements flow.Detector. 5060 is SIP, 5080 a common alternative; 5061 is SIP over TLS,
// hinted so that cleartext SIP there is found by its content.
func (*Detector) Hint(_ flow.Transport, port uint16) bool {
	return port == 5060 || port == 5061 || port == 5080
}

// body kinds.
const (
	bodyNone uint8 = iota
	bodySDP
	bodyMultipart
)

// message is what the current message's headers said that its body needs.
type message struct {
	request  bool
	code     uint16
	method   int
	methodB  []byte
	kind     uint8
	boundary []byte // aliases the data; used within the call only
	encoded  bool
	headers  int
	failed   bool  // a header parse error was already found in this message
	failErr  error // that error, counted once the message is read (failHeaders)
}

// frameScan is the progress of the search for the end of a header block, kept while a TCP
// message is incomplete so that each new segment does not rescan it from the start.
type frameScan struct {
	valid  bool
	pos    int   // next line to examine, from the message start
	end    int   // end of the header block (past the blank line) once found, else 0
	cl     int64 // Content-Length, -1 when absent
	badCL  bool
	startE int // end of the start line
}

// dirState is what one direction of a flow needs between calls: the framing of an
// incomplete message and the reading of a large body. It reads that direction's SDP.
type dirState struct {
	st       *state
	scan     frameScan
	bodyLeft uint64 // body bytes of a large TCP message still to read
	bodyKind uint8
	resp     bool        // the body being read belongs to a response
	sdp      *sdp.Parser // made for the first SDP body: most SIP flows never carry one
}

// parser returns the direction's SDP parser, making it on first use.
func (ds *dirState) parser() *sdp.Parser {
	if ds.sdp == nil {
		ds.sdp = new(sdp.Parser)
	}
	return ds.sdp
}

// state is the per-flow state, allocated once when the flow is claimed.
type state struct {
	f   *flow.Flow // the flow being inspected, during a call
	msg message
	dir [2]dirState

	callHash   uint64 // hash of the last Call-ID
	haveCallID bool

	txOpen bool // over UDP: an OPTIONS or REGISTER awaits its final response
	dialog bool // over UDP: a request of another method was seen
}

// Inspect implements flow.Detector.
func (d *Detector) Inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	if f.SIP != nil {
		switch st := f.State.(type) {
		case *between:
			return lend(st, f, dir, data, -1, nil)
		case *state:
			return st.parse(f, dir, data)
		}
	}
	udp := f.Transport == flow.UDP
	skip := padding(data, udp)
	if skip < 0 {
		return flow.Reject, 0
	}
	b := data[skip:]
	if len(b) == 0 {
		if udp {
			return flow.Reject, 0
		}
		return flow.More, 0
	}
	sl, err := parseStart(b, true)
	switch {
	case err == nil:
	case err == errShort && !udp:
		return flow.More, 0
	default:
		return flow.Reject, 0
	}
	// The start line decides the claim: "METHOD sip:… SIP/2.0" or "SIP/2.0 NNN" does not
	// occur by chance in another protocol (HTTP and RTSP fail it on the version). The
	// headers every SIP message carries make the label certain; a message without them
	// (a fuzzer's, a test's) is still SIP, but a finding that needs certainty is not raised.
	hdrs := mandatory(b, sl.end, udp)
	switch hdrs {
	case nil, errMissingHeaders:
	case errShort:
		return flow.More, 0
	default: // a header block past any bound
		return flow.Reject, 0
	}

	f.Claim(flow.SIP)
	f.Certain = hdrs == nil
	facts := flow.NewSIPFacts()
	facts.First = f.Now()
	f.SIP = facts
	server := f.Server.Port()
	// Requests come from the client: a response first means the capture started mid-dialog
	// (or the engine could not tell who opened the flow).
	if !sl.request && dir == flow.FromClient || sl.request && dir == flow.FromServer {
		f.Reverse()
		if !f.ClientKnown {
			// The engine swaps the directions: what is left of this payload comes back as the
			// other direction.
			server = f.Client.Port()
			dir = 1 - dir
		}
	}
	facts.TLSPort = server == 5061
	if udp {
		bt := betweenPool.Get().(*between)
		f.State = bt
		return lend(bt, f, dir, data, skip, &sl)
	}
	st := getState()
	f.State = st
	return st.parseFrom(f, dir, data, skip, &sl)
}

// padding returns the number of keep-alive or padding bytes at the start of b: CR and LF, and
// in a datagram also NULs and blanks (at most maxJunk). It is -1 when a datagram holds more
// padding than that.
func padding(b []byte, udp bool) int {
	i := 0
	for i < len(b) {
		c := b[i]
		if c == '\r' || c == '\n' || udp && (c == 0 || c == ' ' || c == '\t') {
			i++
			continue
		}
		break
	}
	if udp && i > maxJunk && i < len(b) {
		return -1
	}
	return i
}

// parse reads every complete message in data. It returns More with the bytes consumed, or
// Reject when the stream cannot be followed any more.
func (st *state) parse(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	return st.parseFrom(f, dir, data, -1, nil)
}

// parseFrom is parse given the start line of the message at data[at:] when at >= 0: the
// claim has read it already.
func (st *state) parseFrom(f *flow.Flow, dir flow.Dir, data []byte, at int, first *startLine) (flow.Verdict, int) {
	st.f = f
	ds := &st.dir[dir&1]
	defer func() { st.f = nil }()
	udp := f.Transport == flow.UDP
	n := 0
	for n < len(data) {
		if ds.bodyLeft > 0 {
			k := len(data) - n
			if uint64(k) > ds.bodyLeft {
				k = int(ds.bodyLeft)
			}
			if ds.bodyKind == bodySDP {
				ds.sdp.Write(data[n : n+k])
			}
			ds.bodyLeft -= uint64(k)
			n += k
			if ds.bodyLeft == 0 {
				ds.endBody()
			}
			continue
		}
		b := data[n:]
		if udp && stun(b) {
			f.SIP.Keepalives++
			return flow.More, len(data)
		}
		if k := padding(b, udp); k != 0 {
			f.SIP.Keepalives++
			if k < 0 {
				f.Fail(ErrNotSIP)
				return flow.More, len(data)
			}
			n += k
			continue
		}
		var sl startLine
		var err error
		if n == at {
			sl = *first // what parseStart(b, false) returns for a line the strict parse accepted
		} else {
			sl, err = parseStart(b, false)
		}
		if err != nil {
			if err == errShort && !udp {
				return flow.More, n
			}
			if udp {
				// Short application keep-alives ("hello", "ping") are not errors.
				if len(b) <= maxKeepalive {
					f.SIP.Keepalives++
				} else {
					f.Fail(ErrNotSIP)
				}
				return flow.More, len(data)
			}
			f.Fail(ErrNotSIP)
			ds.scan.valid = false
			return flow.Reject, n
		}
		if udp {
			// A datagram is one message: its header block is framed and read in one pass.
			var ss factStrings
			st.begin(&sl, &ss)
			hdrEnd, cl, badCL := st.headersUDP(b, sl.end, &ss)
			ss.make()
			if badCL {
				f.Fail(ErrBadContentLength)
			}
			body := b[hdrEnd:]
			switch {
			case cl < 0:
			case cl < int64(len(body)):
				body = body[:cl]
			case cl > int64(len(body)):
				f.Fail(ErrTruncated)
			}
			st.failHeaders()
			ds.wholeBody(body)
			return flow.More, len(data)
		}
		if !ds.scan.valid {
			ds.scan = frameScan{valid: true, pos: sl.end, cl: -1, startE: sl.end}
		}
		err = ds.frame(b)
		switch err {
		case nil:
		case errShort:
			return flow.More, n
		default:
			f.Fail(err)
			ds.scan.valid = false
			return flow.Reject, n
		}
		hdrEnd, cl := ds.scan.end, ds.scan.cl
		if ds.scan.badCL {
			f.Fail(ErrBadContentLength)
		}
		if cl < 0 {
			cl = 0 // RFC 3261 §20.14: mandatory over TCP; absent means no body
		}
		if cl > maxBody {
			st.message(b[sl.end:hdrEnd], &sl)
			f.Fail(ErrBodyTooLarge)
			ds.scan.valid = false
			return flow.Reject, n + hdrEnd
		}
		if int64(hdrEnd)+cl <= maxWhole {
			if int64(len(b)) < int64(hdrEnd)+cl {
				return flow.More, n
			}
			st.message(b[sl.end:hdrEnd], &sl)
			ds.wholeBody(b[hdrEnd : hdrEnd+int(cl)])
			ds.scan.valid = false
			n += hdrEnd + int(cl)
			continue
		}
		// A large body: read the headers now and the body as it comes, without keeping it.
		st.message(b[sl.end:hdrEnd], &sl)
		ds.scan.valid = false
		f.SIP.MediaPart().LargeBodies++
		ds.startBody(uint64(cl))
		n += hdrEnd
	}
	return flow.More, n
}

// frame finds the end of the header block of the TCP message at b and its Content-Length,
// resuming where the last call stopped. (A datagram is framed as it is read: headersUDP.)
func (ds *dirState) frame(b []byte) error {
	sc := &ds.scan
	if sc.end > 0 {
		return nil
	}
	for {
		if sc.pos > maxHeaderBlock {
			return ErrHeaderTooLarge
		}
		rest := b[sc.pos:]
		lf := bytes.IndexByte(rest, '\n')
		if lf < 0 {
			if len(b) > maxHeaderBlock {
				return ErrHeaderTooLarge
			}
			return errShort
		}
		line := trimCR(rest[:lf])
		next := sc.pos + lf + 1
		if len(line) == 0 {
			sc.end = next
			return nil
		}
		if c := lower(line[0]); (c == 'c' || c == 'l') && sc.cl < 0 {
			name, val, ok := cut(line, ':')
			if name = trimWS(name); ok && (eqFold(name, "content-length") || eqFold(name, "l")) {
				sc.cl, sc.badCL = parseLength(trimWS(val))
			}
		}
		sc.pos = next
	}
}

// parseLength reads a Content-Length value. A value too large for any limit saturates.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, true
		}
		if v < 1<<40 {
			v = v*10 + int64(c-'0')
		}
	}
	return v, false
}

// stun reports whether a datagram is a STUN message (RFC 5389 keep-alives share the SIP port,
// RFC 5626 §4.4.2).
func stun(b []byte) bool {
	return len(b) >= 20 && b[0]&0xc0 == 0 && b[4] == 0x21 && b[5] == 0x12 && b[6] == 0xa4 && b[7] == 0x42
}
