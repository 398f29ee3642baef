package flow

// SIPFacts is what the SIP detector read from a flow (owned by classify/sip; see its README).
//
// Lists are bounded (the first entries are kept) and come with a total count; strings are
// bounded in length. No field ever holds a secret: a digest response, a Basic credential, an
// SDES inline key or a k= key is described by its presence (and length), never its value, and
// a password in a URI's userinfo is replaced by "***".
type SIPFacts struct {
	// First is where the first SIP message of the flow was seen.
	First Event `json:"first" expr:"first"`
	// Messages counts the SIP messages parsed on the flow (both directions); Requests and
	// Responses split them.
	Messages  uint32 `json:"messages" expr:"messages"`
	Requests  uint32 `json:"requests" expr:"requests"`
	Responses uint32 `json:"responses" expr:"responses"`
	// Methods counts the requests by method (sip.methods.register > 10).
	Methods SIPMethods `json:"methods" expr:"methods"`
	// Status counts the responses by class; Codes counts them by code (the first 16 distinct
	// codes, in the order first seen).
	Status SIPStatus `json:"status" expr:"status"`
	Codes  []SIPCode `json:"codes,omitempty" expr:"codes"`

	// Method and RequestURI are those of the first request ("REGISTER", "sip:alice@example.com";
	// the URI's first 256 bytes, a userinfo password replaced by "***"). Empty if only responses
	// were seen.
	Method     string `json:"method,omitempty" expr:"method"`
	RequestURI string `json:"request_uri,omitempty" expr:"request_uri"`
	// ViaTransports lists the distinct transports named by Via headers ("UDP", "TCP", "TLS",
	// "SCTP", "TLS-SCTP", "WS", "WSS", or "OTHER"), in the order first seen. A list of one
	// is shared, read-only, by the flows that name that one alone (see AddViaTransport).
	ViaTransports []string `json:"via_transports,omitempty" expr:"via_transports"`
	// ViaReceived is the first received= parameter of a Via (the address a proxy saw).
	ViaReceived string `json:"via_received,omitempty" expr:"via_received"`
	// From, To and Contact are the URIs of the first message's headers (display name and
	// parameters such as the tag dropped, a userinfo password replaced by "***"; 256 bytes).
	From    string `json:"from,omitempty" expr:"from"`
	To      string `json:"to,omitempty" expr:"to"`
	Contact string `json:"contact,omitempty" expr:"contact"`
	// CallID and CSeq are those of the first message ("1 REGISTER"); CallIDs counts the
	// changes of Call-ID between consecutive messages (a rough count of dialogs/transactions).
	CallID  string `json:"call_id,omitempty" expr:"call_id"`
	CSeq    string `json:"cseq,omitempty" expr:"cseq"`
	CallIDs uint32 `json:"call_ids" expr:"call_ids"`
	// UserAgent and Server are the first User-Agent and Server headers (128 bytes).
	UserAgent string `json:"user_agent,omitempty" expr:"user_agent"`
	Server    string `json:"server,omitempty" expr:"server"`
	// SIPScannerPart says whether a User-Agent was a known scanner's (few flows): its fields
	// are promoted, so the output and the policy name them as fields of SIPFacts. It is never
	// nil: facts made by NewSIPFacts share one empty block, read-only, until a detector writes
	// through ScannerPart, which gives the flow a block of its own.
	*SIPScannerPart `expr:"-"`
	// TLSPort is true when the server port is 5061, where SIP is expected inside TLS.
	TLSPort bool `json:"tls_port" expr:"tls_port"`
	// Keepalives counts CRLF (RFC 5626) and other keep-alive payloads between messages.
	Keepalives uint32 `json:"keepalives" expr:"keepalives"`

	// SIPAuthPart and SIPMediaPart hold the facts many flows leave unset (credentials and
	// challenges; SDP): their fields are promoted, so the output and the policy name them as
	// fields of SIPFacts. They are never nil: facts made by NewSIPFacts share one empty block
	// of each, read-only, until a detector writes through AuthPart or MediaPart, which gives
	// the flow a block of its own.
	*SIPAuthPart  `expr:"-"`
	*SIPMediaPart `expr:"-"`

	// codes holds the first of Codes (most flows see one or two codes: recycled facts keep a
	// grown list's array for the next flow), so that the list needs no allocation of its own;
	// the facts stay within their size class.
	codes [1]SIPCode `json:"-" expr:"-"`
}

