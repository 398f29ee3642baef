package triage

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture/decode"
)

func packet(src, dst string, sp, dp uint16) *decode.Packet {
	p := &decode.Packet{Proto: decode.ProtoTCP, SrcPort: sp, DstPort: dp}
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	p.IPv4 = s.Is4()
	p.Src, p.Dst = s.As16(), d.As16()
	return p
}

// TestAdmit: the cheap part keeps a packet when either end is in a host prefix and on a
// port, inside the window (relative times fixed by the first packet), and allocates nothing.
func TestAdmit(t *testing.T) {
	f, err := Parse(Spec{Hosts: []string{"10.0.0.0/24", "2001:db8::1"}, Ports: []string{"389,636"}, Since: "1s", Until: "3s"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Start(t0)
	at := t0.Add(2 * time.Second)
	cases := []struct {
		p    *decode.Packet
		ts   time.Time
		want bool
	}{
		{packet("192.0.2.1", "10.0.0.7", 50000, 389), at, true},
		{packet("10.0.0.7", "192.0.2.1", 636, 50000), at, true},
		{packet("10.0.1.7", "192.0.2.1", 636, 50000), at, false}, // outside the /24
		{packet("10.0.0.7", "192.0.2.1", 123, 50000), at, false}, // wrong port
		{packet("2001:db8::1", "2001:db8::2", 50000, 389), at, true},
		{packet("10.0.0.7", "192.0.2.1", 389, 50000), t0, false},                      // before --since
		{packet("10.0.0.7", "192.0.2.1", 389, 50000), t0.Add(3 * time.Second), false}, // --until is exclusive
	}
	for i, c := range cases {
		if got := f.Admit(c.p, c.ts); got != c.want {
			t.Errorf("case %d: Admit = %v, want %v", i, got, c.want)
		}
	}
	p := cases[0].p
	if n := testing.AllocsPerRun(1000, func() { f.Admit(p, at) }); n != 0 {
		t.Errorf("Admit allocates %.0f times per packet", n)
	}
}

func BenchmarkAdmit(b *testing.B) {
	f, _ := Parse(Spec{Hosts: []string{"10.0.0.0/24", "10.9.0.0/16"}, Ports: []string{"389"}})
	p := packet("192.0.2.1", "10.0.0.7", 50000, 389)
	ts := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		f.Admit(p, ts)
	}
}
