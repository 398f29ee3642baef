// Command pcapgen writes deterministic synthetic captures for pcapaudit's tests and
// benchmarks: small scenarios that raise one finding each, a SPAN-like mix of many flows, and
// a flood of new TCP flows. Every address is in 127.0.0.0/8, so the files can be replayed on
// a loopback interface, and the same flags always give the same bytes.
//
//	pcapgen -scenario ntp-monlist -o ntp-monlist.pcap
//	pcapgen -scenario mix -packets 1000000 -flows 100000 -o mix.pcap
//	pcapgen -scenario synflood -packets 2000000 -o flood.pcap
//	pcapgen -scenario mix -wrap vxlan -o mix-vxlan.pcap    (every packet inside VXLAN)
//	pcapgen -list
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pcapaudit/pcapaudit/internal/encap"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// writer serialises packets with a fixed clock.
type writer struct {
	w    *pcapgo.Writer
	buf  gopacket.SerializeBuffer
	now  time.Time
	n    int
	wrap func([]byte) []byte // the encapsulation of -wrap, or nil
}

func newWriter(out io.Writer) (*writer, error) {
	w := pcapgo.NewWriterNanos(out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	return &writer{w: w, buf: gopacket.NewSerializeBuffer(), now: start}, nil
}

type endpoint struct {
	ip   netip.Addr
	port uint16
}

// packet writes one Ethernet/IPv4 packet carrying TCP (with flags, seq, ack) or UDP.
func (w *writer) packet(src, dst endpoint, tcp *layers.TCP, payload []byte, gap time.Duration) error {
	w.now = w.now.Add(gap)
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src.ip.AsSlice(), DstIP: dst.ip.AsSlice()}
	var l4 gopacket.SerializableLayer
	if tcp != nil {
		ip.Protocol = layers.IPProtocolTCP
		tcp.SrcPort, tcp.DstPort, tcp.Window = layers.TCPPort(src.port), layers.TCPPort(dst.port), 65535
		tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	} else {
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: layers.UDPPort(src.port), DstPort: layers.UDPPort(dst.port)}
		udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(w.buf, opts, eth, ip, l4, gopacket.Payload(payload)); err != nil {
		return err
	}
	data := w.buf.Bytes()
	if w.wrap != nil {
		data = w.wrap(data)
	}
	w.n++
	return w.w.WritePacket(gopacket.CaptureInfo{Timestamp: w.now, CaptureLength: len(data), Length: len(data)}, data)
}

// conn is a TCP connection being written.
type conn struct {
	w        *writer
	c, s     endpoint
	cseq     uint32
	sseq     uint32
	isOpened bool
}

func (w *writer) tcpConn(c, s endpoint, isn uint32) *conn {
	return &conn{w: w, c: c, s: s, cseq: isn, sseq: isn ^ 0x5a5a5a5a}
}

func (k *conn) open() error {
	if err := k.w.packet(k.c, k.s, &layers.TCP{SYN: true, Seq: k.cseq}, nil, time.Millisecond); err != nil {
		return err
	}
	k.cseq++
	if err := k.w.packet(k.s, k.c, &layers.TCP{SYN: true, ACK: true, Seq: k.sseq, Ack: k.cseq}, nil, 100*time.Microsecond); err != nil {
		return err
	}
	k.sseq++
	return k.w.packet(k.c, k.s, &layers.TCP{ACK: true, Seq: k.cseq, Ack: k.sseq}, nil, 100*time.Microsecond)
}

// send writes data from the client (fromClient) or the server, in one segment.
func (k *conn) send(fromClient bool, data []byte) error {
	if fromClient {
		err := k.w.packet(k.c, k.s, &layers.TCP{ACK: true, PSH: true, Seq: k.cseq, Ack: k.sseq}, data, 200*time.Microsecond)
		k.cseq += uint32(len(data))
		return err
	}
	err := k.w.packet(k.s, k.c, &layers.TCP{ACK: true, PSH: true, Seq: k.sseq, Ack: k.cseq}, data, 200*time.Microsecond)
	k.sseq += uint32(len(data))
	return err
}

func (k *conn) close() error {
	if err := k.w.packet(k.c, k.s, &layers.TCP{FIN: true, ACK: true, Seq: k.cseq, Ack: k.sseq}, nil, time.Millisecond); err != nil {
		return err
	}
	k.cseq++
	if err := k.w.packet(k.s, k.c, &layers.TCP{FIN: true, ACK: true, Seq: k.sseq, Ack: k.cseq}, nil, 100*time.Microsecond); err != nil {
		return err
	}
	k.sseq++
	return k.w.packet(k.c, k.s, &layers.TCP{ACK: true, Seq: k.cseq, Ack: k.sseq}, nil, 100*time.Microsecond)
}

