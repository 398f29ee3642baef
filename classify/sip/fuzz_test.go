package sip

import (
	"encoding/json"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// FuzzInspect feeds arbitrary bytes, split at a fuzzed offset, to the detector over UDP and
// TCP. It must not panic, must keep its (More, n) answers in range, must not buffer beyond its
// bounds, and its facts must marshal.
func FuzzInspect(f *testing.F) {
	for _, seed := range [][]byte{register1, challenge401, registerDigest, inviteAVP, inviteSAVP, inviteCompact,
		optionsScanner, basicAuth, httpGet, rtspOptions, dnsQuery, append(append([]byte{}, options1...), options2...)} {
		f.Add(seed, uint16(len(seed)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		cut := int(split)
		if cut > len(data) {
			cut = len(data)
		}
		for _, tr := range []flow.Transport{flow.UDP, flow.TCP} {
			s := newSession(t, tr, 5060)
			s.Client(data[:cut], data[cut:], data)
			s.Server(data)
			if len(s.Pend[0]) > maxHeaderBlock+len(data) {
				t.Fatalf("%d bytes pending", len(s.Pend[0]))
			}
			if s.F.SIP != nil {
				if _, err := json.Marshal(s.F.SIP); err != nil {
					t.Fatal(err)
				}
				if s.F.SIP.Messages > 0 && s.F.SIP.Requests+s.F.SIP.Responses != s.F.SIP.Messages {
					t.Fatalf("counts disagree: %+v", s.F.SIP)
				}
			}
		}
	})
}

func BenchmarkInspect(b *testing.B) {
	msgs := [][]byte{register1, challenge401, registerDigest, ok200Register, inviteSAVP, inviteAVP, optionsScanner}
	total := 0
	for _, m := range msgs {
		total += len(m)
	}
	b.Run("claimed-udp", func(b *testing.B) {
		d := New()
		f := flow.New()
		f.Transport = flow.UDP
		for _, m := range msgs {
			d.Inspect(f, flow.FromClient, m)
		}
		b.ReportAllocs()
		b.SetBytes(int64(total))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for _, m := range msgs {
				d.Inspect(f, flow.FromClient, m)
			}
		}
	})
	b.Run("claimed-tcp-stream", func(b *testing.B) {
		var stream []byte
		for _, m := range msgs {
			stream = append(stream, m...)
		}
		d := New()
		f := flow.New()
		f.Transport = flow.TCP
		d.Inspect(f, flow.FromClient, stream)
		b.ReportAllocs()
		b.SetBytes(int64(len(stream)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if v, n := d.Inspect(f, flow.FromClient, stream); v != flow.More || n != len(stream) {
				b.Fatal(v, n)
			}
		}
	})
	b.Run("reject-http", func(b *testing.B) {
		d := New()
		b.ReportAllocs()
		b.SetBytes(int64(len(httpGet)))
		f := flow.New()
		f.Transport = flow.TCP
		for i := 0; i < b.N; i++ {
			if v, _ := d.Inspect(f, flow.FromClient, httpGet); v != flow.Reject {
				b.Fatal(v)
			}
		}
	})
	b.Run("claim", func(b *testing.B) {
		d := New()
		b.ReportAllocs()
		b.SetBytes(int64(len(registerDigest)))
		f := flow.New()
		for i := 0; i < b.N; i++ {
			f.Reset()
			f.Transport = flow.UDP
			d.Inspect(f, flow.FromClient, registerDigest)
		}
	})
}

// optionsReal and okReal are the OPTIONS ping and its answer of testdata/real/
// sip-options-udp-5080.pcap (sipsak against Kamailio): the shape of most SIP flows on a
// network, one request and its final response.
var (
	optionsReal = crlf(`OPTIONS sip:ping@127.0.0.1:5080 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:46272;branch=z9hG4bK.082f8710;rport;alias
From: sip:sipsak@127.0.0.1:46272;tag=5fab5abe
To: sip:ping@127.0.0.1:5080
Call-ID: 1605065406@127.0.0.1
CSeq: 1 OPTIONS
Contact: sip:sipsak@127.0.0.1:46272
Content-Length: 0
Max-Forwards: 70
User-Agent: sipsak 0.9.8.1
Accept: text/plain

`)
	okReal = crlf(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:46272;branch=z9hG4bK.082f8710;rport=33813;alias;received=127.0.0.1
From: sip:sipsak@127.0.0.1:46272;tag=5fab5abe
To: sip:ping@127.0.0.1:5080;tag=9dd61ff61e802d8e2bef5f14621ef3c2.8d944982
Call-ID: 1605065406@127.0.0.1
CSeq: 1 OPTIONS
Server: pcapaudit-rec kamailio
Content-Length: 0

`)
)

// BenchmarkFlow runs whole flows as the engine does: a new flow claimed by its OPTIONS, the
// 200 OK, and the per-flow state handed back to the pool. ns/op and allocs/op are per flow.
func BenchmarkFlow(b *testing.B) {
	for _, tr := range []flow.Transport{flow.UDP, flow.TCP} {
		b.Run(tr.String(), func(b *testing.B) {
			d := New()
			b.ReportAllocs()
			b.SetBytes(int64(len(optionsReal) + len(okReal)))
			f := flow.New()
			for i := 0; i < b.N; i++ {
				f.Reset()
				f.Transport = tr
				f.ClientKnown = true
				if v, n := d.Inspect(f, flow.FromClient, optionsReal); v != flow.More || n != len(optionsReal) {
					b.Fatal(v, n)
				}
				d.Inspect(f, flow.FromServer, okReal)
				if f.SIP.Messages != 2 {
					b.Fatal(f.SIP.Messages)
				}
				d.PutState(f.State)
			}
		})
	}
}
