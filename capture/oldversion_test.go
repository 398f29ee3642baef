package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TestOldPcapVersions: pcap files of version 2.0 to 2.3 are read as libpcap reads them; in 2.3
// the record lengths are swapped, before it they are swapped when the captured length exceeds
// the original one.
func TestOldPcapVersions(t *testing.T) {
	t0 := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
	fr := []frame{
		{data: []byte("first frame, whole"), ts: t0, lt: layers.LinkTypeEthernet},
		{data: []byte("second, cut"), ts: t0.Add(time.Second), wire: 60, lt: layers.LinkTypeEthernet},
	}
	for _, big := range []bool{false, true} {
		for _, minor := range []uint16{0, 1, 2, 3} {
			var o binary.ByteOrder = binary.LittleEndian
			if big {
				o = binary.BigEndian
			}
			b := handPcap(big, false, 65535, layers.LinkTypeEthernet, fr)
			o.PutUint16(b[6:], minor)
			// Swap the lengths as the old writers did: always in 2.3; in the second record
			// (captured < original) before, so that the reader must tell by the values.
			off := 24
			for i, f := range fr {
				if minor == 3 || i == 1 {
					o.PutUint32(b[off+8:], uint32(f.wireLen()))
					o.PutUint32(b[off+12:], uint32(len(f.data)))
				}
				off += 16 + len(f.data)
			}
			s, err := OpenReader("f", bytes.NewReader(b))
			if err != nil {
				t.Fatalf("2.%d big=%v: %v", minor, big, err)
			}
			got, err := readAll(t, s)
			if err != io.EOF {
				t.Fatalf("2.%d big=%v: %v", minor, big, err)
			}
			check(t, got, fr, "f")
		}
	}
	// Version 2.4 is read as it is, and other major versions are still refused.
	b := handPcap(false, false, 65535, layers.LinkTypeEthernet, fr)
	binary.LittleEndian.PutUint16(b[4:], 3)
	if _, err := OpenReader("v3.pcap", bytes.NewReader(b)); err == nil {
		t.Error("pcap 3.4 read")
	}
}