type options struct {
	packets, flows int
	seed           uint64
	wrap           string // encapsulation of every packet (internal/encap), "" for none
}

type scenario struct {
	about string
	write func(w *writer, o options) error
}

var scenarios = map[string]scenario{
	"ntp-monlist":        {"NTP mode 7 MON_GETLIST_1 request and a large multi-packet reply (CVE-2013-5211)", ntpMonlist},
	"ntp-mode7-other":    {"NTP mode 7 PEER_LIST_SUM request, answered", ntpMode7Other},
	"ntp-v3-offport":     {"NTPv3 client/server exchange on UDP 1123 (old version, non-standard port)", ntpV3Offport},
	"cldap":              {"CLDAP netlogon search over UDP 389 answered thirtyfold (amplification)", cldap},
	"cldap-ping":         {"CLDAP netlogon search over UDP 389 with an ordinary small answer (no amplification)", cldapPing},
	"sip-basic":          {"SIP REGISTER over UDP with Basic credentials", sipBasic},
	"sip-scanner":        {"friendly-scanner OPTIONS from one source to 20 hosts", sipScanner},
	"ldap-cleartext-636": {"cleartext LDAP simple bind on the LDAPS port 636", ldapOn636},
	"mix":                {"SPAN-like mix of NTP, SIP, LDAP, LDAPS-like TLS, DNS, HTTP and HTTPS flows (-packets, -flows)", mix},
	"synflood":           {"TCP SYNs, each a new flow (-packets)", synflood},
}

func main() {
	var (
		name = flag.String("scenario", "", "scenario to write (see -list)")
		out  = flag.String("o", "", "output file")
		list = flag.Bool("list", false, "list the scenarios")
		o    options
	)
	flag.IntVar(&o.packets, "packets", 1_000_000, "mix, synflood: packets to write")
	flag.IntVar(&o.flows, "flows", 100_000, "mix: flows to write")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.StringVar(&o.wrap, "wrap", "", "wrap every packet in a tunnel: "+strings.Join(encap.Names(), ", ")+" (see -list)")
	flag.Parse()
	if *list {
		var names []string
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("%-20s %s\n", n, scenarios[n].about)
		}
		fmt.Println("\nencapsulations (-wrap):")
		for _, k := range encap.Kinds {
			fmt.Printf("%-20s %s\n", k.Name, k.About)
		}
		return
	}
	if err := run(*name, *out, o); err != nil {
		fmt.Fprintln(os.Stderr, "pcapgen:", err)
		os.Exit(2)
	}
}

