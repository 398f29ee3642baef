package decode

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// innerFlows decodes a capture and returns its TCP and UDP flows, the decoder's counters and
// the tunnel types seen.
func innerFlows(t *testing.T, path string) (map[corpustest.FlowKey]bool, *Stats, map[string]bool) {
	s, err := capture.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer s.Close()
	d := New(Config{})
	flows, types := map[corpustest.FlowKey]bool{}, map[string]bool{}
	var cp capture.Packet
	var p Packet
	for {
		if err = s.Next(&cp); err != nil {
			break
		}
		if d.Decode(cp.Data, cp.LinkType, cp.Timestamp, &p) != OK {
			continue
		}
		tr := flow.UDP
		if p.Proto == ProtoTCP {
			tr = flow.TCP
		}
		flows[corpustest.Key(tr, netip.AddrPortFrom(netip.AddrFrom16(p.Src), p.SrcPort),
			netip.AddrPortFrom(netip.AddrFrom16(p.Dst), p.DstPort))] = true
		for i := range p.NTunnels {
			types[p.Tunnels[i].Type.String()] = true
		}
	}
	if err != io.EOF {
		t.Errorf("%s: %v", path, err)
	}
	return flows, d.Stats(), types
}

// TestCorpusOtherTunnels: captures of other projects that carry tunnels or unusual link types
// give the inner TCP and UDP flows nDPI's expected output lists (nDPI keys flows by VLAN too;
// the set of 5-tuples is compared), through the tunnels named.
func TestCorpusOtherTunnels(t *testing.T) {
	dir := corpustest.OtherDir(t)
	for _, c := range []struct {
		file    string
		tunnels []string
	}{
		{"4in6tunnel.pcap", []string{"ip-in-ip"}},
		{"6in4tunnel.pcap", []string{"ip-in-ip"}},
		{"capwap_data.pcapng", []string{"capwap"}},
		{"BGP_Cisco_hdlc_slarp.pcap", nil}, // Cisco HDLC link type
		{"BGP_redist.pcap", []string{"mpls"}},
		{"http_origin_different_than_host.pcap", []string{"gtp-u"}},
		{"ja3_lots_of_cipher_suites_2_anon.pcap", []string{"gtp-u"}},
		{"reasm_segv_anon.pcapng", []string{"gtp-u"}},
		{"rtmp.pcap", []string{"gtp-u"}},
		{"tls_change_cipher.pcap", []string{"gtp-u"}},
		{"tls_invalid_reads.pcap", []string{"gtp-u"}},
		{"zoom.pcap", []string{"gtp-u"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			if _, err := os.Stat(path); err != nil {
				t.Skip(err)
			}
			got, st, types := innerFlows(t, path)
			want := corpustest.NDPIProtocols(t, path+".out")
			if len(want) == 0 {
				t.Fatal("no flows in the expected output")
			}
			var missing, extra []string
			for f := range want {
				if !got[f] {
					missing = append(missing, fmt.Sprint(f))
				}
			}
			for f := range got {
				if _, ok := want[f]; !ok {
					extra = append(extra, fmt.Sprint(f))
				}
			}
			sort.Strings(missing)
			sort.Strings(extra)
			if len(missing) > 0 || len(extra) > 0 {
				t.Errorf("flows nDPI lists that were not decoded: %v\nflows decoded that nDPI does not list: %v", missing, extra)
			}
			for _, ty := range c.tunnels {
				if !types[ty] {
					t.Errorf("no %s layer seen (%v)", ty, types)
				}
			}
			if st.Undecodable() != 0 {
				t.Errorf("undecodable packets: %+v", *st)
			}
			t.Logf("%d flows as nDPI lists them; %d packets, %d through tunnels %v", len(want), st.Packets, st.Tunnelled, types)
		})
	}
}
