package tls

import (
	"reflect"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// FuzzInspect feeds arbitrary bytes to the Detector (as the first payload of a flow on an
// LDAPS port, then the rest from the other side) and to a Session (both directions). Neither
// may panic, consume more than given, or touch a flow it did not claim.
func FuzzInspect(f *testing.F) {
	seeds := [][]byte{
		clientHello12, ssl3ServerHello, tls10ServerHello, fatalAlert, sslv2Hello,
		cat(clientHello12, fatalAlert),
		record(22, 0x0303, hsMsg(2, serverHelloBody(0x0303, nil, 0x1301, ext(extSupportedVersions, u16(0x0304))))),
		record(22, 0x0303, hsMsg(11, vec24(vec24(bytesOf(0x30, 40))))),
		{0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0x03, 0x03},
	}
	for _, s := range seeds {
		f.Add(s, uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		k := min(int(cut), len(data))
		// Detector.
		d := New(DefaultPorts())
		fl := newFlow(636)
		v, n := d.Inspect(fl, flow.FromClient, data[:k])
		if fl.Label == flow.Unknown && (fl.TLS != nil || fl.State != nil || fl.ParseErrors != 0) {
			t.Fatal("an unclaimed flow was modified")
		}
		if n < 0 || n > k {
			t.Fatalf("consumed %d of %d", n, k)
		}
		if v == flow.More && fl.Label != flow.Unknown {
			rest := data[k:]
			if _, n := d.Inspect(fl, flow.FromServer, rest); n < 0 || n > len(rest) {
				t.Fatalf("consumed %d of %d", n, len(rest))
			}
		}
		// Session, the same bytes as one direction then the other, and in two pieces.
		s := &Session{}
		g := newFlow(636)
		v, n = s.Inspect(g, flow.FromClient, data[:k])
		if n < 0 || n > k {
			t.Fatalf("session consumed %d of %d", n, k)
		}
		if v == flow.More {
			rest := append(append([]byte(nil), data[n:k]...), data[k:]...)
			if _, m := s.Inspect(g, flow.FromClient, rest); m < 0 || m > len(rest) {
				t.Fatalf("session consumed %d of %d", m, len(rest))
			}
			s.Inspect(g, flow.FromServer, data)
		}
		if g.TLS == nil || reflect.ValueOf(g.TLS).IsNil() {
			t.Fatal("session did not allocate its facts")
		}
	})
}
