package tls

import (
	"testing"

	ctls "crypto/tls"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// BenchmarkHellos parses a real TLS 1.3 ClientHello and ServerHello (with the encrypted
// flight that follows it) through the detector, claim included.
func BenchmarkHellos(b *testing.B) {
	chunks := handshake(b, makeCert(b, 2048, notBefore, notAfter), &ctls.Config{}, &ctls.Config{})
	ch, sh := chunks[0].data, chunks[1].data
	d := New(DefaultPorts())
	b.SetBytes(int64(len(ch) + len(sh)))
	b.ReportAllocs()
	for b.Loop() {
		f := newFlow(636)
		if v, _ := d.Inspect(f, flow.FromClient, ch); v != flow.More {
			b.Fatal(v)
		}
		d.Inspect(f, flow.FromServer, sh)
		if f.TLS.Version != "1.3" {
			b.Fatal(f.TLS.Version)
		}
	}
}

// BenchmarkCertificate parses a TLS 1.2 server flight with a 2048-bit RSA certificate.
func BenchmarkCertificate(b *testing.B) {
	chunks := handshake(b, makeCert(b, 2048, notBefore, notAfter), &ctls.Config{MaxVersion: ctls.VersionTLS12}, &ctls.Config{})
	ch, sh := chunks[0].data, chunks[1].data
	d := New(DefaultPorts())
	b.SetBytes(int64(len(ch) + len(sh)))
	b.ReportAllocs()
	for b.Loop() {
		f := newFlow(636)
		d.Inspect(f, flow.FromClient, ch)
		d.Inspect(f, flow.FromServer, sh)
		if f.TLS.Server.Subject == "" {
			b.Fatal("no certificate")
		}
	}
}

// BenchmarkReject is the cost of a flow that is not TLS, or TLS on a port not in the table.
func BenchmarkReject(b *testing.B) {
	d := New(DefaultPorts())
	f := newFlow(443)
	b.SetBytes(int64(len(clientHello12)))
	b.ReportAllocs()
	for b.Loop() {
		d.Inspect(f, flow.FromClient, clientHello12)
	}
}
