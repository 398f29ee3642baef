package ntp

import "errors"

// Parse errors. They are sentinels: the per-packet path never builds an error.
var (
	ErrShort   = errors.New("ntp: datagram shorter than its header")
	ErrVersion = errors.New("ntp: version not 1-4")
	ErrMode    = errors.New("ntp: mode 0 or unsupported")
	ErrHeader  = errors.New("ntp: implausible header field")
	ErrTrailer = errors.New("ntp: bytes after the header are neither extension fields nor a MAC")
)

// Wire sizes and limits.
const (
	timeHeader    = 48  // modes 1-5
	controlHeader = 12  // mode 6
	controlData   = 468 // largest mode 6 data area (RFC 9327)
	privateHeader = 8   // mode 7
	privateData   = 500 // RESP_DATA_SIZE of ntp_request.h
	privateItem   = 500 // no item is larger than a response's data area
	maxPrivateReq = 512 // ntpdc requests are 192 bytes (+ key id and MAC)
	maxEF         = 16  // extension fields walked per message
	minEF         = 16  // smallest extension field (RFC 7822 §3)
)

// Extension field types of NTS (RFC 8915 §5.7).
const (
	efUniqueID      = 0x0104
	efCookie        = 0x0204
	efPlaceholder   = 0x0304
	efAuthenticator = 0x0404
)

// Trailer kinds: what follows the 48-byte header of a time message.
const (
	trNone = iota
	trMAC
	trNAK
	trNTS
)

// msg is one parsed NTP message. It lives on the stack of Inspect.
type msg struct {
	mode, version, leap uint8

	// modes 1-5
	stratum         uint8
	poll, precision int8
	rootDelay       uint32
	rootDisp        uint32
	refID           [4]byte
	ts              [4]uint64 // reference, origin, receive, transmit
	trailer         uint8     // trNone, trMAC, trNAK, trNTS
	badTrailer      bool      // accepted on port 123 with an unreadable trailer
	keyID           uint32
	digest          int
	ef              [maxEF]uint16
	nef             int

	// modes 6 and 7
	response, errBit, more, auth bool
	opcode                       uint8 // mode 6
	seq, status, assoc, offset   uint16
	count                        uint16
	impl, code, errCode          uint8 // mode 7
	items, itemSize              uint16
}

// isResponse reports whether the message is sent by the server side: a time message of
// mode 2, 4 or 5, or a mode 6/7 message with the response bit.
func (m *msg) isResponse() bool {
	switch m.mode {
	case 2, 4, 5:
		return true
	case 6, 7:
		return m.response
	}
	return false
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }

// parse reads one NTP message from a UDP payload. lenient relaxes the plausibility checks
// (port 123); the structure (version, mode, sizes, counts) is always checked.
func parse(m *msg, b []byte, lenient bool) error {
	if len(b) == 0 {
		return ErrShort
	}
	m.mode = b[0] & 7
	m.version = b[0] >> 3 & 7
	m.leap = b[0] >> 6
	if m.version < 1 || m.version > 4 {
		return ErrVersion
	}
	switch m.mode {
	case 1, 2, 3, 4, 5:
		return parseTime(m, b, lenient)
	case 6:
		return parseControl(m, b, lenient)
	case 7:
		m.leap = 0 // no leap indicator in mode 7: R and M bits
		return parsePrivate(m, b, lenient)
	}
	return ErrMode
}

// Plausible timestamp seconds off port 123: 2000-01-01 to the end of era 0, or era 1 up to
// about 2060.
const (
	plausibleEra0 = 0xBC17C200 // 2000-01-01T00:00:00Z
	plausibleEra1 = 0x2E000000 // 2060
)

func plausibleTS(v uint64) bool {
	s := uint32(v >> 32)
	return v == 0 || s >= plausibleEra0 || s < plausibleEra1
}

