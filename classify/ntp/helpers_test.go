package ntp

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Fixtures. Each is built from annotated byte literals; the helpers only concatenate.

var (
	addrClient = netip.MustParseAddrPort("192.0.2.10:40123")
	addrServer = netip.MustParseAddrPort("198.51.100.1:123")
	t0         = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// clientRequest is an NTPv4 client request as chrony or ntpd send it.
var clientRequest = []byte{
	0x23,                   // LI 0, VN 4, mode 3 (client)
	0x00,                   // stratum 0 (unspecified)
	0x06,                   // poll 2^6 s
	0xe9,                   // precision 2^-23 s
	0x00, 0x00, 0x00, 0x00, // root delay
	0x00, 0x00, 0x00, 0x00, // root dispersion
	0x00, 0x00, 0x00, 0x00, // reference id
	0, 0, 0, 0, 0, 0, 0, 0, // reference timestamp
	0, 0, 0, 0, 0, 0, 0, 0, // origin timestamp
	0, 0, 0, 0, 0, 0, 0, 0, // receive timestamp
	0xe9, 0xdc, 0xad, 0x40, 0x80, 0x00, 0x00, 0x00, // transmit 2024-05-01T12:00:00.5Z
}

// serverReply answers clientRequest.
var serverReply = []byte{
	0x24,                   // LI 0, VN 4, mode 4 (server)
	0x02,                   // stratum 2
	0x06,                   // poll 2^6 s
	0xe8,                   // precision 2^-24 s
	0x00, 0x00, 0x08, 0x00, // root delay 0x0800/65536 = 0.03125 s
	0x00, 0x01, 0x00, 0x00, // root dispersion 1 s
	0xc0, 0x00, 0x02, 0x7b, // reference id 192.0.2.123 (the upstream server)
	0xe9, 0xdc, 0xac, 0x00, 0x00, 0x00, 0x00, 0x00, // reference 2024-05-01T11:54:40Z
	0xe9, 0xdc, 0xad, 0x40, 0x80, 0x00, 0x00, 0x00, // origin = client transmit
	0xe9, 0xdc, 0xad, 0x40, 0x81, 0x00, 0x00, 0x00, // receive
	0xe9, 0xdc, 0xad, 0x40, 0x82, 0x00, 0x00, 0x00, // transmit
}

// kissRATE is a kiss-of-death reply: stratum 0, reference id "RATE".
var kissRATE = []byte{
	0xe4,       // LI 3 (unsynchronised), VN 4, mode 4
	0x00,       // stratum 0: kiss-of-death
	0x06, 0xe8, // poll, precision
	0, 0, 0, 0, 0, 0, 0, 0, // root delay, root dispersion
	'R', 'A', 'T', 'E', // kiss code
	0, 0, 0, 0, 0, 0, 0, 0, // reference
	0xe9, 0xdc, 0xad, 0x40, 0x80, 0x00, 0x00, 0x00, // origin
	0xe9, 0xdc, 0xad, 0x40, 0x81, 0x00, 0x00, 0x00, // receive
	0xe9, 0xdc, 0xad, 0x40, 0x81, 0x00, 0x00, 0x00, // transmit
}

// sha1MAC is a key id and a 20-byte SHA1 digest.
var sha1MAC = []byte{
	0x00, 0x00, 0x00, 0x02, // key id 2
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, // digest (20 bytes)
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
}

// md5MAC is a key id and a 16-byte MD5 (or AES-CMAC) digest.
var md5MAC = []byte{
	0x00, 0x00, 0x00, 0x01, // key id 1
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // digest (16 bytes)
}

// cryptoNAK is a bare key id 0 (RFC 5905 §7.3).
var cryptoNAK = []byte{0x00, 0x00, 0x00, 0x00}

// ef builds an extension field: type, length (header included, padded to 4), value.
func ef(typ uint16, value []byte) []byte {
	l := 4 + len(value)
	for l%4 != 0 {
		l++
	}
	b := make([]byte, l)
	b[0], b[1] = byte(typ>>8), byte(typ)
	b[2], b[3] = byte(l>>8), byte(l)
	copy(b[4:], value)
	return b
}

// The NTS exchange (RFC 8915 §5): the client sends Unique Identifier, a cookie, a cookie
// placeholder and the Authenticator; the server echoes the Unique Identifier and sends the
// Authenticator with the new cookies encrypted inside it.
var (
	ntsUID     = ef(0x0104, bytes.Repeat([]byte{0x11}, 32)) // 36 bytes
	ntsCookie  = ef(0x0204, bytes.Repeat([]byte{0x22}, 100))
	ntsPlace   = ef(0x0304, make([]byte, 100))
	ntsAuthReq = ef(0x0404, cat(
		[]byte{0x00, 0x10, 0x00, 0x10},  // nonce length 16, ciphertext length 16
		bytes.Repeat([]byte{0x33}, 16),  // nonce
		bytes.Repeat([]byte{0x44}, 16))) // ciphertext (the SIV tag)
	ntsAuthResp = ef(0x0404, cat(
		[]byte{0x00, 0x10, 0x00, 0x80}, // nonce 16, ciphertext 128 (tag + new cookie)
		bytes.Repeat([]byte{0x55}, 16+128)))
	ntsRequest = cat(clientRequest, ntsUID, ntsCookie, ntsPlace, ntsAuthReq)
	ntsReply   = cat(serverReply, ntsUID, ntsAuthResp)
)

// Mode 6 readvar exchange (ntpq -c rv).
var (
	readvarRequest = []byte{
		0x16,       // LI 0, VN 2, mode 6 (control)
		0x02,       // R 0, E 0, M 0, opcode 2 (readvar)
		0x00, 0x01, // sequence 1
		0x00, 0x00, // status
		0x00, 0x00, // association id 0 (system variables)
		0x00, 0x00, // offset
		0x00, 0x00, // count 0
	}
	readvarData     = []byte(`version="ntpd 4.2.8p15", stratum=2, refid=192.0.2.123`) // 53 bytes
	readvarResponse = cat([]byte{
		0x16,       // LI 0, VN 2, mode 6
		0x82,       // R 1, E 0, M 0, opcode 2
		0x00, 0x01, // sequence 1
		0x06, 0x18, // system status word
		0x00, 0x00, // association id
		0x00, 0x00, // offset 0
		0x00, 0x35, // count 53
	}, readvarData, []byte{0, 0, 0}) // padded to 32 bits
)

// Mode 7 monlist (CVE-2013-5211): the 48-byte request of the public exploit tools and a
// response with two 72-byte info_monitor_1 items.
var (
	monlistRequest = cat([]byte{
		0x17,       // R 0, M 0, VN 2, mode 7 (private)
		0x00,       // A 0, sequence 0
		0x03,       // implementation 3 (XNTPD)
		0x2a,       // request code 42 (MON_GETLIST_1)
		0x00, 0x00, // error 0, 0 items
		0x00, 0x00, // MBZ, item size 0
	}, make([]byte, 40))
	monlistResponse = cat([]byte{
		0xd7,       // R 1, M 1 (more follow), VN 2, mode 7
		0x00,       // A 0, sequence 0
		0x03,       // implementation 3
		0x2a,       // request code 42
		0x00, 0x02, // error 0, 2 items
		0x00, 0x48, // MBZ, item size 72
	}, bytes.Repeat([]byte{0x01}, 2*72))
)

// Datagrams that are not NTP.
var (
	// dnsQuery is a 48-byte A query for mail.exampledns.com with an EDNS OPT record. Its
	// ID puts VN 3 / mode 3 and stratum 5 where an NTP header has them.
	dnsQuery = cat([]byte{
		0x1b, 0x05, // ID
		0x01, 0x00, // flags: RD
		0x00, 0x01, // QDCOUNT 1
		0x00, 0x00, // ANCOUNT
		0x00, 0x00, // NSCOUNT
		0x00, 0x01, // ARCOUNT 1
	}, []byte("\x04mail\x0aexampledns\x03com\x00"), []byte{
		0x00, 0x01, 0x00, 0x01, // type A, class IN
		0x00, 0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // OPT
	})
	// dnsControl is a DNS query whose first two bytes read as mode 6, opcode 2 (readvar).
	dnsControl = cat([]byte{0x16, 0x02, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
		[]byte("\x07example\x03com\x00\x00\x01\x00\x01"))
	// rtpPacket is an RTP packet (V=2, PT 0 PCMU) with 20 bytes of audio.
	rtpPacket = cat([]byte{
		0x80, 0x00, // V 2, no padding/extension/CSRC; M 0, PT 0
		0x12, 0x34, // sequence
		0x00, 0x00, 0x10, 0x00, // timestamp
		0xde, 0xad, 0xbe, 0xef, // SSRC
	}, bytes.Repeat([]byte{0xff}, 160))
)

// newFlow returns a UDP flow between the test client and server (server port 123 unless
// onPort is false).
func newFlow(onPort bool) *flow.Flow {
	f := flow.New()
	f.Transport = flow.UDP
	f.Client, f.Server = addrClient, addrServer
	if !onPort {
		f.Server = netip.AddrPortFrom(addrServer.Addr(), 40000)
	}
	f.Frame, f.Time = 1, flow.TimeOf(t0)
	return f
}

// feed presents datagrams to the detector as the engine does: a Reverse request at the claim
// swaps client and server; later directions follow the new orientation.
type step struct {
	dir  flow.Dir
	data []byte
}

func feed(d *Detector, f *flow.Flow, steps ...step) (last flow.Verdict) {
	swapped := false
	for i, s := range steps {
		f.Frame = uint64(i + 1)
		f.Time = flow.TimeOf(t0.Add(time.Duration(i) * time.Millisecond))
		dir := s.dir
		if swapped {
			dir = 1 - dir
		}
		claimed := f.NTP != nil
		v, n := d.Inspect(f, dir, s.data)
		if v == flow.More && n != len(s.data) {
			panic("UDP datagram not consumed whole")
		}
		if !claimed && f.TakeReverse() {
			swapped = true
			f.Client, f.Server = f.Server, f.Client
		}
		last = v
		if v != flow.More {
			return v
		}
	}
	return last
}
