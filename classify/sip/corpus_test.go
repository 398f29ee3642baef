package sip

import (
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// corpusFlow is one transport flow of a capture, fed to the detector as the engine would.
type corpusFlow struct {
	s        *session
	a        netip.AddrPort // the side that sent the first packet, or the SYN
	next     [2]uint32      // next expected TCP sequence number per side (0: a, 1: the other)
	seqKnown [2]bool
}

type flowKey struct {
	lo, hi netip.AddrPort
	proto  flow.Transport
}

// repoRoot walks up from the package directory to the folder holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// packetSource reads a pcap or pcapng file.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// runCapture feeds every TCP and UDP payload of a capture to a fresh detector per flow and
// returns the flows, in the order they started.
func runCapture(t *testing.T, path string) []*corpusFlow {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var src packetSource
	linkType := func(gopacket.CaptureInfo) layers.LinkType { return layers.LinkTypeEthernet }
	if r, err := pcapgo.NewReader(fh); err == nil {
		src = r
		lt := r.LinkType()
		linkType = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	} else {
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewNgReader(fh, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: neither pcap nor pcapng: %v", path, err)
		}
		src = r
		linkType = func(ci gopacket.CaptureInfo) layers.LinkType {
			if intf, err := r.Interface(ci.InterfaceIndex); err == nil {
				return intf.LinkType
			}
			return layers.LinkTypeEthernet
		}
	}
	flows := map[flowKey]*corpusFlow{}
	var order []*corpusFlow
	for frame := uint64(1); ; frame++ {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s frame %d: %v", path, frame, err)
		}
		pkt := gopacket.NewPacket(data, linkType(ci), gopacket.Default)
		var src, dst netip.Addr
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(ip.SrcIP)
			dst, _ = netip.AddrFromSlice(ip.DstIP)
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(ip.SrcIP)
			dst, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		var (
			proto    flow.Transport
			sp, dp   uint16
			payload  []byte
			syn, ack bool
			seq      uint32
		)
		switch l4 := pkt.TransportLayer().(type) {
		case *layers.TCP:
			proto, sp, dp, payload, syn, ack, seq = flow.TCP, uint16(l4.SrcPort), uint16(l4.DstPort), l4.Payload, l4.SYN, l4.ACK, l4.Seq
		case *layers.UDP:
			proto, sp, dp, payload = flow.UDP, uint16(l4.SrcPort), uint16(l4.DstPort), l4.Payload
		default:
			continue
		}
		from, to := netip.AddrPortFrom(src.Unmap(), sp), netip.AddrPortFrom(dst.Unmap(), dp)
		k := flowKey{from, to, proto}
		if k.hi.Addr().Less(k.lo.Addr()) || k.hi.Addr() == k.lo.Addr() && k.hi.Port() < k.lo.Port() {
			k.lo, k.hi = k.hi, k.lo
		}
		cf := flows[k]
		if cf == nil {
			a, b := from, to
			if syn && ack { // a SYN-ACK first: its receiver is the client
				a, b = to, from
			}
			s := newSession(t, proto, b.Port())
			s.f.Client, s.f.Server = a, b
			s.f.ClientKnown = syn
			s.hard = syn
			cf = &corpusFlow{s: s, a: a}
			flows[k] = cf
			order = append(order, cf)
		}
		side := 0
		if from != cf.a {
			side = 1
		}
		if proto == flow.TCP {
			if syn {
				cf.next[side], cf.seqKnown[side] = seq+1, true
				continue
			}
			if cf.seqKnown[side] {
				if d := int32(seq - cf.next[side]); d < 0 {
					if -int(d) >= len(payload) {
						continue // retransmission
					}
					payload = payload[-d:]
				}
			}
			if len(payload) > 0 {
				cf.next[side], cf.seqKnown[side] = seq+uint32(len(payload)), true
			}
		}
		if len(payload) == 0 {
			continue
		}
		cf.s.frame = frame
		cf.s.f.Time = ci.Timestamp
		cf.s.send(side == 1, payload)
	}
	return order
}

// sipFlows returns the flows claimed as SIP.
func sipFlows(flows []*corpusFlow) []*flow.Flow {
	var out []*flow.Flow
	for _, cf := range flows {
		if cf.s.f.Label == flow.SIP {
			out = append(out, cf.s.f)
		}
	}
	return out
}

// secrets are the digest responses and keys carried by the captures; no fact may hold them.
var secrets = []string{
	"response=", "nonce=", "inline:",
}