// SIPScannerPart is the part of SIPFacts about scanners (see SIPFacts.SIPScannerPart).
type SIPScannerPart struct {
	// Scanner is true when a User-Agent matched a known SIP scanner; ScannerName is the name
	// from the detector's list ("friendly-scanner", "sipvicious", ...).
	Scanner     bool   `json:"scanner" expr:"scanner"`
	ScannerName string `json:"scanner_name,omitempty" expr:"scanner_name"`
}

// SIPAuthPart is the part of SIPFacts about credentials and challenges (see
// SIPFacts.SIPAuthPart).
type SIPAuthPart struct {
	// Auth summarises the credentials and challenges seen in cleartext.
	Auth SIPAuth `json:"auth" expr:"auth"`
	// Credentials lists the Authorization / Proxy-Authorization headers (the first 8);
	// CredentialCount is the total.
	Credentials     []SIPCredential `json:"credentials,omitempty" expr:"credentials"`
	CredentialCount uint32          `json:"credential_count" expr:"credential_count"`
	// Challenges lists the WWW-Authenticate / Proxy-Authenticate headers (the first 8);
	// ChallengeCount is the total.
	Challenges     []SIPChallenge `json:"challenges,omitempty" expr:"challenges"`
	ChallengeCount uint32         `json:"challenge_count" expr:"challenge_count"`
}

// SIPMediaPart is the part of SIPFacts read from SDP bodies (see SIPFacts.SIPMediaPart).
type SIPMediaPart struct {
	// SDPBodies counts the SDP bodies read (application/sdp, also inside multipart bodies).
	SDPBodies uint32 `json:"sdp_bodies" expr:"sdp_bodies"`
	// Media lists the SDP media descriptions (m= sections, the first 16); MediaCount is the
	// total.
	Media      []SIPMedia `json:"media,omitempty" expr:"media"`
	MediaCount uint32     `json:"media_count" expr:"media_count"`
	// SDESKeys is true when SRTP keying material travelled in cleartext SDP: an a=crypto
	// (SDES, RFC 4568) or a k= line. SDESKeysAt is where it was first seen.
	SDESKeys   bool  `json:"sdes_keys" expr:"sdes_keys"`
	SDESKeysAt Event `json:"sdes_keys_at,omitzero" expr:"sdes_keys_at"`
	// UnencryptedMedia is true when a media description with a non-zero port offered or
	// accepted RTP/AVP or RTP/AVPF without any a=crypto line. UnencryptedMediaAt is where it
	// was first seen.
	UnencryptedMedia   bool  `json:"unencrypted_media" expr:"unencrypted_media"`
	UnencryptedMediaAt Event `json:"unencrypted_media_at,omitzero" expr:"unencrypted_media_at"`
	// SRTP is true when a media description used a secure RTP profile (RTP/SAVP, RTP/SAVPF,
	// UDP/TLS/RTP/SAVP(F)); DTLSSRTP when one carried an a=fingerprint or a UDP/TLS profile
	// (keys negotiated by DTLS, RFC 5763).
	SRTP     bool `json:"srtp" expr:"srtp"`
	DTLSSRTP bool `json:"dtls_srtp" expr:"dtls_srtp"`
	// CryptoSuites lists the distinct SDES crypto suites offered (the first 8), e.g.
	// "AES_CM_128_HMAC_SHA1_80".
	CryptoSuites []string `json:"crypto_suites,omitempty" expr:"crypto_suites"`
	// LargeBodies counts the bodies read piecewise because they were larger than the message
	// buffer; EncodedBodies those not read because of a Content-Encoding (gzip...).
	LargeBodies   uint32 `json:"large_bodies" expr:"large_bodies"`
	EncodedBodies uint32 `json:"encoded_bodies" expr:"encoded_bodies"`
}

// The empty blocks every SIPFacts points to until it sets one of their fields. Nothing writes
// to them.
var (
	noSIPAuth    SIPAuthPart
	noSIPMedia   SIPMediaPart
	noSIPScanner SIPScannerPart
	noSIPMethods SIPMethodsRare
)

// AuthPart returns the flow's own SIPAuthPart, to write to: the first call on facts that
// share the empty block (or have none) gives them a block of their own.
func (s *SIPFacts) AuthPart() *SIPAuthPart { return own(&s.SIPAuthPart, &noSIPAuth) }

// MediaPart returns the flow's own SIPMediaPart, to write to (see AuthPart).
func (s *SIPFacts) MediaPart() *SIPMediaPart { return own(&s.SIPMediaPart, &noSIPMedia) }

// ScannerPart returns the flow's own SIPScannerPart, to write to (see AuthPart).
func (s *SIPFacts) ScannerPart() *SIPScannerPart { return own(&s.SIPScannerPart, &noSIPScanner) }

