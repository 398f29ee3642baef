package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// FuzzOpen feeds arbitrary bytes to OpenReader and reads every packet: no panic, no hang, and
// every failure is one of the documented errors.
func FuzzOpen(f *testing.F) {
	fr := sample(3, layers.LinkTypeEthernet)
	f.Add(handPcap(false, false, 65535, layers.LinkTypeEthernet, fr))
	f.Add(handPcap(true, true, 0, layers.LinkTypeRaw, fr))
	f.Add(ngSection(f, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, twoIfaces()))
	f.Add(gz(f, handPcap(false, false, 65535, layers.LinkTypeEthernet, fr)))
	f.Add([]byte("not a capture"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := OpenReader("fuzz", bytes.NewReader(in))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("open error %T %v is not a *FormatError", err, err)
			}
			return
		}
		defer s.Close()
		var p Packet
		for n := uint64(1); n <= 100000; n++ {
			err := s.Next(&p)
			if err == io.EOF {
				return
			}
			if err != nil {
				var te *TruncatedError
				if !errors.As(err, &te) {
					t.Fatalf("error %T %v is not a *TruncatedError", err, err)
				}
				if te.Frame != n || te.Offset < 0 {
					t.Fatalf("error %+v at frame %d", te, n)
				}
				return
			}
			if p.Frame != n || len(p.Data) > MaxRecord {
				t.Fatalf("packet %d: frame %d, %d bytes", n, p.Frame, len(p.Data))
			}
		}
	})
}