type corpusCase struct {
	file  string
	flows int // least number of SIP flows; 0: none allowed
	check func(t *testing.T, fs []*flow.Flow)
}

// wantFact asserts that some SIP flow satisfies pred.
func wantFact(t *testing.T, fs []*flow.Flow, pred func(f *flow.Flow, s *flow.SIPFacts) bool, what string) {
	t.Helper()
	for _, f := range fs {
		if pred(f, f.SIP) {
			return
		}
	}
	t.Errorf("no flow with %s", what)
}

var corpusCases = []corpusCase{
	{"shared:ndpi/sip.pcap", 2, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Methods.Register >= 10 && s.Methods.Invite >= 1 && s.Auth.DigestResponse && s.Credentials[0].Username == "voi18063" &&
				s.Credentials[0].ResponseLen == 32 && s.ChallengeCount > 0 && s.UnencryptedMedia && s.UserAgent == "Nero SIPPS IP Phone Version 2.0.51.16"
		}, "the digest REGISTERs and the RTP/AVP INVITE to sip.cybercity.dk")
	}},
	{"shared:zeek/Traces/sip/wireshark.pcap", 2, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Method == "REGISTER" && s.Methods.Invite >= 1 && s.Auth.DigestResponse && f.Server.Port() == 5060
		}, "REGISTER and INVITE transactions with digest credentials")
	}},
	{"shared:ndpi/sip_hello.pcapng", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Methods.Register >= 2 && s.Auth.Challenged && s.Auth.DigestResponse && s.Status.Success >= 1 && s.Keepalives > 0 && f.ParseErrors == 0
		}, "REGISTER, 401, 200 and hello keep-alives")
	}},
	{"shared:ndpi/FAX-Call-t38-CA-TDM-SIP-FB-1.pcap", 3, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return slices.ContainsFunc(s.Media, func(m flow.SIPMedia) bool { return m.Type == "image" && m.Proto == "udptl" })
		}, "the T.38 re-INVITE (m=image udptl)")
	}},
	{"shared:zeek/Traces/sip/sip-junk-before-request.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Method == "REGISTER" && s.RequestURI == "sip:1.1.1.1:5060" && f.Server.Port() == 5060
		}, "the REGISTER after the NULs")
	}},
	{"shared:suricata-verify/sip-tcp-method/sip-tcp.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return f.Transport == flow.TCP && s.Requests == 1 && s.Responses == 1 && slices.Equal(s.ViaTransports, []string{"TCP"})
		}, "one request and its response over TCP")
	}},
	{"shared:suricata-verify/sip-body-large/sip-body-large.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Method == "INVITE" && s.LargeBodies == 1 && s.SDPBodies == 1 && s.SDESKeys && f.ParseErrors == 0
		}, "the INVITE with a 64 KiB SDP body (k= line) read piecewise")
	}},
	{"shared:suricata-verify/sip-compact-form/sip_compact_form.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Method == "INVITE" && s.From == "sip:816666@voip.brurjula.net" && s.To == "sip:97239287044@voip.brujula.net" &&
				s.CallID == "105090259-446faf7a@192.168.1.2" && s.Contact == "sip:816666@192.168.1.2" && s.SDPBodies == 1 &&
				slices.Equal(s.ViaTransports, []string{"UDP"})
		}, "the compact-form INVITE")
	}},
	{"shared:suricata-verify/sip-options-method/input.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Methods.Options == 1 && s.Status.Success == 1
		}, "OPTIONS and 200")
	}},
	{"shared:pcapplusplus/sip_non_default_port.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return f.Server.Port() == 52380 && s.Method == "INVITE" && s.UnencryptedMedia
		}, "SIP on UDP 52380")
	}},
	{"shared:pcapplusplus/sip_reqs.pcap", 2, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return f.Server.Port() == 5061 && s.Method == "INVITE" && s.TLSPort
		}, "cleartext INVITE on UDP 5061")
	}},
	{"shared:pcapplusplus/sip_resp.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Requests == 0 && s.Status.Provisional == 2 && s.Status.Success == 1 && s.Method == ""
		}, "responses only")
	}},
	{"shared:sngrep/ipip.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return f.Transport == flow.TCP && s.Methods.Invite == 1 && s.SDPBodies == 1
		}, "SIP over TCP 5090")
	}},
	{"shared:heplify/sip_ipv4_tcp.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Methods.Invite == 1 && s.Methods.Ack == 1 && s.Methods.Bye == 1 && s.Status.Provisional == 2 && s.Status.Success == 2 && f.ParseErrors == 0
		}, "the TCP call")
	}},
	{"shared:heplify/sip_ipv4_tcp_retrans.pcap", 2, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return f.Transport == flow.TCP && s.Methods.Register == 2 && s.Auth.DigestResponse && s.Credentials[0].Username == "1001"
		}, "REGISTER over TCP with retransmissions")
	}},
	{"shared:heplify/sip_ipv6_udp.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return f.Server.Addr().Is6() && s.Methods.Invite == 1 && s.Methods.Bye == 1
		}, "the IPv6 call")
	}},
	{"shared:heplify/sip_sctp.pcap", 0, nil},
	{"shared:ipfixprobe/inputs/sip.pcap", 9, func(t *testing.T, fs []*flow.Flow) {
		for _, f := range fs {
			if !f.SIP.Scanner || f.SIP.ScannerName != "friendly-scanner" {
				t.Errorf("%v: scanner %v %q", f.Server, f.SIP.Scanner, f.SIP.ScannerName)
			}
		}
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool { return s.Methods.Register == 15 && s.Codes[0].Code == 401 }, "the REGISTER brute force")
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool { return f.Server.Port() == 5061 && s.TLSPort }, "cleartext SIP on 5061")
	}},
	{"shared:ndpi/http_on_sip_port.pcap", 0, nil},
	{"shared:ndpi/synscan.pcap", 0, nil},
	{"real:sip-register-digest-udp.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			c := s.Credentials[0]
			return s.Methods.Register == 2 && s.Codes[0].Code == 401 && s.Codes[1].Code == 200 && s.UserAgent == "sipsak 0.9.8.1" &&
				s.Server == "pcapaudit-rec kamailio" && s.Challenges[0].Realm == "127.0.0.1" && c.Username == "alice" &&
				c.Realm == "127.0.0.1" && c.Algorithm == "MD5" && c.ResponseLen == 32 && !s.Scanner
		}, "the digest REGISTER")
	}},
	{"real:sip-options-tcp.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Methods.Options == 1 && s.Status.Success == 1 && slices.Equal(s.ViaTransports, []string{"TCP"})
		}, "OPTIONS over TCP")
	}},
	{"real:sip-options-udp-5080.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Methods.Options == 1 && f.Server.Port() == 5080
		}, "OPTIONS on 5080")
	}},
	{"real:sip-invite-srtp-sdes-udp.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.SDESKeys && s.SRTP && !s.UnencryptedMedia && s.Media[0].Proto == "RTP/SAVP" && s.Media[0].Crypto == 1 &&
				slices.Equal(s.CryptoSuites, []string{"AES_CM_128_HMAC_SHA1_80"}) && s.Methods.Ack == 1
		}, "the SDES INVITE")
	}},
	{"real:sip-tls-5061.pcap", 0, nil},
	{"real:ldap-simple-bind.pcap", 0, nil},
	{"real:ntp-client.pcap", 0, nil},
}

