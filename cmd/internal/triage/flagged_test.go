package triage

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// udp builds a UDP datagram from src:sp to dst:dp, on Ethernet with a VLAN tag (vlan > 0),
// on Ethernet, or as a raw IP packet (raw).
func udp(t *testing.T, src, dst string, sp, dp uint16, vlan uint16, raw bool, payload string) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	u.SetNetworkLayerForChecksum(ip)
	ls := []gopacket.SerializableLayer{ip, u, gopacket.Payload(payload)}
	if !raw {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		if vlan > 0 {
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append([]gopacket.SerializableLayer{eth, &layers.Dot1Q{VLANIdentifier: vlan, Type: layers.EthernetTypeIPv4}}, ls...)
		} else {
			ls = append([]gopacket.SerializableLayer{eth}, ls...)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type tp struct {
	at   time.Duration
	data []byte
}

func pcapFile(t *testing.T, name string, lt layers.LinkType, pkts []tp) string {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	w.WriteFileHeader(65535, lt)
	for _, p := range pkts {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(p.at), CaptureLength: len(p.data), Length: len(p.data)}, p.data)
	}
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestFlaggedWriteTo: of two files (Ethernet with VLAN tags, and raw IP) read merged, the
// flagged capture holds exactly the packets of the two flagged flows — not those of a later
// flow that reuses the first one's ports, nor other traffic — in time order, each with its
// own link type, and the comments on the evidence packets.
func TestFlaggedWriteTo(t *testing.T) {
	dir := t.TempDir()
	a := pcapFile(t, filepath.Join(dir, "a.pcap"), layers.LinkTypeEthernet, []tp{
		{0, udp(t, "127.0.0.1", "127.0.0.2", 40000, 5060, 7, false, "flow1 request")},           // 1: flow 1
		{time.Second, udp(t, "127.0.0.2", "127.0.0.1", 5060, 40000, 7, false, "flow1 reply")},   // 2: flow 1, evidence
		{2 * time.Second, udp(t, "127.0.0.9", "127.0.0.2", 40001, 5060, 7, false, "other")},     // 3: not flagged
		{3 * time.Second, udp(t, "127.0.0.1", "127.0.0.2", 40000, 5060, 7, false, "flow1 end")}, // 4: flow 1
		{10 * time.Minute, udp(t, "127.0.0.1", "127.0.0.2", 40000, 5060, 7, false, "flow2")},    // 5: ports reused, not flagged
	})
	b := pcapFile(t, filepath.Join(dir, "b.pcap"), layers.LinkTypeRaw, []tp{
		{1500 * time.Millisecond, udp(t, "127.0.0.3", "127.0.0.4", 123, 123, 0, true, "flow3 a")}, // 1: flow 3, evidence
		{2500 * time.Millisecond, udp(t, "127.0.0.4", "127.0.0.3", 123, 123, 0, true, "flow3 b")}, // 2: flow 3
	})
	c := NewFlagged()
	high := &rules.Rule{ID: "sip.test", Severity: rules.High}
	c.Flow(&flow.Record{File: flow.FileRefOf(a), FirstFrame: 1, Start: flow.TimeOf(t0), End: flow.TimeOf(t0.Add(3 * time.Second))},
		[]*rules.Finding{{Rule: high, Message: "flow one", Evidence: flow.Event{Frame: 2}}})
	c.Flow(&flow.Record{File: flow.FileRefOf(a), FirstFrame: 3, Start: flow.TimeOf(t0.Add(2 * time.Second)), End: flow.TimeOf(t0.Add(2 * time.Second))}, nil) // no finding
	c.Flow(&flow.Record{File: flow.FileRefOf(b), FirstFrame: 1, Start: flow.TimeOf(t0.Add(1500 * time.Millisecond)), End: flow.TimeOf(t0.Add(2500 * time.Millisecond))},
		[]*rules.Finding{{Rule: high, Message: "flow three", Evidence: flow.Event{Frame: 1}}, {Rule: &rules.Rule{ID: "ntp.x", Severity: rules.Low}, Message: "again", Evidence: flow.Event{Frame: 1}}})
	var out bytes.Buffer
	st, err := c.WriteTo(&out, []string{a, b}, decode.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Flows != 2 || st.Packets != 5 || st.Comments != 3 {
		t.Errorf("wrote %+v, want 2 flows, 5 packets, 3 comments", st)
	}
	r, err := pcapgo.NewNgReader(&out, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		payload  string
		lt       layers.LinkType
		comments string
	}{
		{"flow1 request", layers.LinkTypeEthernet, ""},
		{"flow1 reply", layers.LinkTypeEthernet, "pcapaudit sip.test (high): flow one"},
		{"flow3 a", layers.LinkTypeRaw, "pcapaudit sip.test (high): flow three|pcapaudit ntp.x (low): again"},
		{"flow3 b", layers.LinkTypeRaw, ""},
		{"flow1 end", layers.LinkTypeEthernet, ""},
	}
	for i := 0; ; i++ {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err == io.EOF {
			if i != len(want) {
				t.Errorf("%d packets, want %d", i, len(want))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(want) {
			t.Fatalf("packet %d too many: %q", i+1, data)
		}
		intf, _ := r.Interface(ci.InterfaceIndex)
		if !bytes.Contains(data, []byte(want[i].payload)) || intf.LinkType != want[i].lt || strings.Join(opts.Comments, "|") != want[i].comments {
			t.Errorf("packet %d: %q on %v, comments %q; want %q on %v, %q", i+1, data, intf.LinkType, opts.Comments, want[i].payload, want[i].lt, want[i].comments)
		}
	}
}
