package flow

// NTPFacts is what the NTP detector read from a flow (owned by classify/ntp; see its README).
//
// Counters cover every message of the flow; lists are bounded (the first entries are kept).
// Directions: the client is the requester (the side that sent mode 1/3 requests or mode 6/7
// requests); a flow seen from its response first is turned round by the detector.
type NTPFacts struct {
	// First is where the first NTP message of the flow was seen.
	First Event `json:"first" expr:"first"`
	// Version and Mode of the first NTP message.
	Version uint8 `json:"version" expr:"version"`
	Mode    uint8 `json:"mode" expr:"mode"`
	// Modes lists the distinct modes seen in either direction, in order of appearance
	// (`6 in ntp.modes`); ModeMask has bit m set for each of them. A list of one or two
	// modes is shared, read-only, by the flows that saw the same (see AddMode).
	Modes    []int `json:"modes" expr:"modes"`
	ModeMask uint8 `json:"mode_mask" expr:"mode_mask"`

	// Messages counts the NTP messages of the flow; ClientMessages and ServerMessages split
	// them by direction. Malformed counts datagrams after the claim that were not sane NTP.
	Messages       uint32 `json:"messages" expr:"messages"`
	ClientMessages uint32 `json:"client_messages" expr:"client_messages"`
	ServerMessages uint32 `json:"server_messages" expr:"server_messages"`
	Malformed      uint32 `json:"malformed" expr:"malformed"`

	// StandardPort is true when either end of the flow uses port 123.
	StandardPort bool `json:"standard_port" expr:"standard_port"`

	// OldVersion is true when a time message (modes 1–5) carried version 1, 2 or 3.
	// TimeVersion is the lowest version among those messages (0: none seen). Mode 6 and 7
	// messages are left out: ntpq and ntpdc always write version 2 or 3 there.
	OldVersion  bool  `json:"old_version" expr:"old_version"`
	TimeVersion uint8 `json:"time_version" expr:"time_version"`

	// Request is the first time request from the client (mode 1 or 3); Response the first
	// time message from the server (mode 2, 4 or 5). Seen is false when there was none.
	Request  NTPTime `json:"request" expr:"request"`
	Response NTPTime `json:"response" expr:"response"`
	// NTPAuth holds the kiss code and how the time messages were protected: its fields are
	// promoted, so the output and the policy name them as fields of NTPFacts. It is never nil
	// and never written: facts made by NewNTPFacts point to a shared empty block, and a
	// detector replaces the pointer (SetAuth), so that the flows that read alike share one.
	*NTPAuth `expr:"-"`
	// AuthenticatedResponses and UnauthenticatedResponses count the server's time messages
	// (modes 2, 4, 5) with and without a MAC or NTS Authenticator.
	AuthenticatedResponses   uint32 `json:"authenticated_responses" expr:"authenticated_responses"`
	UnauthenticatedResponses uint32 `json:"unauthenticated_responses" expr:"unauthenticated_responses"`
	// NTPRare holds the facts few flows set (a MAC, extension fields, mode 6 and 7): its
	// fields are promoted, so the output and the policy name them as fields of NTPFacts. It
	// is never nil: facts made by NewNTPFacts share one empty block, read-only, until a
	// detector writes through Rare, which gives the flow its own block.
	*NTPRare `expr:"-"`

	// RequestBytes and ResponseBytes sum the UDP payloads of the NTP messages sent by the
	// client (requester) and by the server (responder). Amplification is
	// ResponseBytes / RequestBytes, 0 when no request was seen.
	RequestBytes  uint64  `json:"request_bytes" expr:"request_bytes"`
	ResponseBytes uint64  `json:"response_bytes" expr:"response_bytes"`
	Amplification float64 `json:"amplification" expr:"amplification"`
}

