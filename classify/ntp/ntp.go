// Package ntp detects NTP (RFC 5905) over UDP by the content of the datagram, whatever the
// port, and reads the facts the policy needs: version and modes, the header of the first
// request and of the first response (stratum, poll, precision, root delay and dispersion,
// reference id, kiss code, timestamps), authentication (symmetric key MAC, crypto-NAK or NTS
// extension fields, RFC 7822 and RFC 8915), mode 6 control messages (RFC 9327), mode 7
// private messages with monlist (CVE-2013-5211), and request/response volumes.
//
// A flow is claimed only by a datagram that no payload of the other side preceded, and only
// when its whole header is sane for its mode, whatever the port: modes 1–5 need 48 bytes, a
// stratum, poll, precision, root delay and timestamps in range and a trailer of extension
// fields or a MAC; mode 6 a defined opcode, consistent R/E/M bits and a length that is 12 +
// count, padded, plus at most a MAC; mode 7 a known implementation, request code and item
// layout that fills the datagram. A claim made on a request is withdrawn when the first reply
// does not answer it (origin timestamp, or opcode, sequence and association). Every message
// is parsed (the verdict stays More) so that counters keep running; after the claim nothing
// is allocated per message, only facts that are kept once.
package ntp

import (
	"net/netip"
	"sync"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/classify/internal/intern"
)

// Bounds on the facts kept per flow.
const (
	maxControl = 16 // mode 6 messages listed
	maxPrivate = 16 // mode 7 messages listed
	maxEFTypes = 8  // distinct extension field types listed
)

// Port is where NTP lives.
const Port = 123

// Detector recognises NTP. It keeps no state of its own; all it learns goes in Flow.NTP.
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

// New returns the NTP detector.
func New() *Detector { return &Detector{} }

// Name implements flow.Detector.
func (*Detector) Name() string { return "ntp" }

// Accepts implements flow.Detector: NTP runs over UDP only.
func (*Detector) Accepts(t flow.Transport) bool { return t == flow.UDP }

// Hint implements flow.Detector.
func (*Detector) Hint(t flow.Transport, port uint16) bool { return t == flow.UDP && port == Port }

// Inspect implements flow.Detector. Each call is one UDP datagram.
//
// The claim never leans on the port: the datagram must pass every check of its mode (see
// parse with lenient false) and must not follow a payload of the other side, a mode 6 response seen
// without its request must carry data of the kind its opcode returns, and a claim made on a
// request is withdrawn when the first reply from the other side does not answer it. After
// the claim, a datagram on port 123 whose header is sane but whose trailer is not is still
// counted as NTP (and as a parse error).
func (d *Detector) Inspect(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int) {
	if x := f.NTP; x != nil {
		return d.claimed(f, x, dir, data)
	}
	var m msg
	if parse(&m, data, false) != nil {
		return flow.Reject, 0
	}
	// When the other side spoke first and was not NTP (a DNS query, a DTLS ClientHello), this
	// datagram neither answers an NTP request nor starts an NTP exchange. (Junk from the same
	// side before its first request does not hide it.)
	if other := 1 - dir&1; f.Payload[other] > 0 {
		return flow.Reject, 0
	}
	if m.mode == 6 && m.response && !controlDataPlausible(&m, data) {
		return flow.Reject, 0
	}

	f.Claim(flow.NTP)
	fromServer := dir == flow.FromServer
	// The requester is the client: a response seen first turns the flow round.
	if m.isResponse() != fromServer {
		f.Reverse()
		if !f.ClientKnown {
			fromServer = !fromServer
		}
	}
	// A time message's 48-byte header is evidence enough; a short control or private message
	// alone is not, until a reply answers it.
	f.Certain = m.mode <= 5
	if m.asks() {
		st := statePool.Get().(*state)
		st.open = true
		st.add(&m)
		f.State = st
	}
	x := flow.NewNTPFacts()
	x.First, x.Version, x.Mode = f.Now(), m.version, m.mode
	x.StandardPort = f.Client.Port() == Port || f.Server.Port() == Port
	x.SetAuth(flow.NTPAuth{Auth: authNone})
	f.NTP = x
	record(f, x, &m, fromServer, len(data))
	return flow.More, len(data)
}

