package tls

import (
	"bytes"
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// serverCertificateMessages returns the body of the Certificate handshake message the server
// sent in each LDAPS capture of the repository (testdata/real/ldaps-*.pcap) negotiated below
// TLS 1.3. The server's TCP payloads (port 636) are joined in sequence order, retransmissions
// dropped, and the handshake records read until the first record of another type.
func serverCertificateMessages(tb testing.TB) [][]byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(corpustest.Root(tb), "testdata", "real", "ldaps-*.pcap"))
	var out [][]byte
	for _, name := range files {
		if msg := certificateMessage(tb, name); msg != nil {
			out = append(out, msg)
		}
	}
	return out
}

func certificateMessage(tb testing.TB, name string) []byte {
	// The first connection's server stream (a capture may hold several), in order.
	var stream []byte
	_, err := corpustest.Flows(tb, name, func(_, server netip.AddrPort, tr flow.Transport, _ bool) (struct{}, corpustest.Sink) {
		if tr != flow.TCP || server.Port() != 636 || stream != nil {
			return struct{}{}, nil
		}
		stream = []byte{}
		return struct{}{}, func(fromClient bool, _ uint64, _ time.Time, payload []byte) {
			if !fromClient {
				stream = append(stream, payload...)
			}
		}
	})
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	// Handshake records, then handshake messages.
	var hs []byte
	for len(stream) >= 5 && stream[0] == 22 {
		n := int(stream[3])<<8 | int(stream[4])
		if len(stream) < 5+n {
			break
		}
		hs = append(hs, stream[5:5+n]...)
		stream = stream[5+n:]
	}
	for len(hs) >= 4 {
		n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if len(hs) < 4+n {
			break
		}
		if hs[0] == 11 {
			return append([]byte(nil), hs[4:4+n]...)
		}
		hs = hs[4+n:]
	}
	return nil
}

// FuzzCertificate feeds arbitrary Certificate message bodies to the certificate parser, with
// and without an SNI to match the certificate against. It must not panic, must fail only with
// ErrCertificate, must give the same facts when run twice, and must keep every fact within
// its bounds.
func FuzzCertificate(f *testing.F) {
	rsaDER := makeCert(f, 2048, notBefore, notAfter).der
	ecDER := makeCert(f, 0, notBefore, notAfter).der
	seeds := [][]byte{
		vec24(vec24(rsaDER)),
		vec24(cat(vec24(ecDER), vec24(rsaDER))),
		vec24(nil),
		vec24(vec24(rsaDER[:len(rsaDER)/2])),
		vec24(vec24(bytesOf(0x30, 40))),
	}
	seeds = append(seeds, serverCertificateMessages(f)...)
	for _, s := range seeds {
		f.Add(s, "ldap.example.com")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, body []byte, sni string) {
		a, b := *flow.NewTLSFacts(), *flow.NewTLSFacts()
		a.Client, b.Client = &flow.TLSClientFacts{ServerName: sni}, &flow.TLSClientFacts{ServerName: sni}
		errA := parseCertificates(&a, body)
		errB := parseCertificates(&b, body)
		if errA != nil && !errors.Is(errA, ErrCertificate) {
			t.Fatalf("error %v is not ErrCertificate", errA)
		}
		if errA != errB || !reflect.DeepEqual(a, b) {
			t.Fatalf("two runs differ:\n%+v %v\n%+v %v", a, errA, b, errB)
		}
		s := a.Server
		if s.ChainLength < 0 || 3*s.ChainLength > len(body) {
			t.Fatalf("chain of %d certificates in %d bytes", s.ChainLength, len(body))
		}
		if len(s.Subject) > maxNameLen || len(s.Issuer) > maxNameLen || len(s.CertificateError) > maxCertErrLen ||
			len(s.X509.AlternativeNames) > maxAltNames {
			t.Fatalf("facts out of bounds: %+v", s)
		}
		for _, n := range s.X509.AlternativeNames {
			if len(n) > maxNameLen {
				t.Fatalf("alternative name of %d bytes", len(n))
			}
		}
		if s.SelfSigned && !s.SelfIssued {
			t.Fatal("self-signed but not self-issued")
		}
		parsed := errA == nil && s.ChainLength > 0
		if (s.ChainLength > 0) != (len(s.Hash.SHA256) == 64) {
			t.Fatalf("chain of %d, hash %q", s.ChainLength, s.Hash.SHA256)
		}
		if (errA != nil && s.ChainLength > 0) != (s.CertificateError != "") {
			t.Fatalf("error %v with certificate error %q", errA, s.CertificateError)
		}
		if (a.NameMatchesSNI != nil) != (parsed && sni != "") {
			t.Fatalf("name match checked %v, parsed %v, sni %q", a.NameMatchesSNI != nil, parsed, sni)
		}
		if !parsed && (s.Subject != "" || s.X509.SerialNumber != "" || s.SelfIssued) {
			t.Fatalf("facts of a certificate that did not parse: %+v", s)
		}
	})
}

// The Certificate messages of the repository's TLS ≤ 1.2 captures parse into the facts of
// their leaf (so the fuzz seeds above are the real thing).
func TestCaptureCertificateMessages(t *testing.T) {
	msgs := serverCertificateMessages(t)
	if len(msgs) < 3 { // ldaps-tls10, ldaps-tls12 and ldaps-tls12-rsa-kx at least
		t.Fatalf("%d Certificate messages found in testdata/real/ldaps-*.pcap, want at least 3", len(msgs))
	}
	for i, m := range msgs {
		var tf flow.TLSFacts
		if err := parseCertificates(&tf, m); err != nil || tf.Server.ChainLength == 0 || tf.Server.Subject == "" {
			t.Errorf("message %d (%d bytes): %v %+v", i, len(m), err, tf.Server)
		}
		if !bytes.Contains(m, []byte{0x30, 0x82}) {
			t.Errorf("message %d holds no DER sequence", i)
		}
	}
}