// NTPAuth is the part of NTPFacts about protection (see NTPFacts.NTPAuth).
type NTPAuth struct {
	// KissCode is the first kiss-of-death code (RATE, DENY, RSTR, ...) sent by the server:
	// a time message from the server with stratum 0 and a printable reference id.
	KissCode string `json:"kiss_code,omitempty" expr:"kiss_code"`

	// Auth is the strongest protection seen on time messages: "none", "symmetric" (a key id
	// and a MAC after the header) or "nts" (RFC 8915 NTS Authenticator extension field).
	Auth string `json:"auth" expr:"auth"`
	// ClientAuthenticated / ServerAuthenticated: a time message of that side carried a MAC or
	// an NTS Authenticator. A request-only authentication leaves ServerAuthenticated false.
	ClientAuthenticated bool `json:"client_authenticated" expr:"client_authenticated"`
	ServerAuthenticated bool `json:"server_authenticated" expr:"server_authenticated"`
}

// noNTPAuth is the empty NTPAuth of new facts. Nothing writes to it.
var noNTPAuth NTPAuth

// ntpAuths are the blocks SetAuth shares: one for each protection a time message may have
// ("", "none", "symmetric", "nts") and each pair of the two flags, without a kiss code.
// Nothing writes to them.
var ntpAuths = func() (b [len(ntpAuthNames)][2][2]NTPAuth) {
	for i, a := range ntpAuthNames {
		for c := range 2 {
			for s := range 2 {
				b[i][c][s] = NTPAuth{Auth: a, ClientAuthenticated: c == 1, ServerAuthenticated: s == 1}
			}
		}
	}
	return b
}()

var ntpAuthNames = [...]string{"", "none", "symmetric", "nts"}