// Rare returns the flow's own SIPMethodsRare, to write to: the first call on counters that
// share the empty block (or have none) gives them a block of their own.
func (m *SIPMethods) Rare() *SIPMethodsRare { return own(&m.SIPMethodsRare, &noSIPMethods) }

// CountCode counts a response with status code c in Codes, which keeps the first max
// distinct codes.
func (s *SIPFacts) CountCode(c uint16, max int) {
	for i := range s.Codes {
		if s.Codes[i].Code == c {
			s.Codes[i].Count++
			return
		}
	}
	if len(s.Codes) >= max {
		return
	}
	if s.Codes == nil {
		s.Codes = s.codes[:0]
	}
	s.Codes = append(s.Codes, SIPCode{Code: c, Count: 1})
}

// AddViaTransport adds transport name to ViaTransports unless it is there, up to max names.
func (s *SIPFacts) AddViaTransport(name string, max int) {
	for _, t := range s.ViaTransports {
		if t == name {
			return
		}
	}
	if len(s.ViaTransports) >= max {
		return
	}
	if s.ViaTransports == nil {
		for i, t := range viaLists {
			if t[0] == name {
				s.ViaTransports = viaLists[i]
				return
			}
		}
	}
	s.ViaTransports = append(s.ViaTransports, name) // copies a shared list: its capacity is 1
}

// SIPViaTransports are the transports ViaTransports names by name; any other is "OTHER".
var SIPViaTransports = [...]string{"UDP", "TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"}

// viaLists are the lists of one transport, SIPViaTransports and "OTHER", that
// AddViaTransport shares among flows. Nothing writes to them.
var viaLists = func() (l [len(SIPViaTransports) + 1][]string) {
	for i, t := range append(SIPViaTransports[:], "OTHER") {
		l[i] = []string{t}
	}
	return l
}()

// SIPMethods counts SIP requests by method (RFC 3261 and extensions).
//
// The methods of calls, registrations and pings, which nearly every flow carries, are counted
// inline; the others (SIPMethodsRare) out of line.
type SIPMethods struct {
	Invite   uint32 `json:"invite,omitempty" expr:"invite"`
	Ack      uint32 `json:"ack,omitempty" expr:"ack"`
	Bye      uint32 `json:"bye,omitempty" expr:"bye"`
	Cancel   uint32 `json:"cancel,omitempty" expr:"cancel"`
	Options  uint32 `json:"options,omitempty" expr:"options"`
	Register uint32 `json:"register,omitempty" expr:"register"`
	// SIPMethodsRare holds the counters of the methods few flows carry: its fields are
	// promoted, so the output and the policy name them as fields of SIPMethods. It is never
	// nil: facts made by NewSIPFacts share one empty block, read-only, until a detector writes
	// through Rare, which gives the flow its own block.
	*SIPMethodsRare `expr:"-"`
}

// SIPMethodsRare is the part of SIPMethods that most flows leave at zero (see
// SIPMethods.SIPMethodsRare).
type SIPMethodsRare struct {
	Prack     uint32 `json:"prack,omitempty" expr:"prack"`
	Subscribe uint32 `json:"subscribe,omitempty" expr:"subscribe"`
	Notify    uint32 `json:"notify,omitempty" expr:"notify"`
	Publish   uint32 `json:"publish,omitempty" expr:"publish"`
	Info      uint32 `json:"info,omitempty" expr:"info"`
	Refer     uint32 `json:"refer,omitempty" expr:"refer"`
	Message   uint32 `json:"message,omitempty" expr:"message"`
	Update    uint32 `json:"update,omitempty" expr:"update"`
	// Other counts requests with an extension method (only after the flow was recognised).
	Other uint32 `json:"other,omitempty" expr:"other"`
}

// SIPStatus counts SIP responses by status class.
type SIPStatus struct {
	Provisional   uint32 `json:"provisional,omitempty" expr:"provisional"`       // 1xx
	Success       uint32 `json:"success,omitempty" expr:"success"`               // 2xx
	Redirection   uint32 `json:"redirection,omitempty" expr:"redirection"`       // 3xx
	ClientError   uint32 `json:"client_error,omitempty" expr:"client_error"`     // 4xx
	ServerError   uint32 `json:"server_error,omitempty" expr:"server_error"`     // 5xx
	GlobalFailure uint32 `json:"global_failure,omitempty" expr:"global_failure"` // 6xx
}

// SIPCode counts the responses with one status code.
type SIPCode struct {
	Code  uint16 `json:"code" expr:"code"`
	Count uint32 `json:"count" expr:"count"`
}

