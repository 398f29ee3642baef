package corpustest

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// pkt is one packet of a synthetic capture: a TCP segment, or a UDP datagram when udp is set.
type pkt struct {
	from, to netip.AddrPort
	udp      bool
	syn, ack bool
	seq      uint32
	payload  string
}

// writeCapture writes the packets as an Ethernet pcap, one millisecond apart.
func writeCapture(t *testing.T, pkts []pkt) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.pcap")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w := pcapgo.NewWriter(fh)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: p.from.Addr().AsSlice(), DstIP: p.to.Addr().AsSlice()}
		var l4 gopacket.SerializableLayer
		if p.udp {
			ip.Protocol = layers.IPProtocolUDP
			u := &layers.UDP{SrcPort: layers.UDPPort(p.from.Port()), DstPort: layers.UDPPort(p.to.Port())}
			if err := u.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			l4 = u
		} else {
			ip.Protocol = layers.IPProtocolTCP
			tc := &layers.TCP{SrcPort: layers.TCPPort(p.from.Port()), DstPort: layers.TCPPort(p.to.Port()), Seq: p.seq, SYN: p.syn, ACK: p.ack, Window: 1024}
			if err := tc.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			l4 = tc
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(p.payload)); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i+1) * time.Millisecond), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// seen is what a Sink received for one flow.
type seen struct {
	client, server netip.AddrPort
	tr             flow.Transport
	syn            bool
	got            []string // "c" or "s", the frame number and the payload
}

func walk(t *testing.T, path string, only flow.Transport) []*seen {
	t.Helper()
	out, err := Flows(t, path, func(client, server netip.AddrPort, tr flow.Transport, syn bool) (*seen, Sink) {
		if only != 0 && tr != only {
			return nil, nil
		}
		s := &seen{client: client, server: server, tr: tr, syn: syn}
		return s, func(fromClient bool, frame uint64, ts time.Time, payload []byte) {
			side := "s"
			if fromClient {
				side = "c"
			}
			if want := t0.Add(time.Duration(frame) * time.Millisecond); !ts.Equal(want) {
				t.Errorf("frame %d: time %v, want %v", frame, ts, want)
			}
			s.got = append(s.got, side+strconv.FormatUint(frame, 10)+":"+string(payload))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	cli  = netip.MustParseAddrPort("192.0.2.10:50000")
	srv  = netip.MustParseAddrPort("192.0.2.1:389")
	cli2 = netip.MustParseAddrPort("192.0.2.11:50001")
	ucli = netip.MustParseAddrPort("192.0.2.12:40000")
	usrv = netip.MustParseAddrPort("192.0.2.1:123")
)

func TestFlows(t *testing.T) {
	path := writeCapture(t, []pkt{
		{from: cli, to: srv, syn: true, seq: 99},                  // 1: handshake: next client byte 100
		{from: srv, to: cli, syn: true, ack: true, seq: 499},      // 2: next server byte 500
		{from: ucli, to: usrv, udp: true},                         // 3: empty datagram: no flow
		{from: cli, to: srv, ack: true, seq: 100, payload: "abc"}, // 4
		{from: usrv, to: ucli, udp: true, payload: "u1"},          // 5: the UDP flow starts here
		{from: cli, to: srv, ack: true, seq: 100, payload: "abc"}, // 6: retransmission: dropped
		{from: srv, to: cli, ack: true, seq: 500, payload: "OK"},  // 7
		{from: cli2, to: srv, ack: true, seq: 7, payload: "mid"},  // 8: no handshake seen
		{from: srv, to: cli2, syn: true, ack: true, seq: 1},       // 9: a SYN-ACK later does not turn it round
		{from: ucli, to: usrv, udp: true, payload: "u2"},          // 10
	})
	got := walk(t, path, 0)
	want := []*seen{
		{cli, srv, flow.TCP, true, []string{"c4:abc", "s7:OK"}},
		{usrv, ucli, flow.UDP, false, []string{"c5:u1", "s10:u2"}},
		{cli2, srv, flow.TCP, false, []string{"c8:mid"}},
	}
	check(t, got, want)

	// A nil Sink leaves the flow out.
	check(t, walk(t, path, flow.UDP), want[1:2])
}

func TestFlowsSYNACKFirst(t *testing.T) {
	path := writeCapture(t, []pkt{
		{from: srv, to: cli, syn: true, ack: true, seq: 499},          // 1: its receiver is the client
		{from: cli, to: srv, ack: true, seq: 100, payload: "req"},     // 2
		{from: srv, to: cli, ack: true, seq: 500, payload: "resp"},    // 3
		{from: srv, to: cli, ack: true, seq: 502, payload: "sp"},      // 4: only bytes already seen
		{from: srv, to: cli, ack: true, seq: 504, payload: "-more"},   // 5
		{from: srv, to: cli, ack: true, seq: 600, payload: "ahead"},   // 6: after a gap: given as it is
		{from: cli, to: srv, ack: true, seq: 103, payload: ""},        // 7: no payload
		{from: srv, to: cli, ack: true, seq: 605, payload: "and on"},  // 8
		{from: srv, to: cli, ack: true, seq: 500, payload: "resp-mo"}, // 9: old bytes again
	})
	check(t, walk(t, path, 0), []*seen{
		{cli, srv, flow.TCP, true, []string{"c2:req", "s3:resp", "s5:-more", "s6:ahead", "s8:and on"}},
	})
}

func TestFlowsOverlap(t *testing.T) {
	path := writeCapture(t, []pkt{
		{from: cli, to: srv, syn: true, seq: 99},                   // 1
		{from: cli, to: srv, ack: true, seq: 100, payload: "abcd"}, // 2
		{from: cli, to: srv, ack: true, seq: 102, payload: "cdef"}, // 3: "cd" again: trimmed
		{from: cli, to: srv, ack: true, seq: 104, payload: "ef"},   // 4: only bytes already seen
		{from: cli, to: srv, ack: true, seq: 106, payload: "gh"},   // 5
	})
	check(t, walk(t, path, 0), []*seen{
		{cli, srv, flow.TCP, true, []string{"c2:abcd", "c3:ef", "c5:gh"}},
	})
}

func check(t *testing.T, got, want []*seen) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d flows, want %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.client != w.client || g.server != w.server || g.tr != w.tr || g.syn != w.syn || !slices.Equal(g.got, w.got) {
			t.Errorf("flow %d: %v %v→%v syn %v %q\nwant %v %v→%v syn %v %q", i, g.tr, g.client, g.server, g.syn, g.got, w.tr, w.client, w.server, w.syn, w.got)
		}
	}
}

func TestRootAndPath(t *testing.T) {
	root := Root(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("root %s: %v", root, err)
	}
	if wd, _ := os.Getwd(); filepath.Join(root, "internal", "corpustest") != wd {
		t.Errorf("root %s is not two levels above %s", root, wd)
	}
	if n := Name("shared:zeek/Traces/ntp.pcap"); n != "zeek/Traces/ntp.pcap" {
		t.Errorf("Name: %q", n)
	}
	t.Run("absent", func(t *testing.T) {
		Path(t, "real:no-such-capture.pcap")
		t.Error("an absent capture did not skip")
	})
}