// claimed reads a datagram of a flow already claimed. It withdraws the claim when the first
// reply from the server side does not answer one of the requests the claim rested on.
func (d *Detector) claimed(f *flow.Flow, x *flow.NTPFacts, dir flow.Dir, data []byte) (flow.Verdict, int) {
	var m msg
	err := parse(&m, data, x.StandardPort)
	st, _ := f.State.(*state)
	if st != nil && st.open {
		switch {
		case dir == flow.FromClient && err == nil && m.asks():
			st.add(&m)
		case dir == flow.FromServer && (err != nil || m.isResponse() && !st.answeredBy(&m) && !saneAlone(&m, data)):
			f.Withdraw()
			return flow.Reject, 0
		case dir == flow.FromServer && m.isResponse():
			st.open = false
			f.Certain = true
			f.State = nil // the requests are needed only until the first reply: let them go
			d.PutState(st)
		}
	}
	if err != nil {
		x.Malformed++
		f.Fail(err)
		return flow.More, len(data)
	}
	record(f, x, &m, dir == flow.FromServer, len(data))
	return flow.More, len(data)
}

// saneAlone reports whether a reply that does not echo the request is still a time message
// sane enough to be claimed on its own (some servers and test generators leave the origin
// timestamp 0). A control or private reply must echo its request.
func saneAlone(m *msg, data []byte) bool {
	if m.mode > 5 {
		return false
	}
	var strict msg
	return parse(&strict, data, false) == nil
}

// maxAsked is the number of requests remembered while waiting for the first reply: a client
// may repeat its request before the server answers.
const maxAsked = 4

// asked is what a reply must echo of a request.
type asked struct {
	mode, opcode, impl, code uint8
	seq, assoc               uint16
	transmit                 uint64
}

// state is the per-flow state of a flow claimed on a request, until its first reply.
type state struct {
	open  bool // no reply seen yet
	n     int
	asked [maxAsked]asked
}

// completes reports whether m is a reply that ends an exchange: a server or symmetric passive
// time message, or the last fragment of a control or private response. (A broadcast answers
// nothing.)
func (m *msg) completes() bool {
	switch m.mode {
	case 2, 4:
		return true
	case 6, 7:
		return m.response && !m.more
	}
	return false
}

// asks reports whether m is a request that a reply would answer: a client or symmetric
// active time message, a control or private request.
func (m *msg) asks() bool {
	switch m.mode {
	case 1, 3:
		return true
	case 6, 7:
		return !m.response
	}
	return false
}

func (st *state) add(m *msg) {
	st.asked[st.n%maxAsked] = asked{mode: m.mode, opcode: m.opcode, impl: m.impl, code: m.code,
		seq: m.seq, assoc: m.assoc, transmit: m.ts[3]}
	st.n++
}

// answeredBy reports whether the response m answers one of the remembered requests: a server
// reply (mode 4) echoes the client's transmit timestamp as its origin (RFC 5905 §8), a
// symmetric peer (mode 1 or 2) echoes it or, before it has heard from us, sends 0; a control
// response echoes the opcode, sequence and association (RFC 9327 §2); a private response the
// implementation and request code (ntpd's ntp_request.h).
func (st *state) answeredBy(m *msg) bool {
	for _, a := range st.asked[:min(st.n, maxAsked)] {
		switch {
		case a.mode == 3 && m.mode == 4:
			if m.ts[1] == a.transmit {
				return true
			}
		case a.mode == 1 && (m.mode == 1 || m.mode == 2):
			if m.ts[1] == a.transmit || m.ts[1] == 0 {
				return true
			}
		case a.mode == 6 && m.mode == 6:
			if m.opcode == a.opcode && m.seq == a.seq && m.assoc == a.assoc {
				return true
			}
		case a.mode == 7 && m.mode == 7:
			if m.impl == a.impl && m.code == a.code {
				return true
			}
		}
	}
	return false
}

