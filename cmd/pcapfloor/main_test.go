package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture/decode"
)

var (
	goldenFlows   = regexp.MustCompile(`(?m)^  flows +(\d+):`)
	goldenPackets = regexp.MustCompile(`(?m)^  read +.*?, (\d+) packets,`)
)

func goldenNumber(t *testing.T, text []byte, re *regexp.Regexp) int {
	t.Helper()
	m := re.FindSubmatch(text)
	if m == nil {
		t.Fatalf("golden report has no line matching %s", re)
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The floor must count the same flows and packets as pcapaudit on the same capture, or the
// speed comparison compares different work.
func TestFloorAgreesWithPcapaudit(t *testing.T) {
	for _, name := range []string{
		"ldap-bind-failures",      // 5 TCP connections
		"sip-register-bruteforce", // 12 UDP flows
		"ldap-starttls",           // one TCP connection, both directions
		"ntp-mode6-rv-mrulist",    // one UDP flow, both directions
	} {
		t.Run(name, func(t *testing.T) {
			golden, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", "real-"+name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			packets, flows, err := floor(filepath.Join("..", "..", "testdata", "real", name+".pcap"))
			if err != nil {
				t.Fatal(err)
			}
			if want := goldenNumber(t, golden, goldenFlows); len(flows) != want {
				t.Errorf("flows %d, pcapaudit reports %d", len(flows), want)
			}
			if want := goldenNumber(t, golden, goldenPackets); packets != uint64(want) {
				t.Errorf("packets %d, pcapaudit reports %d", packets, want)
			}
			var sum uint64
			for _, c := range flows {
				sum += c.packets
			}
			if sum > packets {
				t.Errorf("flows hold %d packets, more than the %d read", sum, packets)
			}
		})
	}
}

func TestCanonicalKeyJoinsDirections(t *testing.T) {
	a := decode.Packet{Proto: decode.ProtoTCP, SrcPort: 40000, DstPort: 389}
	a.Src[15], a.Dst[15] = 2, 1
	b := a
	b.Src, b.Dst, b.SrcPort, b.DstPort = a.Dst, a.Src, a.DstPort, a.SrcPort
	if canonical(&a) != canonical(&b) {
		t.Error("the two directions of one connection have different keys")
	}
	// Same addresses, ports swapped only on one side: a different flow.
	c := a
	c.SrcPort = 40001
	if canonical(&a) == canonical(&c) {
		t.Error("different source ports share a key")
	}
	// Same host on both ends: ordered by port.
	d := a
	d.Dst = a.Src
	e := d
	e.SrcPort, e.DstPort = d.DstPort, d.SrcPort
	if canonical(&d) != canonical(&e) {
		t.Error("a loop to the same address has two keys")
	}
	u := a
	u.Proto = decode.ProtoUDP
	if canonical(&a) == canonical(&u) {
		t.Error("TCP and UDP on the same ports share a key")
	}
}

func TestFloorMissingFile(t *testing.T) {
	if _, _, err := floor(filepath.Join(t.TempDir(), "absent.pcap")); err == nil {
		t.Error("no error for a missing capture")
	}
}
