package main

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/internal/encap"
)

func gen(t *testing.T, name string, o options) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".pcap")
	if err := run(name, p, o); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// read decodes every packet of a capture and returns how many there were, how many were TCP
// or UDP, and the distinct addresses seen.
func read(t *testing.T, name string, data []byte) (n, ok int, addrs map[netip.Addr]bool) {
	t.Helper()
	src, err := capture.OpenReader(name, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	dec := decode.New(decode.Config{})
	addrs = map[netip.Addr]bool{}
	var p capture.Packet
	var dp decode.Packet
	for {
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			return n, ok, addrs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n++
		if dec.Decode(p.Data, p.LinkType, p.Timestamp, &dp) == decode.OK {
			ok++
			src4, dst4 := netip.AddrFrom16(dp.Src).Unmap(), netip.AddrFrom16(dp.Dst).Unmap()
			addrs[src4], addrs[dst4] = true, true
		}
	}
}

// Every scenario writes a capture whose packets all decode and carry only loopback
// addresses, so that it may be replayed.
func TestScenariosDecodeAndStayOnLoopback(t *testing.T) {
	o := options{packets: 5000, flows: 500, seed: 1}
	for name := range scenarios {
		data := gen(t, name, o)
		n, ok, addrs := read(t, name, data)
		if n == 0 || ok != n {
			t.Errorf("%s: %d packets, %d decoded", name, n, ok)
		}
		for a := range addrs {
			if !a.IsLoopback() {
				t.Errorf("%s: address %v is not loopback", name, a)
			}
		}
	}
}

// The mix and the flood are deterministic from the seed and honour the sizes asked for.
func TestMixIsDeterministic(t *testing.T) {
	a := gen(t, "mix", options{packets: 20000, flows: 2000, seed: 7})
	b := gen(t, "mix", options{packets: 20000, flows: 2000, seed: 7})
	c := gen(t, "mix", options{packets: 20000, flows: 2000, seed: 8})
	if !bytes.Equal(a, b) {
		t.Error("the same seed wrote different captures")
	}
	if bytes.Equal(a, c) {
		t.Error("another seed wrote the same capture")
	}
	if n, _, _ := read(t, "mix", a); n < 20000 || n > 20100 {
		t.Errorf("mix of 20000 packets wrote %d", n)
	}
	if n, _, _ := read(t, "synflood", gen(t, "synflood", options{packets: 3000, seed: 1})); n != 3000 {
		t.Errorf("synflood of 3000 packets wrote %d", n)
	}
}

func TestRunErrors(t *testing.T) {
	if err := run("no-such", filepath.Join(t.TempDir(), "x"), options{}); err == nil {
		t.Error("an unknown scenario was accepted")
	}
	if err := run("mix", "", options{}); err == nil {
		t.Error("no output file was accepted")
	}
}

// Every encapsulation wraps every packet of the mix: all decode, through at least one tunnel
// layer (VLAN tags only for qinq), with loopback addresses inside and outside.
func TestWrapEveryKind(t *testing.T) {
	for _, k := range encap.Kinds {
		data := gen(t, "mix", options{packets: 3000, flows: 300, seed: 1, wrap: k.Name})
		src, err := capture.OpenReader(k.Name, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		dec := decode.New(decode.Config{})
		var p capture.Packet
		var dp decode.Packet
		n := 0
		for src.Next(&p) == nil {
			n++
			if st := dec.Decode(p.Data, p.LinkType, p.Timestamp, &dp); st != decode.OK {
				t.Fatalf("%s: frame %d: %v", k.Name, p.Frame, st)
			}
			if dp.NTunnels == 0 && (k.Name != "qinq" || dp.NVLAN != 2) {
				t.Fatalf("%s: frame %d came out of no tunnel", k.Name, p.Frame)
			}
			for i := range dp.NTunnels {
				l := &dp.Tunnels[i]
				if l.HasAddr && (!netip.AddrFrom16(l.Src).Unmap().IsLoopback() || !netip.AddrFrom16(l.Dst).Unmap().IsLoopback()) {
					t.Fatalf("%s: frame %d: outer endpoints not on loopback", k.Name, p.Frame)
				}
			}
			if !netip.AddrFrom16(dp.Src).Unmap().IsLoopback() {
				t.Fatalf("%s: frame %d: inner address not on loopback", k.Name, p.Frame)
			}
		}
		if n < 3000 {
			t.Errorf("%s: %d packets", k.Name, n)
		}
	}
	if err := run("mix", filepath.Join(t.TempDir(), "x"), options{wrap: "no-such"}); err == nil {
		t.Error("an unknown encapsulation was accepted")
	}
}
