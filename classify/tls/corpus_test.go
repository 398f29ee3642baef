package tls

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// corpusDir returns the shared capture corpus next to the repository, or skips the test.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
	c := filepath.Join(dir, "..", "shared", "corpus")
	if _, err := os.Stat(c); err != nil {
		t.Skip("corpus not available")
	}
	return c
}

// tcpFlow is one TCP connection of a capture, fed to a Session in sequence order.
type tcpFlow struct {
	client, server netip.AddrPort
	next           [2]uint32
	seqKnown       [2]bool
	started        [2]bool
	fd             *feeder
}

// runTLS feeds the TCP payloads of a capture to one Session per connection. The side that
// sent the SYN (else the first packet) is the client. With startAtTLS, each direction is
// fed from its first payload that starts with a TLS handshake record (after StartTLS).
func runTLS(t *testing.T, path string, startAtTLS bool) []*tcpFlow {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var src source
	var lt layers.LinkType
	if r, err := pcapgo.NewReader(fh); err == nil {
		src, lt = r, r.LinkType()
	} else {
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewNgReader(fh, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		src, lt = r, r.LinkType()
	}
	type key struct{ a, b netip.AddrPort }
	flows := map[key]*tcpFlow{}
	var order []*tcpFlow
	frame := uint64(0)
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frame++
		p := gopacket.NewPacket(data, lt, gopacket.Default)
		tcpL, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcpL == nil || p.NetworkLayer() == nil {
			continue
		}
		srcIP, _ := netip.AddrFromSlice(p.NetworkLayer().NetworkFlow().Src().Raw())
		dstIP, _ := netip.AddrFromSlice(p.NetworkLayer().NetworkFlow().Dst().Raw())
		from := netip.AddrPortFrom(srcIP.Unmap(), uint16(tcpL.SrcPort))
		to := netip.AddrPortFrom(dstIP.Unmap(), uint16(tcpL.DstPort))
		k := key{from, to}
		if from.String() > to.String() {
			k = key{to, from}
		}
		fl := flows[k]
		if fl == nil {
			fl = &tcpFlow{client: from, server: to}
			f := &flow.Flow{}
			f.Transport, f.Client, f.Server = flow.TCP, from, to
			fl.fd = &feeder{f: f, inspect: (&Session{}).Inspect, session: true}
			flows[k] = fl
			order = append(order, fl)
		}
		dir := flow.FromClient
		if from != fl.client {
			dir = flow.FromServer
		}
		seq := tcpL.Seq
		if tcpL.SYN {
			fl.next[dir], fl.seqKnown[dir] = seq+1, true
			continue
		}
		payload := tcpL.Payload
		if len(payload) == 0 {
			continue
		}
		if fl.seqKnown[dir] {
			if seq != fl.next[dir] {
				continue // retransmission or out of order: these captures need no more
			}
		}
		fl.next[dir], fl.seqKnown[dir] = seq+uint32(len(payload)), true
		if startAtTLS && !fl.started[dir] {
			if len(payload) < 3 || payload[0] != 0x16 || payload[1] != 3 {
				continue
			}
			fl.started[dir] = true
		}
		fl.fd.f.Frame, fl.fd.f.Time = frame-1, ci.Timestamp // feed increments Frame
		fl.fd.feed(t, dir, payload)
	}
	return order
}

func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
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
				if tf.NameMatchesSNI == nil || !*tf.NameMatchesSNI || tf.NextProtocol != "h2" || !tf.Server.NotBefore.Equal(nb) ||
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
			path := filepath.Join(dir, c.file)
			if _, err := os.Stat(path); err != nil {
				t.Skip("capture not available")
			}
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