// parseTime reads the 48-byte header of modes 1-5 and walks what follows it.
func parseTime(m *msg, b []byte, lenient bool) error {
	if len(b) < timeHeader {
		return ErrShort
	}
	m.stratum = b[1]
	m.poll = int8(b[2])
	m.precision = int8(b[3])
	m.rootDelay = be32(b[4:])
	m.rootDisp = be32(b[8:])
	copy(m.refID[:], b[12:16])
	for i := range m.ts {
		m.ts[i] = be64(b[16+8*i:])
	}
	// A client following the NTP data minimisation draft (NTS clients such as ntpd-rs do)
	// writes precision 32 and a random transmit timestamp.
	minimal := m.mode == 3 && m.precision == 32
	if m.stratum > 16 || m.precision > 0 && !minimal {
		return ErrHeader
	}
	if lenient {
		if m.poll < -8 || m.poll > 24 || m.precision < -40 {
			return ErrHeader
		}
	} else {
		if m.poll < -6 || m.poll > 17 || m.precision < -32 {
			return ErrHeader
		}
		if m.rootDelay >= 0x01000000 || m.rootDisp >= 0x01000000 { // 256 s
			return ErrHeader
		}
		// Every timestamp is a time (or 0), except in a client request the receive and
		// transmit timestamps, which the server only echoes: data-minimised clients randomise
		// the transmit timestamp, chrony the receive timestamp as well.
		last := len(m.ts)
		if m.mode == 3 {
			last -= 2
		}
		for _, t := range m.ts[:last] {
			if !plausibleTS(t) {
				return ErrHeader
			}
		}
		server := m.mode == 2 || m.mode == 4 || m.mode == 5
		if server && m.ts[3] == 0 {
			return ErrHeader // a server always stamps its transmit time
		}
		if server && m.stratum == 0 && !upperASCII(m.refID) && m.refID != [4]byte{} {
			return ErrHeader // stratum 0 from a server is a kiss code, or unspecified (0)
		}
	}
	if !parseTrailer(m, b[timeHeader:]) {
		if !lenient {
			return ErrTrailer
		}
		m.badTrailer = true
	}
	return nil
}

// macLen reports whether n bytes after the header (or the last extension field) can be a key
// id and a MAC: a crypto-NAK (4), MD5 or AES-CMAC (20), SHA1 (24), DES in NTPv2/v3 (12), and
// the longer digests some NTPv4 implementations send.
func macLen(n int, version uint8) bool {
	switch n {
	case 4, 20, 24:
		return true
	case 12:
		return version <= 3
	case 36, 52, 68:
		return version == 4
	}
	return false
}

// ntsField reports whether b starts with a complete NTS extension field: a MAC-sized tail
// is read as an extension field only when it is one of these.
func ntsField(b []byte) bool {
	if len(b) < minEF {
		return false
	}
	switch be16(b) {
	case efUniqueID, efCookie, efPlaceholder, efAuthenticator:
	default:
		return false
	}
	l := int(be16(b[2:]))
	return l >= minEF && l%4 == 0 && l <= len(b)
}

// parseTrailer walks the extension fields (RFC 7822, NTPv4 only) and the optional MAC after
// the header. It reports false when the bytes fit neither.
func parseTrailer(m *msg, b []byte) bool {
	m.trailer = trNone
	for len(b) > 0 {
		n := len(b)
		if macLen(n, m.version) && !(m.version == 4 && ntsField(b)) {
			m.keyID = be32(b)
			m.digest = n - 4
			if n == 4 {
				if m.trailer == trNone {
					m.trailer = trNAK
				}
			} else if m.trailer != trNTS {
				m.trailer = trMAC
			}
			return true
		}
		if m.version != 4 || n < minEF || m.nef == maxEF {
			return false
		}
		typ, l := be16(b), int(be16(b[2:]))
		if l < minEF || l%4 != 0 || l > n {
			return false
		}
		m.ef[m.nef] = typ
		m.nef++
		if typ == efAuthenticator {
			m.trailer = trNTS
		}
		b = b[l:]
	}
	return true
}

