package tls

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// tcpFlow is one TCP connection of a capture, fed to a Session.
type tcpFlow struct {
	started [2]bool
	fd      *feeder
}

// runTLS feeds the TCP payloads of a capture to one Session per connection. With startAtTLS,
// each direction is fed from its first payload that starts with a TLS handshake record
// (after StartTLS).
func runTLS(t *testing.T, path string, startAtTLS bool) []*tcpFlow {
	t.Helper()
	flows, err := corpustest.Flows(t, path, func(client, server netip.AddrPort, tr flow.Transport, _ bool) (*tcpFlow, corpustest.Sink) {
		if tr != flow.TCP {
			return nil, nil
		}
		f := flow.New()
		f.Transport, f.Client, f.Server = flow.TCP, client, server
		fl := &tcpFlow{fd: &feeder{f: f, inspect: (&Session{}).Inspect, session: true}}
		return fl, func(fromClient bool, frame uint64, ts time.Time, payload []byte) {
			dir := flow.FromServer
			if fromClient {
				dir = flow.FromClient
			}
			if startAtTLS && !fl.started[dir] {
				if len(payload) < 3 || payload[0] != 0x16 || payload[1] != 3 {
					return
				}
				fl.started[dir] = true
			}
			fl.fd.f.Frame, fl.fd.f.Time = frame-1, flow.TimeOf(ts) // feed increments Frame
			fl.fd.feed(t, dir, payload)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return flows
}

func TestCorpus(t *testing.T) {
	corpustest.Dir(t)
	cases := []struct {
		file       string
		startAtTLS bool
		version    string
		cipher     string
		kex        string
		sni        string
		ja4        string
		subject    string
		chain      int
		check      func(t *testing.T, tf *flow.TLSFacts)
	}{
		{"arkime/openssl-ssl3.pcap", false, "3.0", "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ecdhe", "",
			"ts3i460000_234845559c90_000000000000", "CN=*.google.com,O=Google Inc,L=Mountain View,ST=California,C=US", 3, nil},
		{"arkime/openssl-tls1_1.pcap", false, "1.1", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ecdhe", "",
			"t11i460400_234845559c90_282f11336259", "CN=*.google.com,O=Google Inc,L=Mountain View,ST=California,C=US", 3, nil},
		{"arkime/openssl-tls1_2-tls1.pcap", false, "1.0", "TLS_RSA_WITH_RC4_128_MD5", "rsa", "",
			"t12i740500_c43983326036_3eafcbe19126", "", 2, nil},
		{"ndpi/443-curl.pcap", false, "1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ecdhe", "www.ntop.org",
			"t12d6707h2_2955a3196ffa_c83f907a73d3", "CN=www.ntop.org", 0, func(t *testing.T, tf *flow.TLSFacts) {
				// nDPI: Validity 2019-12-17 01:17:28 - 2020-03-16 01:17:28, negotiated ALPN h2.
				nb := time.Date(2019, 12, 17, 1, 17, 28, 0, time.UTC)
				if tf.NameMatchesSNI == nil || !*tf.NameMatchesSNI || tf.NextProtocol != "h2" || !tf.Server.NotBefore.Time().Equal(nb) ||
					tf.Server.Issuer != "CN=Let's Encrypt Authority X3,O=Let's Encrypt,C=US" || tf.Server.SelfSigned {
					t.Errorf("%+v", tf.Server)
				}
			}},
		{"zeek/Traces/ldap/ldap-starttls.pcap", true, "1.3", "TLS_AES_256_GCM_SHA384", "tls13", "ubuntu-01.example.com", "", "", 0, nil},
		{"nts-ke-dissector/ntske-sample-dsb.pcapng", false, "1.2", "TLS_RSA_WITH_AES_128_CBC_SHA256", "rsa", "", "", "", 1,
			func(t *testing.T, tf *flow.TLSFacts) {
				if !tf.Server.SelfSigned || tf.NextProtocol != "ntske/1" {
					t.Errorf("%+v", tf.Server)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := corpustest.Path(t, "shared:"+c.file)
			var tf *flow.TLSFacts
			var fl *tcpFlow
			for _, x := range runTLS(t, path, c.startAtTLS) {
				if x.fd.f.TLS != nil && x.fd.f.TLS.Version != "" {
					fl, tf = x, x.fd.f.TLS
					break
				}
			}
			if tf == nil {
				t.Fatal("no TLS flow found")
			}
			f := fl.fd.f
			t.Logf("%s: %+v", c.file, *tf)
			if f.ParseErrors != 0 {
				t.Errorf("parse errors %d: %s", f.ParseErrors, f.ParseError)
			}
			if tf.Version != c.version || c.cipher != "" && tf.Cipher != c.cipher || c.kex != "" && tf.Kex != c.kex {
				t.Errorf("version %q cipher %q kex %q", tf.Version, tf.Cipher, tf.Kex)
			}
			if tf.Client.ServerName != c.sni {
				t.Errorf("sni %q", tf.Client.ServerName)
			}
			if c.ja4 != "" && tf.Client.JA4 != c.ja4 {
				t.Errorf("ja4 %q, want %q", tf.Client.JA4, c.ja4)
			}
			if c.subject != "" && tf.Server.Subject != c.subject {
				t.Errorf("subject %q", tf.Server.Subject)
			}
			if c.chain != 0 && tf.Server.ChainLength != c.chain {
				t.Errorf("chain %d", tf.Server.ChainLength)
			}
			if !tf.Established {
				t.Error("not established")
			}
			if c.check != nil {
				c.check(t, tf)
			}
		})
	}
}