// SIPAuth summarises authentication on a SIP flow, for simple policy conditions.
type SIPAuth struct {
	// Digest is true when an Authorization or Proxy-Authorization header with the Digest
	// scheme was seen; DigestResponse when one carried a response= parameter (crackable
	// offline together with the challenge).
	Digest         bool `json:"digest" expr:"digest"`
	DigestResponse bool `json:"digest_response" expr:"digest_response"`
	// Basic is true when Basic credentials (a reusable password, base64-encoded) were seen.
	Basic bool `json:"basic" expr:"basic"`
	// Other is true for credentials with another scheme (Bearer, NTLM, Kerberos, ...).
	Other bool `json:"other" expr:"other"`
	// Challenged is true when a 401/407 challenge header was seen.
	Challenged bool `json:"challenged" expr:"challenged"`
	// First is where credentials were first seen.
	First Event `json:"first,omitzero" expr:"first"`
}

// SIPCredential describes one Authorization or Proxy-Authorization header, without its secret.
type SIPCredential struct {
	Event
	// Header is "authorization" or "proxy-authorization"; Method the request's method.
	Header string `json:"header" expr:"header"`
	Method string `json:"method,omitempty" expr:"method"`
	// Scheme is "Digest", "Basic" or the other scheme's name (32 bytes).
	Scheme string `json:"scheme" expr:"scheme"`
	// Username, Realm, Algorithm ("" when absent, which means MD5), QOP and URI are the digest
	// parameters of those names (128 bytes each, 256 for the URI).
	Username  string `json:"username,omitempty" expr:"username"`
	Realm     string `json:"realm,omitempty" expr:"realm"`
	Algorithm string `json:"algorithm,omitempty" expr:"algorithm"`
	QOP       string `json:"qop,omitempty" expr:"qop"`
	URI       string `json:"uri,omitempty" expr:"uri"`
	// Response is true when a digest response= was present; ResponseLen is its length in
	// characters (32 for MD5, 64 for SHA-256). The value is never kept.
	Response    bool `json:"response" expr:"response"`
	ResponseLen int  `json:"response_len" expr:"response_len"`
	// TokenLen is the length of a Basic (or other non-digest) credential token. The value is
	// never kept.
	TokenLen int `json:"token_len,omitempty" expr:"token_len"`
}

// SIPChallenge describes one WWW-Authenticate or Proxy-Authenticate header.
type SIPChallenge struct {
	Event
	// Header is "www-authenticate" or "proxy-authenticate"; Code the response's status code.
	Header string `json:"header" expr:"header"`
	Code   uint16 `json:"code" expr:"code"`
	// Scheme, Realm, Algorithm and QOP (the qop options offered, e.g. "auth,auth-int").
	Scheme    string `json:"scheme" expr:"scheme"`
	Realm     string `json:"realm,omitempty" expr:"realm"`
	Algorithm string `json:"algorithm,omitempty" expr:"algorithm"`
	QOP       string `json:"qop,omitempty" expr:"qop"`
	Stale     bool   `json:"stale,omitempty" expr:"stale"`
}

// SIPMedia is one SDP media description (m= section) and its security attributes.
type SIPMedia struct {
	Event
	// Response is true when the SDP came in a response (an answer to an INVITE, usually).
	Response bool `json:"response" expr:"response"`
	// Type ("audio", "video", "image", ...), Port and Proto ("RTP/AVP", "RTP/SAVP",
	// "UDP/TLS/RTP/SAVPF", "udptl", ...) come from the m= line.
	Type  string `json:"type" expr:"type"`
	Port  uint16 `json:"port" expr:"port"`
	Proto string `json:"proto" expr:"proto"`
	// Connection is the c= address that applies (media level, else session level).
	Connection string `json:"connection,omitempty" expr:"connection"`
	// Crypto counts the a=crypto lines (SDES keys); Suites lists their crypto suite names
	// (the first 4). The inline keys are never kept.
	Crypto uint32   `json:"crypto" expr:"crypto"`
	Suites []string `json:"suites,omitempty" expr:"suites"`
	// Key is true when a k= line applies (a key in the SDP; the value is never kept).
	Key bool `json:"key" expr:"key"`
	// Fingerprint is the hash function of an a=fingerprint that applies ("sha-256").
	Fingerprint string `json:"fingerprint,omitempty" expr:"fingerprint"`
	// Secure is true for a secure RTP profile (SAVP, SAVPF); Unencrypted for RTP/AVP or
	// RTP/AVPF with no a=crypto on a non-zero port.
	Secure      bool `json:"secure" expr:"secure"`
	Unencrypted bool `json:"unencrypted" expr:"unencrypted"`
}