// upperASCII reports whether the four bytes are upper-case letters or digits, starting with
// a letter, possibly padded with NULs (a kiss code or a reference clock id).
func upperASCII(id [4]byte) bool {
	if id[0] < 'A' || id[0] > 'Z' {
		return false
	}
	end := false
	for _, c := range id[1:] {
		switch {
		case c == 0:
			end = true
		case end:
			return false
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}

// parseControl reads a mode 6 message (RFC 9327): 12-byte header, count data bytes, padding
// to 32 bits and an optional key id and MAC.
func parseControl(m *msg, b []byte, lenient bool) error {
	if len(b) < controlHeader {
		return ErrShort
	}
	m.response = b[1]&0x80 != 0
	m.errBit = b[1]&0x40 != 0
	m.more = b[1]&0x20 != 0
	m.opcode = b[1] & 0x1f
	m.seq = be16(b[2:])
	m.status = be16(b[4:])
	m.assoc = be16(b[6:])
	m.offset = be16(b[8:])
	m.count = be16(b[10:])
	if m.opcode == 0 || !lenient && !knownControl(m.opcode) {
		return ErrHeader
	}
	if m.count > controlData || int(m.count) > len(b)-controlHeader {
		return ErrHeader
	}
	if !m.response {
		// A request is one datagram without error: E and M are response bits.
		if m.errBit || m.more {
			return ErrHeader
		}
		// ntpq writes 0 in these (NTPsec's ntpq LI 3, "unsynchronised"): a DNS query
		// (QDCOUNT 1) does not.
		if !lenient && (m.leap != 0 && m.leap != 3 || m.status != 0 || m.offset != 0) {
			return ErrHeader
		}
	} else if m.offset%4 != 0 && !lenient {
		return ErrHeader
	}
	end := controlHeader + int(m.count)
	rest := len(b) - end
	if rest <= 7 {
		return nil // padding to 32 or 64 bits
	}
	for _, align := range [2]int{4, 8} {
		pad := (align - end%align) % align
		// ntpq and ntpd put at most a 20-byte digest after a control message (MAX_MAC_LEN).
		if n := rest - pad; n > 4 && macLen(n, 3) {
			m.auth = true
			m.keyID = be32(b[end+pad:])
			m.digest = n - 4
			return nil
		}
	}
	return ErrTrailer
}

// parsePrivate reads a mode 7 message (ntpd's ntp_request.h): R, M, version, mode; A bit and
// sequence; implementation; request code; error and item count; item size; items.
func parsePrivate(m *msg, b []byte, lenient bool) error {
	if len(b) < privateHeader {
		return ErrShort
	}
	m.response = b[0]&0x80 != 0
	m.more = b[0]&0x40 != 0
	m.auth = b[1]&0x80 != 0
	m.seq = uint16(b[1] & 0x7f)
	m.impl = b[2]
	m.code = b[3]
	m.errCode = b[4] >> 4
	m.items = be16(b[4:]) & 0x0fff
	mbz := b[6] >> 4
	m.itemSize = be16(b[6:]) & 0x0fff
	switch m.impl {
	case 0, 2, 3:
	default:
		return ErrHeader
	}
	if mbz != 0 || m.code >= maxPrivateCode || !lenient && !knownPrivate(m.code) {
		return ErrHeader
	}
	if m.itemSize > privateItem {
		return ErrHeader
	}
	data := int(m.items) * int(m.itemSize)
	if data > len(b)-privateHeader {
		return ErrHeader
	}
	if m.response {
		switch m.errCode {
		case 0, 1, 2, 3, 4, 5, 7:
		default:
			return ErrHeader
		}
		if data > privateData {
			return ErrHeader
		}
		if !lenient && len(b)-privateHeader-data > 7 {
			return ErrHeader // ntpd sends exactly the items
		}
		return nil
	}
	// A request fits one datagram and carries no error.
	if m.more || m.errCode != 0 {
		return ErrHeader
	}
	if !lenient && (m.seq != 0 || len(b) > maxPrivateReq || m.items > 0 && m.itemSize == 0) {
		return ErrHeader
	}
	return nil
}

// controlDataPlausible reports whether a mode 6 response seen without its request carries the
// data its opcode returns (RFC 9327 §3, ntpd's ntp_control.c): a READSTAT response lists
// association id and status pairs, 4 bytes each; the others that return data return text
// ("name=value, ..."). An empty or error response proves nothing: the 12-byte header alone is
// too easily met by chance (a DNS reply whose ID starts with 0xE6 reads as one).
func controlDataPlausible(m *msg, b []byte) bool {
	if m.errBit || m.count == 0 {
		return false
	}
	data := b[controlHeader : controlHeader+int(m.count)]
	if m.opcode == 1 {
		return len(data)%4 == 0
	}
	for _, c := range data {
		if (c < 0x20 || c > 0x7e) && c != '\r' && c != '\n' && c != '\t' {
			return false
		}
	}
	return true
}
