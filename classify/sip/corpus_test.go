package sip

import (
	"slices"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
)

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
	// Zeek's parser test: after the NULs comes "REGISTER sip:1.1.1.1:5060 SIP/2.0" with only an
	// Expires header. The start line claims it; without Via, From, To, Call-ID and CSeq (RFC
	// 3261 §8.1.1) the label is not certain.
	{"shared:zeek/Traces/sip/sip-junk-before-request.pcap", 1, func(t *testing.T, fs []*flow.Flow) {
		wantFact(t, fs, func(f *flow.Flow, s *flow.SIPFacts) bool {
			return s.Method == "REGISTER" && s.RequestURI == "sip:1.1.1.1:5060" && f.Server.Port() == 5060 && !f.Certain
		}, "the REGISTER after the NULs, labelled but not certain")
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
	for _, c := range corpusCases {
		name := corpustest.Name(c.file)
		t.Run(name, func(t *testing.T) {
			fs := detectortest.Claimed(t, corpustest.Path(t, c.file), New(), flow.SIP)
			for _, f := range fs {
				if f.ParseErrors != 0 && name != "pcapplusplus/sip_reqs.pcap" { // its BYE is cut inside a header name
					t.Errorf("%v→%v: %d parse errors: %s", f.Client, f.Server, f.ParseErrors, f.ParseError)
				}
				out := detectortest.NoSecrets(t, f.SIP, secrets...)
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