func TestCorpus(t *testing.T) {
	root := repoRoot(t)
	shared := filepath.Join(root, "..", "shared", "corpus")
	real := filepath.Join(root, "testdata", "real")
	for _, c := range corpusCases {
		dir, name := shared, c.file[len("shared:"):]
		if c.file[:5] == "real:" {
			dir, name = real, c.file[len("real:"):]
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("capture absent: %v", err)
			}
			fs := sipFlows(runCapture(t, path))
			for _, f := range fs {
				if f.ParseErrors != 0 && name != "pcapplusplus/sip_reqs.pcap" { // its BYE is cut inside a header name
					t.Errorf("%v→%v: %d parse errors: %s", f.Client, f.Server, f.ParseErrors, f.ParseError)
				}
				out, err := json.Marshal(f.SIP)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range secrets {
					if contains(string(out), s) {
						t.Errorf("facts hold %q", s)
					}
				}
				if testing.Verbose() {
					t.Logf("%v %v→%v errors %d %s\n%s", f.Transport, f.Client, f.Server, f.ParseErrors, f.ParseError, out)
				}
			}
			if c.flows == 0 && len(fs) != 0 {
				t.Fatalf("%d SIP flows, want none", len(fs))
			}
			if len(fs) < c.flows {
				t.Fatalf("%d SIP flows, want at least %d", len(fs), c.flows)
			}
			if c.check != nil {
				c.check(t, fs)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
