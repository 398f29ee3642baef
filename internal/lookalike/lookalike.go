// Package lookalike holds payloads of other protocols that resemble NTP, SIP, LDAP or TLS in
// their first bytes, each with a comment saying what it is and why it is not the protocol it
// resembles. The detectors' tests and the engine's tests use them as regression fixtures for
// precision; no package may import it from a non-test file. Written into a capture, each is
// read by tshark (decoding the port as the protocol named) as what its comment says it is.
// They are made by hand, not copied from any capture.
package lookalike

// Payload is one look-alike: a UDP datagram or the first bytes of a TCP stream.
type Payload struct {
	Name string
	// TCP is true for a stream, false for a datagram.
	TCP bool
	// Port is the server port the payload is sent to (or from, for a reply).
	Port uint16
	// Reply is true when the server sends it.
	Reply bool
	Data  []byte
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i*37)
	}
	return b
}

var (
	// DNSQueryE6 is an A query for example123.com, 32 bytes, whose ID is 0xE6A3. Read as NTP,
	// 0xE6 is LI 3, version 4, mode 6 (control) and 0xA3 the R and M bits with opcode 3
	// (writevar): a control response whose count (ARCOUNT) is 0, followed by 20 bytes that
	// fit a key id and MD5 MAC. A control response without data proves nothing.
	DNSQueryE6 = cat([]byte{0xe6, 0xa3, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
		[]byte("\x0aexample123\x03com\x00"), []byte{0x00, 0x01, 0x00, 0x01})

	// DNSRefusedE6 is the REFUSED reply to DNSQueryE6, read the same way; and on a flow it
	// follows a datagram that was not NTP.
	DNSRefusedE6 = cat([]byte{0xe6, 0xa3, 0x81, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
		[]byte("\x0aexample123\x03com\x00"), []byte{0x00, 0x01, 0x00, 0x01})

	// DTLS0100ClientHello is a DTLS ClientHello with the pre-standard version 0x0100 (OpenSSL
	// before 0.9.8f, Cisco AnyConnect): `16 01 00` reads as NTPv2 mode 6 READSTAT, but its
	// length fits no control message.
	DTLS0100ClientHello = cat([]byte{0x16, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x36},
		[]byte{0x01, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x01, 0x00},
		seq(32, 7), []byte{0x00, 0x00, 0x00, 0x02, 0x00, 0x2f, 0x01, 0x00})

	// DTLS0100HelloVerify is the server's HelloVerifyRequest to DTLS0100ClientHello with a
	// 20-byte cookie: 48 bytes that read as an NTPv2 READSTAT request (status, association,
	// offset and count all 0 from the epoch and sequence) followed by 36 bytes, the size of a
	// key id and SHA-256 MAC. ntpq's MACs are at most 24 bytes, the reply answers no NTP
	// request, and a request from the server on 443 would make the server the client.
	DTLS0100HelloVerify = cat([]byte{0x16, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x23},
		[]byte{0x03, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x17, 0x01, 0x00, 0x14},
		seq(20, 11))

	// DTLS10ClientHello (0xFEFF) and DTLS12ClientHello (0xFEFD): `16 FE` reads as mode 6 with
	// R, E and M set and opcode 30, which is undefined; as TLS the version is not 3.x.
	DTLS10ClientHello = cat([]byte{0x16, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x36},
		[]byte{0x01, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0xfe, 0xff},
		seq(32, 3), []byte{0x00, 0x00, 0x00, 0x02, 0x00, 0x2f, 0x01, 0x00})
	DTLS12ClientHello = cat([]byte{0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x36},
		[]byte{0x01, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0xfe, 0xfd},
		seq(32, 5), []byte{0x00, 0x00, 0x00, 0x02, 0xc0, 0x2b, 0x01, 0x00})

	// QUICShort is a QUIC short-header packet (first byte 0x54: fixed bit, key phase) whose
	// server-chosen connection ID starts 02 00 EC: read as NTP, LI 1, version 2, mode 4,
	// stratum 2, poll 0, precision -20, then 25 bytes past the 48-byte header that are no
	// MAC. Its root delay and dispersion are random and exceed 256 s.
	QUICShort = cat([]byte{0x54, 0x02, 0x00, 0xec}, seq(69, 0x91))

	// QUICInitial is the start of a QUIC v1 Initial (long header 0xC3, version 1): read as
	// NTP the first byte has version 0.
	QUICInitial = cat([]byte{0xc3, 0x00, 0x00, 0x00, 0x01, 0x08}, seq(8, 1), []byte{0x00, 0x00, 0x44, 0xd0}, seq(60, 9))

	// STUNBinding is a STUN Binding request: type 0x0001, length 0, the magic cookie
	// 0x2112A442 and a 12-byte transaction id. As NTP its version is 0; as SIP it is not text.
	STUNBinding = cat([]byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42}, seq(12, 0x40))

	// RTPWithCSRC is an RTP packet with six CSRCs and payload type 8 (PCMA): 0x96 reads as
	// LI 2, version 2, mode 6 and 0x08 as opcode 8 (configure), but its timestamp and SSRC
	// fill the status and offset a control request leaves 0.
	RTPWithCSRC = cat([]byte{0x96, 0x08, 0x1f, 0x40, 0x00, 0x02, 0xb1, 0x80, 0x5e, 0x3a, 0x11, 0x07}, seq(24+160, 0xd5))

	// RTCPReceiverReport is an RTCP RR (version 2, one report block): 0x81 reads as version 0.
	RTCPReceiverReport = cat([]byte{0x81, 0xc9, 0x00, 0x07, 0x5e, 0x3a, 0x11, 0x07}, seq(24, 0x21))

	// WireGuardInit is a WireGuard handshake initiation (type 1, three zero bytes, sender
	// index, ephemeral key, sealed static key and timestamp, two MACs): 148 bytes of binary,
	// no SIP start line, and version 0 as NTP.
	WireGuardInit = cat([]byte{0x01, 0x00, 0x00, 0x00}, seq(144, 0x13))

	// HTTPOptions and RTSPOptions share SIP's request line shape but not its version token.
	HTTPOptions = []byte("OPTIONS sip:a@example.com HTTP/1.1\r\nHost: example.com\r\nVia: SIP/2.0/UDP x\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n")
	RTSPOptions = []byte("OPTIONS rtsp://example.com/media.mp4 RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: player\r\n\r\n")

	// KerberosASReq is the start of a Kerberos AS-REQ over TCP (4-byte record mark, then
	// [APPLICATION 10]); over UDP it starts with the application tag 0x6A. LDAP starts with a
	// SEQUENCE (0x30).
	KerberosASReqTCP = cat([]byte{0x00, 0x00, 0x00, 0x30, 0x6a, 0x2e, 0x30, 0x2c, 0xa1, 0x03, 0x02, 0x01, 0x05, 0xa2, 0x03, 0x02, 0x01, 0x0a}, seq(34, 0x30))
	KerberosASReqUDP = cat([]byte{0x6a, 0x2e, 0x30, 0x2c, 0xa1, 0x03, 0x02, 0x01, 0x05, 0xa2, 0x03, 0x02, 0x01, 0x0a}, seq(34, 0x30))

	// RADIUSAccessRequest is a RADIUS Access-Request (code 1, id, length, 16-byte
	// authenticator, User-Name): not a BER SEQUENCE.
	RADIUSAccessRequest = cat([]byte{0x01, 0x2a, 0x00, 0x1b}, seq(16, 0x77), []byte{0x01, 0x07, 'a', 'l', 'i', 'c', 'e'})

	// SNMPGetRequest is an SNMPv2c GetRequest: a SEQUENCE starting with an INTEGER (the
	// version, 1) like an LDAPMessage, but an OCTET STRING (the community) follows where LDAP
	// has an application-tagged protocol op.
	SNMPGetRequest = []byte{0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c',
		0xa0, 0x19, 0x02, 0x04, 0x12, 0x34, 0x56, 0x78, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00,
		0x30, 0x0b, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x05, 0x00}

	// TLSBadSessionID has a TLS record and handshake header for a ClientHello, but a session ID
	// length of 64 where TLS allows 32: random bytes that met the first 11 bytes' test.
	TLSBadSessionID = cat([]byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03}, seq(32, 0x55), []byte{0x40}, seq(30, 2))
)