func run(name, out string, o options) error {
	sc, ok := scenarios[name]
	if !ok {
		return fmt.Errorf("unknown scenario %q (see -list)", name)
	}
	if out == "" {
		return errors.New("-o FILE is required")
	}
	var wrap func([]byte) []byte
	if o.wrap != "" {
		var err error
		if wrap, err = encap.Wrapper(o.wrap); err != nil {
			return err
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := newWriter(bw)
	if err == nil {
		w.wrap = wrap
		err = sc.write(w, o)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func ep(a, b, c, d byte, port uint16) endpoint {
	return endpoint{netip.AddrFrom4([4]byte{a, b, c, d}), port}
}

// ntpHeader is a 48-byte NTP time message.
func ntpHeader(version, mode, stratum byte) []byte {
	b := make([]byte, 48)
	b[0] = version<<3 | mode
	b[1], b[2], b[3] = stratum, 6, 0xec
	if stratum > 1 {
		copy(b[12:16], []byte{127, 0, 0, 1})
	}
	binary.BigEndian.PutUint32(b[40:44], 0xed0c4b80) // transmit seconds (2026)
	return b
}

func ntpMonlist(w *writer, _ options) error {
	c, s := ep(127, 0, 0, 10, 41000), ep(127, 0, 0, 123, 123)
	req := make([]byte, 192) // ntpdc pads the request to 192 bytes (48 without the data area)
	req[0] = 2<<3 | 7        // version 2, mode 7
	req[2], req[3] = 3, 42   // XNTPD, MON_GETLIST_1
	if err := w.packet(c, s, nil, req, 0); err != nil {
		return err
	}
	for i := 0; i < 10; i++ { // 10 replies of 6 items of 72 bytes
		resp := make([]byte, 8+6*72)
		resp[0] = 0x80 | 2<<3 | 7
		if i < 9 {
			resp[0] |= 0x40 // more
		}
		resp[1] = byte(i)
		resp[2], resp[3] = 3, 42
		binary.BigEndian.PutUint16(resp[4:6], 6)
		binary.BigEndian.PutUint16(resp[6:8], 72)
		if err := w.packet(s, c, nil, resp, 200*time.Microsecond); err != nil {
			return err
		}
	}
	return nil
}

func ntpMode7Other(w *writer, _ options) error {
	c, s := ep(127, 0, 0, 11, 41001), ep(127, 0, 0, 123, 123)
	req := make([]byte, 48)
	req[0], req[2], req[3] = 2<<3|7, 3, 1 // PEER_LIST_SUM
	if err := w.packet(c, s, nil, req, 0); err != nil {
		return err
	}
	resp := make([]byte, 8+2*72)
	resp[0], resp[2], resp[3] = 0x80|2<<3|7, 3, 1
	binary.BigEndian.PutUint16(resp[4:6], 2)
	binary.BigEndian.PutUint16(resp[6:8], 72)
	return w.packet(s, c, nil, resp, 300*time.Microsecond)
}

func ntpV3Offport(w *writer, _ options) error {
	c, s := ep(127, 0, 0, 12, 41002), ep(127, 0, 0, 124, 1123)
	if err := w.packet(c, s, nil, ntpHeader(3, 3, 0), 0); err != nil {
		return err
	}
	return w.packet(s, c, nil, ntpHeader(3, 4, 2), 500*time.Microsecond)
}

// ber builds a BER element with a definite length.
func ber(tag byte, content ...[]byte) []byte {
	var body []byte
	for _, c := range content {
		body = append(body, c...)
	}
	out := []byte{tag}
	switch n := len(body); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, body...)
}

func searchRequest(id byte) []byte {
	return ldapMsg(id, ber(0x63, ber(0x04, []byte("dc=example,dc=test")), ber(0x0a, []byte{2}), ber(0x0a, []byte{0}),
		ber(0x02, []byte{0}), ber(0x02, []byte{0}), ber(0x01, []byte{0}), ber(0x87, []byte("objectClass")), ber(0x30)))
}

func searchDone(id byte) []byte {
	return ldapMsg(id, ber(0x65, ber(0x0a, []byte{0}), ber(0x04), ber(0x04)))
}

func ldapMsg(id byte, op []byte) []byte { return ber(0x30, ber(0x02, []byte{id}), op) }

func bindRequest(id byte, dn, password string) []byte {
	return ldapMsg(id, ber(0x60, ber(0x02, []byte{3}), ber(0x04, []byte(dn)), ber(0x80, []byte(password))))
}

func bindResponse(id byte, code byte) []byte {
	return ldapMsg(id, ber(0x61, ber(0x0a, []byte{code}), ber(0x04), ber(0x04)))
}

// cldapExchange writes a CLDAP netlogon ping ("DC locator") and an answer whose netlogon
// attribute holds size bytes.
func cldapExchange(w *writer, c, s endpoint, size int) error {
	filter := ber(0xa0, ber(0xa3, ber(0x04, []byte("DnsDomain")), ber(0x04, []byte("example.test"))),
		ber(0xa3, ber(0x04, []byte("NtVer")), ber(0x04, []byte{6, 0, 0, 0})))
	search := ldapMsg(1, ber(0x63, ber(0x04), ber(0x0a, []byte{0}), ber(0x0a, []byte{0}), ber(0x02, []byte{0}),
		ber(0x02, []byte{0}), ber(0x01, []byte{0}), filter, ber(0x30, ber(0x04, []byte("Netlogon")))))
	if err := w.packet(c, s, nil, search, 0); err != nil {
		return err
	}
	blob := make([]byte, size)
	for i := range blob {
		blob[i] = byte(i)
	}
	entry := ldapMsg(1, ber(0x64, ber(0x04), ber(0x30, ber(0x30, ber(0x04, []byte("netlogon")), ber(0x31, ber(0x04, blob))))))
	done := ldapMsg(1, ber(0x65, ber(0x0a, []byte{0}), ber(0x04), ber(0x04)))
	return w.packet(s, c, nil, append(entry, done...), 300*time.Microsecond)
}

func cldap(w *writer, _ options) error {
	return cldapExchange(w, ep(127, 0, 0, 13, 41003), ep(127, 0, 0, 89, 389), 3000)
}

// cldapPing is what a domain member sends to find its domain controller: the answer (about
// 150 bytes, as Active Directory's NETLOGON_SAM_LOGON_RESPONSE_EX) is twice the request.
func cldapPing(w *writer, _ options) error {
	return cldapExchange(w, ep(127, 0, 0, 16, 41005), ep(127, 0, 0, 89, 389), 110)
}

func sipBasic(w *writer, _ options) error {
	c, s := ep(127, 0, 0, 14, 5062), ep(127, 0, 0, 50, 5060)
	msg := "REGISTER sip:127.0.0.50 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.14:5062;branch=z9hG4bK1\r\n" +
		"From: <sip:bob@127.0.0.50>;tag=1\r\nTo: <sip:bob@127.0.0.50>\r\nCall-ID: basic-1\r\nCSeq: 1 REGISTER\r\n" +
		"Authorization: Basic Ym9iOnNlY3JldC1wdy0xMjM0\r\nContent-Length: 0\r\n\r\n" // bob:secret-pw-1234
	if err := w.packet(c, s, nil, []byte(msg), 0); err != nil {
		return err
	}
	ok := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.14:5062;branch=z9hG4bK1\r\nFrom: <sip:bob@127.0.0.50>;tag=1\r\n" +
		"To: <sip:bob@127.0.0.50>;tag=2\r\nCall-ID: basic-1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
	return w.packet(s, c, nil, []byte(ok), time.Millisecond)
}

func sipScanner(w *writer, _ options) error {
	c := ep(127, 0, 0, 66, 5070)
	for i := 0; i < 20; i++ {
		s := ep(127, 0, 1, byte(i+1), 5060)
		msg := fmt.Sprintf("OPTIONS sip:100@127.0.1.%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.66:5070;branch=z9hG4bK-%d\r\n"+
			"From: \"sipvicious\"<sip:100@1.1.1.1>;tag=%d\r\nTo: \"sipvicious\"<sip:100@1.1.1.1>\r\nCall-ID: scan-%d\r\n"+
			"CSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n", i+1, i, i, i)
		if err := w.packet(c, s, nil, []byte(msg), 5*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func ldapOn636(w *writer, _ options) error {
	k := w.tcpConn(ep(127, 0, 0, 15, 41004), ep(127, 0, 0, 89, 636), 1000)
	for _, step := range []func() error{
		k.open,
		func() error { return k.send(true, bindRequest(1, "cn=admin,dc=example,dc=test", "secret-pw-1234")) },
		func() error { return k.send(false, bindResponse(1, 0)) },
		func() error { return k.send(true, ldapMsg(2, []byte{0x42, 0x00})) }, // unbind
		k.close,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// mixFlow is one flow of the mix: its kind, endpoints and what is left to send.
type mixFlow struct {
	kind int
	k    *conn
	c, s endpoint
	step int
	n    int // packets to write
}

const (
	kNTP = iota
	kSIPUDP
	kSIPTCP
	kLDAP
	kTLS636
	kDNS
	kHTTP
	kHTTPS
	numKinds
)

// mixWeights: share of flows by kind, in percent (a SPAN port in front of directory, voice and
// time servers, with the usual web and DNS around them).
var mixWeights = [numKinds]int{15, 10, 5, 15, 10, 20, 10, 15}

var (
	sipOptions = []byte("OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:mon@127.0.0.2>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: mix\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	sipOK   = []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1\r\nCall-ID: mix\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	httpGet = []byte("GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: mix\r\n\r\n")
	httpOK  = append([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1200\r\n\r\n"), make([]byte, 1200)...)
	dnsQ    = []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1}
	hello   = tlsClientHello()
	bulk    = make([]byte, 1400)
)

// tlsClientHello is a minimal TLS 1.2 ClientHello record.
func tlsClientHello() []byte {
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = append(body, 0, 4, 0xc0, 0x2f, 0x00, 0x9c)
	body = append(body, 1, 0) // compression
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func mix(w *writer, o options) error {
	r := rand.New(rand.NewPCG(o.seed, 0x6d6978))
	perFlow := max(o.packets/max(o.flows, 1), 4)
	var active []*mixFlow
	made := 0
	pick := func() int {
		x := r.IntN(100)
		for k, wgt := range mixWeights {
			if x < wgt {
				return k
			}
			x -= wgt
		}
		return kDNS
	}
	for w.n < o.packets {
		if made < o.flows && (len(active) < 2000 || r.IntN(3) == 0) {
			f := &mixFlow{kind: pick()}
			cl := ep(127, 1+byte(made>>16), byte(made>>8), byte(made), uint16(20000+r.IntN(40000)))
			sv := ep(127, 200, 0, byte(1+r.IntN(50)), 0)
			f.c, f.s = cl, sv
			switch f.kind {
			case kNTP:
				f.s.port = 123
			case kSIPUDP, kSIPTCP:
				f.s.port = 5060
			case kLDAP:
				f.s.port = 389
			case kTLS636:
				f.s.port = 636
			case kDNS:
				f.s.port = 53
			case kHTTP:
				f.s.port = 80
			case kHTTPS:
				f.s.port = 443
			}
			f.n = 2 + r.IntN(2*perFlow)
			if f.kind == kSIPTCP || f.kind == kLDAP || f.kind == kTLS636 || f.kind == kHTTP || f.kind == kHTTPS {
				f.k = w.tcpConn(f.c, f.s, r.Uint32())
			}
			active = append(active, f)
			made++
		}
		if len(active) == 0 {
			if made >= o.flows {
				made = 0 // wrap around: more packets than the flows asked for carry
			}
			continue
		}
		i := r.IntN(len(active))
		f := active[i]
		if err := mixStep(w, f); err != nil {
			return err
		}
		f.step++
		if f.step >= f.n {
			if f.k != nil {
				if err := f.k.close(); err != nil {
					return err
				}
			}
			active[i] = active[len(active)-1]
			active = active[:len(active)-1]
		}
	}
	return nil
}

func mixStep(w *writer, f *mixFlow) error {
	fromClient := f.step%2 == 0
	gap := 50 * time.Microsecond
	switch f.kind {
	case kNTP:
		if fromClient {
			return w.packet(f.c, f.s, nil, ntpHeader(4, 3, 0), gap)
		}
		return w.packet(f.s, f.c, nil, ntpHeader(4, 4, 2), gap)
	case kSIPUDP:
		if fromClient {
			return w.packet(f.c, f.s, nil, sipOptions, gap)
		}
		return w.packet(f.s, f.c, nil, sipOK, gap)
	case kDNS:
		if fromClient {
			return w.packet(f.c, f.s, nil, dnsQ, gap)
		}
		return w.packet(f.s, f.c, nil, append(dnsQ[:2:2], append([]byte{0x81, 0x80}, dnsQ[4:]...)...), gap)
	}
	if f.step == 0 {
		return f.k.open()
	}
	fromClient = f.step%2 == 1 // after the handshake the client speaks first
	var payload []byte
	switch {
	case f.kind == kSIPTCP:
		payload = sipOptions
		if !fromClient {
			payload = sipOK
		}
	case f.kind == kLDAP && f.step == 1:
		payload = bindRequest(1, "cn=reader,dc=example,dc=test", "reader-password")
	case f.kind == kLDAP && f.step == 2:
		payload = bindResponse(1, 0)
	case (f.kind == kTLS636 || f.kind == kHTTPS) && f.step == 1:
		payload = hello
	case f.kind == kHTTP && f.step == 1:
		payload = httpGet
	case f.kind == kHTTP && f.step == 2:
		payload = httpOK
	case f.kind == kTLS636 || f.kind == kHTTPS:
		n := 200 + f.step*37%1200
		payload = append([]byte{23, 3, 3, byte(n >> 8), byte(n)}, bulk[:n]...)
	case f.kind == kLDAP && fromClient:
		payload = searchRequest(byte(f.step))
	case f.kind == kLDAP:
		payload = searchDone(byte(f.step - 1))
	default:
		payload = bulk[:200+f.step*37%1200]
	}
	return f.k.send(fromClient, payload)
}

func synflood(w *writer, o options) error {
	r := rand.New(rand.NewPCG(o.seed, 0x73796e))
	for i := 0; i < o.packets; i++ {
		c := ep(127, byte(1+r.IntN(254)), byte(r.IntN(256)), byte(r.IntN(256)), uint16(1024+r.IntN(64000)))
		s := ep(127, 250, 0, byte(1+r.IntN(4)), 389)
		if err := w.packet(c, s, &layers.TCP{SYN: true, Seq: r.Uint32()}, nil, time.Microsecond); err != nil {
			return err
		}
	}
	return nil
}