// record adds one parsed message to the facts. It allocates only for facts kept once per
// flow (the first request and response, the first kiss code, the lists' backing arrays).
func record(f *flow.Flow, x *flow.NTPFacts, m *msg, fromServer bool, size int) {
	x.Messages++
	// The engine ends an answered exchange after a short linger (flow.Flow.Answered).
	switch {
	case fromServer && m.completes():
		f.Answered()
	case !fromServer && m.asks():
		f.Asked()
	}
	if fromServer {
		x.ServerMessages++
		x.ResponseBytes += uint64(size)
	} else {
		x.ClientMessages++
		x.RequestBytes += uint64(size)
	}
	if x.RequestBytes > 0 {
		x.Amplification = float64(x.ResponseBytes) / float64(x.RequestBytes)
	}
	x.AddMode(m.mode)
	switch m.mode {
	case 6:
		recordControl(f, x, m)
	case 7:
		recordPrivate(f, x, m, size)
	default:
		recordTime(f, x, m, fromServer)
	}
}

func recordTime(f *flow.Flow, x *flow.NTPFacts, m *msg, fromServer bool) {
	if m.version < 4 {
		x.OldVersion = true
	}
	if x.TimeVersion == 0 || m.version < x.TimeVersion {
		x.TimeVersion = m.version
	}
	if m.badTrailer {
		f.Fail(ErrTrailer)
	}
	for _, t := range m.ef[:m.nef] {
		addEF(x, t)
	}
	// A server reply, a broadcast or a symmetric passive message gives time; so does a
	// symmetric active message from the server side of the flow.
	server := m.isResponse() || m.mode == 1 && fromServer
	authed := m.trailer == trMAC || m.trailer == trNTS
	a := *x.NTPAuth // x.SetAuth(a) when done
	switch m.trailer {
	case trNTS:
		a.Auth = authNTS
	case trMAC:
		if a.Auth == authNone {
			a.Auth = authSymmetric
		}
		if x.MACLength == 0 {
			r := x.Rare()
			r.KeyID, r.MACLength, r.MACType = m.keyID, m.digest, macTypeName(m.digest)
		}
	case trNAK:
		x.Rare().CryptoNAK = true
	}
	if server {
		if authed {
			a.ServerAuthenticated = true
			x.AuthenticatedResponses++
		} else {
			x.UnauthenticatedResponses++
		}
		if m.stratum == 0 && a.KissCode == "" && upperASCII(m.refID) {
			a.KissCode = refText(m.refID)
		}
		x.SetAuth(a)
		if !x.Response.Seen {
			fillTime(&x.Response, f, m)
		}
		return
	}
	if authed {
		a.ClientAuthenticated = true
	}
	x.SetAuth(a)
	if !x.Request.Seen {
		fillTime(&x.Request, f, m)
	}
}

func addEF(f *flow.NTPFacts, t uint16) {
	x := f.Rare()
	for _, v := range x.ExtensionFields {
		if v == int(t) {
			return
		}
	}
	if len(x.ExtensionFields) >= maxEFTypes {
		return
	}
	if x.ExtensionFields == nil {
		x.ExtensionFields = make([]int, 0, maxEFTypes)
	}
	x.ExtensionFields = append(x.ExtensionFields, int(t))
}

func fillTime(t *flow.NTPTime, f *flow.Flow, m *msg) {
	*t = flow.NTPTime{
		Seen:           true,
		At:             f.Now(),
		Version:        m.version,
		Mode:           m.mode,
		Leap:           m.leap,
		Stratum:        m.stratum,
		Poll:           m.poll,
		Precision:      m.precision,
		RootDelay:      float64(m.rootDelay) / 65536,
		RootDispersion: float64(m.rootDisp) / 65536,
		ReferenceID:    refID(m.stratum, m.refID),
		Reference:      ntpTime(m.ts[0]),
		Origin:         ntpTime(m.ts[1]),
		Receive:        ntpTime(m.ts[2]),
		Transmit:       ntpTime(m.ts[3]),
	}
	auth := authNone
	switch m.trailer {
	case trMAC:
		auth = authSymmetric
	case trNAK:
		auth = authNAK
	case trNTS:
		auth = authNTS
	}
	t.NTPTimeAuth = flow.NTPTimeAuthOf(auth)
}