// SetAuth makes the facts read a: they point to the shared block that holds it, or to a new
// one of their own when there is none (a kiss code, an Auth of another name).
func (x *NTPFacts) SetAuth(a NTPAuth) {
	if x.NTPAuth != nil && *x.NTPAuth == a {
		return
	}
	if a.KissCode == "" {
		for i, n := range ntpAuthNames {
			if n == a.Auth {
				x.NTPAuth = &ntpAuths[i][b2i(a.ClientAuthenticated)][b2i(a.ServerAuthenticated)]
				return
			}
		}
	}
	p := new(NTPAuth)
	*p = a
	x.NTPAuth = p
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// NTPRare is the part of NTPFacts that most flows leave unset (see NTPFacts.NTPRare).
type NTPRare struct {
	// KeyID, MACLength (digest bytes, without the key id) and MACType of the first MAC seen.
	// MACType is a guess from the length only: 16 "md5/aes-cmac" (the wire cannot tell them
	// apart), 20 "sha1", 8 "des" (NTPv2/v3), 32 "sha256", 48 "sha384", 64 "sha512".
	KeyID     uint32 `json:"key_id" expr:"key_id"`
	MACLength int    `json:"mac_length" expr:"mac_length"`
	MACType   string `json:"mac_type,omitempty" expr:"mac_type"`
	// CryptoNAK is true when a message ended with a bare 4-byte key id (RFC 5905 crypto-NAK).
	CryptoNAK bool `json:"crypto_nak" expr:"crypto_nak"`
	// ExtensionFields lists the distinct extension field types seen (RFC 7822), the first 8:
	// 260 (0x0104) NTS Unique Identifier, 516 (0x0204) NTS Cookie, 772 (0x0304) Cookie
	// Placeholder, 1028 (0x0404) NTS Authenticator.
	ExtensionFields []int `json:"extension_fields,omitempty" expr:"extension_fields"`

	// Mode6 lists the control messages (mode 6), the first 16; the counters cover all.
	// Mode6Answered is true when a control response without the error bit was seen.
	Mode6          []NTPControl `json:"mode6,omitempty" expr:"mode6"`
	Mode6Requests  uint32       `json:"mode6_requests" expr:"mode6_requests"`
	Mode6Responses uint32       `json:"mode6_responses" expr:"mode6_responses"`
	Mode6Answered  bool         `json:"mode6_answered" expr:"mode6_answered"`

	// Mode7 lists the private messages (mode 7, ntpdc), the first 16; the counters cover all.
	// Mode7Answered is true when a private response with error code 0 was seen.
	Mode7          []NTPPrivate `json:"mode7,omitempty" expr:"mode7"`
	Mode7Requests  uint32       `json:"mode7_requests" expr:"mode7_requests"`
	Mode7Responses uint32       `json:"mode7_responses" expr:"mode7_responses"`
	Mode7Answered  bool         `json:"mode7_answered" expr:"mode7_answered"`
	// Monlist summarises MON_GETLIST (20) and MON_GETLIST_1 (42) messages (CVE-2013-5211).
	Monlist NTPMonlist `json:"monlist" expr:"monlist"`
}

// noNTPRare is the empty NTPRare every NTPFacts points to until it sets one of its fields.
// Nothing writes to it.
var noNTPRare NTPRare

// Rare returns the flow's own NTPRare, to write to: the first call on facts that share the
// empty block (or have none) gives them a block of their own.
func (x *NTPFacts) Rare() *NTPRare { return own(&x.NTPRare, &noNTPRare) }

// own returns *p to write to: a new block of its own when *p is nil or the shared read-only
// block empty (copy on write of the facts' out-of-line parts).
func own[T any](p **T, empty *T) *T {
	if *p == nil || *p == empty {
		*p = new(T)
	}
	return *p
}

// AddMode records NTP mode m (0–7) in Modes and ModeMask, once. A flow that saw one or two
// modes points to the shared list of those (a request and its reply: most flows see two);
// a third gives it a list of its own.
func (x *NTPFacts) AddMode(m uint8) {
	m &= 7
	bit := uint8(1) << m
	if x.ModeMask&bit != 0 {
		return
	}
	x.ModeMask |= bit
	switch len(x.Modes) {
	case 0:
		x.Modes = modeLists[m][0]
	case 1:
		x.Modes = modeLists[x.Modes[0]&7][m+1]
	default:
		x.Modes = append(x.Modes, int(m)) // copies a shared list: its capacity is its length
	}
}

// modeLists are the lists of one mode a ([a][0]) and of two, a then b ([a][b+1]), that AddMode
// shares among flows. Nothing writes to them.
var modeLists = func() (l [8][9][]int) {
	for a := range 8 {
		l[a][0] = []int{a}
		for b := range 8 {
			l[a][b+1] = []int{a, b}
		}
	}
	return l
}()

// NTPTime is the header of one time message (modes 1–5).
//
// The timestamps are converted from the NTP 64-bit format to UTC times (held as Time); an NTP
// timestamp of 0 (unknown) stays the zero Time and is left out of the output. Era: a seconds value below
// 2^31 is read as era 1 (after 2036-02-07), as RFC 4330 §3 suggests.
type NTPTime struct {
	Seen bool  `json:"seen" expr:"seen"`
	At   Event `json:"at" expr:"at"`

	Version   uint8 `json:"version" expr:"version"`
	Mode      uint8 `json:"mode" expr:"mode"`
	Leap      uint8 `json:"leap" expr:"leap"`
	Stratum   uint8 `json:"stratum" expr:"stratum"`
	Poll      int8  `json:"poll" expr:"poll"`           // log2 seconds
	Precision int8  `json:"precision" expr:"precision"` // log2 seconds
	// RootDelay and RootDispersion in seconds.
	RootDelay      float64 `json:"root_delay" expr:"root_delay"`
	RootDispersion float64 `json:"root_dispersion" expr:"root_dispersion"`
	// ReferenceID: the kiss code (stratum 0) or reference clock id (stratum 1, e.g. "GPS")
	// as text, an IPv4 address for stratum 2–15 (for an IPv6 upstream it is the first four
	// bytes of a hash and only looks like an address), text again when the four bytes are
	// upper-case letters (e.g. "INIT", "LOCL"). Empty when the field is zero.
	ReferenceID string `json:"reference_id,omitempty" expr:"reference_id"`

	Reference Time `json:"reference,omitzero" expr:"reference"`
	Origin    Time `json:"origin,omitzero" expr:"origin"`
	Receive   Time `json:"receive,omitzero" expr:"receive"`
	Transmit  Time `json:"transmit,omitzero" expr:"transmit"`

	// NTPTimeAuth holds the protection of this message, one of four: its field is promoted,
	// so the output and the policy name it as a field of NTPTime. It is never nil (facts made
	// by NewNTPFacts point to a shared empty block) and never written: the messages of each
	// protection share one read-only block (see NTPTimeAuthOf).
	*NTPTimeAuth `expr:"-"`
}

// NTPTimeAuth is the protection of one time message (see NTPTime.NTPTimeAuth).
type NTPTimeAuth struct {
	// Auth of this message: "none", "symmetric", "crypto-nak" or "nts".
	Auth string `json:"auth" expr:"auth"`
}

// ntpTimeAuths are the shared blocks of NTPTime.NTPTimeAuth: "" (no message seen), "none",
// "symmetric", "crypto-nak", "nts". Nothing writes to them.
var ntpTimeAuths = [...]NTPTimeAuth{{""}, {"none"}, {"symmetric"}, {"crypto-nak"}, {"nts"}}

// NTPTimeAuthOf returns the block of NTPTime.NTPTimeAuth that reads auth: a shared one for
// the four protections and "", a new one for another name.
func NTPTimeAuthOf(auth string) *NTPTimeAuth {
	for i := range ntpTimeAuths {
		if ntpTimeAuths[i].Auth == auth {
			return &ntpTimeAuths[i]
		}
	}
	return &NTPTimeAuth{Auth: auth}
}

// NTPControl is one mode 6 (control, RFC 9327) message.
type NTPControl struct {
	At       Event  `json:"at" expr:"at"`
	Opcode   uint8  `json:"opcode" expr:"opcode"`
	Name     string `json:"name" expr:"name"` // readstat, readvar, readmru, reqnonce, ...
	Response bool   `json:"response" expr:"response"`
	Error    bool   `json:"error" expr:"error"` // E bit of a response
	More     bool   `json:"more" expr:"more"`   // M bit: more fragments follow
	Sequence uint16 `json:"sequence" expr:"sequence"`
	AssocID  uint16 `json:"assoc_id" expr:"assoc_id"`
	Count    uint16 `json:"count" expr:"count"` // data bytes
	// Authenticated: a MAC followed the data.
	Authenticated bool `json:"authenticated" expr:"authenticated"`
}

// NTPPrivate is one mode 7 (private, ntpdc) message.
type NTPPrivate struct {
	At Event `json:"at" expr:"at"`
	// Implementation: 0 "univ", 2 "xntpd_old", 3 "xntpd".
	Implementation     uint8  `json:"implementation" expr:"implementation"`
	ImplementationName string `json:"implementation_name" expr:"implementation_name"`
	// RequestCode and its ntp_request.h name (mon_getlist_1, peer_list, ...).
	RequestCode uint8  `json:"request_code" expr:"request_code"`
	Name        string `json:"name" expr:"name"`
	Response    bool   `json:"response" expr:"response"`
	// Error is the response's error code (0 ok, 1 implementation, 2 request, 3 format,
	// 4 no data, 7 authentication).
	Error    uint8  `json:"error" expr:"error"`
	Items    uint16 `json:"items" expr:"items"`
	ItemSize uint16 `json:"item_size" expr:"item_size"`
	// Authenticated: the A bit (the request carries a MAC).
	Authenticated bool `json:"authenticated" expr:"authenticated"`
}

// NTPMonlist summarises the mode 7 MON_GETLIST / MON_GETLIST_1 messages of a flow.
type NTPMonlist struct {
	// Seen: a monlist request or response was seen.
	Seen      bool   `json:"seen" expr:"seen"`
	Requests  uint32 `json:"requests" expr:"requests"`
	Responses uint32 `json:"responses" expr:"responses"`
	// Answered: a monlist response with error code 0 was seen (the server is an amplifier).
	Answered bool `json:"answered" expr:"answered"`
	// ResponseBytes sums the UDP payloads of the monlist responses.
	ResponseBytes uint64 `json:"response_bytes" expr:"response_bytes"`
	// Request and Response are where the first of each was seen.
	Request  Event `json:"request,omitzero" expr:"request"`
	Response Event `json:"response,omitzero" expr:"response"`
}