// UDP returns the datagram look-alikes, each for the server port where it would confuse a
// port-led classifier the most.
func UDP() []Payload {
	return []Payload{
		{"dns query, id 0xE6..", false, 53, false, DNSQueryE6},
		{"dns refused, id 0xE6..", false, 53, true, DNSRefusedE6},
		{"dtls 0x0100 client hello", false, 443, false, DTLS0100ClientHello},
		{"dtls 0x0100 hello verify", false, 443, true, DTLS0100HelloVerify},
		{"dtls 1.0 client hello", false, 443, false, DTLS10ClientHello},
		{"dtls 1.2 client hello", false, 443, false, DTLS12ClientHello},
		{"quic short header on 123", false, 123, true, QUICShort},
		{"quic initial on 123", false, 123, false, QUICInitial},
		{"stun binding on 123", false, 123, false, STUNBinding},
		{"stun binding on 5060", false, 5060, false, STUNBinding},
		{"rtp on 123", false, 123, false, RTPWithCSRC},
		{"rtcp on 123", false, 123, false, RTCPReceiverReport},
		{"wireguard on 5060", false, 5060, false, WireGuardInit},
		{"kerberos on 389", false, 389, false, KerberosASReqUDP},
		{"radius on 389", false, 389, false, RADIUSAccessRequest},
		{"snmp on 389", false, 389, false, SNMPGetRequest},
		{"one byte on 123", false, 123, false, []byte{0x1b}},
		{"four bytes on 123", false, 123, false, []byte{0xe3, 0x00, 0x04, 0xfa}},
		{"short control-like datagram on 123", false, 123, false, []byte{0x16, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
	}
}

// TCP returns the stream look-alikes.
func TCP() []Payload {
	return []Payload{
		{"http on 5060", true, 5060, false, HTTPOptions},
		{"rtsp on 5060", true, 5060, false, RTSPOptions},
		{"kerberos on 389", true, 389, false, KerberosASReqTCP},
		{"snmp on 389", true, 389, false, SNMPGetRequest},
		{"dtls 1.2 on 636", true, 636, false, DTLS12ClientHello},
		{"tls with a 64-byte session id on 636", true, 636, false, TLSBadSessionID},
	}
}