// refID renders the reference id: text for stratum 0 and 1 (kiss code, reference clock) and
// for four upper-case letters, else an IPv4 address.
func refID(stratum uint8, id [4]byte) string {
	if id == [4]byte{} {
		return ""
	}
	if stratum <= 1 || stratum == 16 || upperASCII(id) {
		if printable(id) {
			return refText(id)
		}
		if stratum <= 1 {
			return "" // an unprintable kiss code or clock id: nothing to say
		}
	}
	var buf [15]byte // "255.255.255.255"
	return refIDs.String(netip.AddrFrom4(id).AppendTo(buf[:0]))
}

// refIDs shares the reference ids across flows: the clients of one server, and the polls of
// one client, see the same upstream again and again.
var refIDs intern.Table

func printable(id [4]byte) bool {
	end := false
	for i, c := range id {
		switch {
		case c == 0 && i > 0:
			end = true
		case end || c < 0x20 || c > 0x7e:
			return false
		}
	}
	return true
}

// refText returns the reference id as text without its NUL padding, using the constant
// kiss codes when it is one.
func refText(id [4]byte) string {
	n := 4
	for n > 0 && id[n-1] == 0 {
		n--
	}
	for _, k := range kissCodes {
		if n == 4 && k[0] == id[0] && k[1] == id[1] && k[2] == id[2] && k[3] == id[3] {
			return k
		}
	}
	return refIDs.String(id[:n])
}

// ntpUnix is the NTP era 0 epoch (1900-01-01) in Unix seconds.
const ntpUnix = 2208988800

// ntpTime converts an NTP timestamp. 0 stays the zero time; seconds below 2^31 are era 1.
func ntpTime(v uint64) flow.Time {
	if v == 0 {
		return 0
	}
	sec := int64(v >> 32)
	if sec < 1<<31 {
		sec += 1 << 32
	}
	ns := int64((v & 0xffffffff) * 1e9 >> 32)
	return flow.UnixNano((sec-ntpUnix)*1e9 + ns)
}

func recordControl(f *flow.Flow, facts *flow.NTPFacts, m *msg) {
	x := facts.Rare()
	if m.response {
		x.Mode6Responses++
		if !m.errBit {
			x.Mode6Answered = true
		}
	} else {
		x.Mode6Requests++
	}
	if len(x.Mode6) >= maxControl {
		return
	}
	if x.Mode6 == nil {
		x.Mode6 = make([]flow.NTPControl, 0, maxControl)
	}
	x.Mode6 = append(x.Mode6, flow.NTPControl{
		At:            f.Now(),
		Opcode:        m.opcode,
		Name:          controlName(m.opcode),
		Response:      m.response,
		Error:         m.errBit,
		More:          m.more,
		Sequence:      m.seq,
		AssocID:       m.assoc,
		Count:         m.count,
		Authenticated: m.auth,
	})
}

func recordPrivate(f *flow.Flow, facts *flow.NTPFacts, m *msg, size int) {
	x := facts.Rare()
	monlist := m.code == reqMonGetlist || m.code == reqMonGetlist1
	if m.response {
		x.Mode7Responses++
		if m.errCode == 0 {
			x.Mode7Answered = true
		}
	} else {
		x.Mode7Requests++
	}
	if monlist {
		ml := &x.Monlist
		ml.Seen = true
		if m.response {
			ml.Responses++
			ml.ResponseBytes += uint64(size)
			if m.errCode == 0 {
				ml.Answered = true
			}
			if ml.Response.Frame == 0 && ml.Response.Time.IsZero() {
				ml.Response = f.Now()
			}
		} else {
			ml.Requests++
			if ml.Request.Frame == 0 && ml.Request.Time.IsZero() {
				ml.Request = f.Now()
			}
		}
	}
	if len(x.Mode7) >= maxPrivate {
		return
	}
	if x.Mode7 == nil {
		x.Mode7 = make([]flow.NTPPrivate, 0, maxPrivate)
	}
	x.Mode7 = append(x.Mode7, flow.NTPPrivate{
		At:                 f.Now(),
		Implementation:     m.impl,
		ImplementationName: implName(m.impl),
		RequestCode:        m.code,
		Name:               privateName(m.code),
		Response:           m.response,
		Error:              m.errCode,
		Items:              m.items,
		ItemSize:           m.itemSize,
		Authenticated:      m.auth,
	})
}
