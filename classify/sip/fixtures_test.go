package sip

// Annotated fixtures. Secrets that must never reach the facts are marked SECRET.

// register401 is a REGISTER without credentials (RFC 3261 §10.2).
var register1 = crlf(`REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
From: "Alice" <sip:alice@example.com>;tag=1928301774
To: <sip:alice@example.com>
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 1 REGISTER
Contact: <sip:alice@192.0.2.10:5060>
User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)
Content-Length: 0

`)

// challenge401 is the registrar's digest challenge (RFC 8760 SHA-256 offered first).
var challenge401 = crlf(`SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=50000;received=198.51.100.7
From: "Alice" <sip:alice@example.com>;tag=1928301774
To: <sip:alice@example.com>;tag=37GkEhwl6
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm="example.com", qop="auth", algorithm=SHA-256,
  nonce="SECRETNONCE0123456789", opaque="SECRETOPAQUE", stale=FALSE
WWW-Authenticate: Digest realm="example.com", qop="auth", algorithm=MD5, nonce="SECRETNONCE0123456789"
Server: Kamailio (5.6.4 (x86_64/linux))
Content-Length: 0

`)

// registerDigest answers the challenge with an MD5 digest response (32 hex characters).
var registerDigest = crlf(`REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7;rport
Max-Forwards: 70
From: "Alice" <sip:alice@example.com>;tag=1928301774
To: <sip:alice@example.com>
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 2 REGISTER
Contact: <sip:alice@192.0.2.10:5060>
Authorization: Digest username="alice", realm="example.com", nonce="SECRETNONCE0123456789",
 uri="sip:example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5,
 cnonce="SECRETCNONCE", qop=auth, nc=00000001
User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)
Content-Length: 0

`)

const digestResponse = "6629fae49393a05397450978507c4ef1"

var ok200Register = crlf(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7;received=198.51.100.7
From: "Alice" <sip:alice@example.com>;tag=1928301774
To: <sip:alice@example.com>;tag=37GkEhwl6
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 2 REGISTER
Contact: <sip:alice@192.0.2.10:5060>;expires=3600
Content-Length: 0

`)

// inviteAVPHead carries an SDP offer with unencrypted RTP (RTP/AVP) for audio and video.
const inviteAVPHead = `INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>
Content-Type: application/sdp
Content-Length: %d

`

const sdpAVP = `v=0
o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
`

var inviteAVP = withBody(inviteAVPHead, sdpAVP)

// inviteSAVP offers SRTP keyed by SDES: the inline key is a secret that travels in cleartext.
const sdpSAVP = `v=0
o=alice 2890844526 2890844526 IN IP4 192.0.2.101
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49170 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:SECRETKEYd0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32
a=crypto:2 AES_256_CM_HMAC_SHA1_80 inline:SECRETKEY2VCspeEc3QGZiNWpVLFJhQX1cfHAwJSojSECRETKEY2VCspeEc3QGZ
a=rtpmap:0 PCMU/8000
`

const inviteUDPHead = `INVITE sip:bob@192.0.2.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1
From: <sip:alice@192.0.2.10>;tag=1
To: <sip:bob@192.0.2.1>
Call-ID: srtp-1@192.0.2.10
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.10>
Content-Type: application/sdp
Content-Length: %d

`

var inviteSAVP = withBody(inviteUDPHead, sdpSAVP)

// inviteCompact uses the compact header names of RFC 3261 §7.3.3 and a userinfo password.
var inviteCompact = withBody(`INVITE sip:bob:hunter2pw@biloxi.example.com SIP/2.0
v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKkjshdyff
f: Alice <sip:alice:SECRETPASS@atlanta.example.com>;tag=88sja8x
t: Bob <sip:bob@biloxi.example.com>
i: 987asjd97y7atg@pc33.atlanta.example.com
CSeq: 314159 INVITE
m: <sip:alice@pc33.atlanta.example.com>
k: 100rel
s: compact
c: application/sdp
l: %d

`, sdpAVP)

// optionsScanner is SIPVicious svmap's probe.
var optionsScanner = crlf(`OPTIONS sip:100@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK-2856906215;rport
Max-Forwards: 70
To: "sipvicious"<sip:100@1.1.1.1>
From: "sipvicious"<sip:100@1.1.1.1>;tag=6332376231313962313363340131393736383737373931
User-Agent: friendly-scanner
Call-ID: 745193596853212537640391
Contact: sip:100@203.0.113.66:5060
CSeq: 1 OPTIONS
Accept: application/sdp
Content-Length: 0

`)

var options1 = crlf(`OPTIONS sip:ping@192.0.2.1 SIP/2.0
Via: SIP/2.0/TCP 192.0.2.10:50000;branch=z9hG4bK.a
From: <sip:probe@192.0.2.10>;tag=a
To: <sip:ping@192.0.2.1>
Call-ID: opt-1
CSeq: 1 OPTIONS
Content-Length: 0

`)

var options2 = crlf(`OPTIONS sip:ping@192.0.2.1 SIP/2.0
Via: SIP/2.0/TCP 192.0.2.10:50000;branch=z9hG4bK.b
From: <sip:probe@192.0.2.10>;tag=a
To: <sip:ping@192.0.2.1>
Call-ID: opt-2
CSeq: 2 OPTIONS
Content-Length: 0

`)

// basicAuth carries HTTP Basic credentials (forbidden by RFC 3261 §22.1, still seen).
var basicAuth = crlf(`MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/TCP 192.0.2.10;branch=z9hG4bK.c
From: <sip:alice@example.com>;tag=c
To: <sip:bob@example.com>
Call-ID: basic-1
CSeq: 1 MESSAGE
Proxy-Authorization: Basic YWxpY2U6U0VDUkVUUEFTU1dPUkQ=
Content-Length: 0

`)

const basicSecret = "YWxpY2U6U0VDUkVUUEFTU1dPUkQ="

// Rejects.
var (
	httpGet = crlf(`GET /live/playlist.m3u8 HTTP/1.1
Host: 192.0.2.1:8888
User-Agent: VLC/3.0.18 LibVLC/3.0.18

`)
	httpResponse = crlf(`HTTP/1.1 200 OK
Content-Length: 0

`)
	rtspOptions = crlf(`OPTIONS rtsp://192.0.2.1:554/stream RTSP/1.0
CSeq: 1

`)
	rtspResponse = crlf(`RTSP/1.0 200 OK
CSeq: 1

`)
	// A DNS query for example.com, type A.
	dnsQuery = []byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0x00, 0x01, 0x00, 0x01}
	random = []byte{0x9f, 0x03, 0xd4, 0x77, 0x10, 0xaa, 0x51, 0x00, 0xfe, 0x3c, 0x88, 0x21, 0x45, 0x6b}
	// SIP-like text with an unknown version and a lower-case method.
	sipWrongVersion = crlf("INVITE sip:bob@example.com SIP/3.0\nContent-Length: 0\n\n")
	sipLowerMethod  = crlf("invite sip:bob@example.com SIP/2.0\nContent-Length: 0\n\n")
)
