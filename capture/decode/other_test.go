package decode

import (
	"bufio"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// otherDir returns ../shared/corpus-other beside the repository, or skips the test.
func otherDir(t *testing.T) string {
	dir := filepath.Join(corpustest.Root(t), "..", "shared", "corpus-other")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("public capture corpus absent (../shared/corpus-other beside the repository)")
	}
	return dir
}

// innerFlows decodes a capture and returns its TCP and UDP flows ("tcp a:p b:p", endpoints in
// canonical order), the decoder's counters and the tunnel types seen.
func innerFlows(t *testing.T, path string) (map[string]bool, *Stats, map[string]bool) {
	s, err := capture.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer s.Close()
	d := New(Config{})
	flows, types := map[string]bool{}, map[string]bool{}
	var cp capture.Packet
	var p Packet
	for {
		if err = s.Next(&cp); err != nil {
			break
		}
		if d.Decode(cp.Data, cp.LinkType, cp.Timestamp, &p) != OK {
			continue
		}
		a := netip.AddrPortFrom(netip.AddrFrom16(p.Src).Unmap(), p.SrcPort).String()
		b := netip.AddrPortFrom(netip.AddrFrom16(p.Dst).Unmap(), p.DstPort).String()
		if a > b {
			a, b = b, a
		}
		proto := "udp"
		if p.Proto == ProtoTCP {
			proto = "tcp"
		}
		flows[proto+" "+a+" "+b] = true
		for i := range p.NTunnels {
			types[p.Tunnels[i].Type.String()] = true
		}
	}
	if err != io.EOF {
		t.Errorf("%s: %v", path, err)
	}
	return flows, d.Stats(), types
}

var ndpiFlow = regexp.MustCompile(`^\s+\d+\s+(TCP|UDP) (\S+) <?-> (\S+) `)

// ndpiFlows reads the TCP and UDP flows nDPI lists in its expected output.
func ndpiFlows(t *testing.T, path string) map[string]bool {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := ndpiFlow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		a, b := netip.MustParseAddrPort(m[2]).String(), netip.MustParseAddrPort(m[3]).String()
		if a > b {
			a, b = b, a
		}
		proto := "udp"
		if m[1] == "TCP" {
			proto = "tcp"
		}
		out[proto+" "+a+" "+b] = true
	}
	return out
}

// TestCorpusOtherTunnels: captures of other projects that carry tunnels or unusual link types
// give the inner TCP and UDP flows nDPI's expected output lists (nDPI keys flows by VLAN too;
// the set of 5-tuples is compared), through the tunnels named.
func TestCorpusOtherTunnels(t *testing.T) {
	dir := otherDir(t)
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
			want := ndpiFlows(t, path+".out")
			if len(want) == 0 {
				t.Fatal("no flows in the expected output")
			}
			var missing, extra []string
			for f := range want {
				if !got[f] {
					missing = append(missing, f)
				}
			}
			for f := range got {
				if !want[f] {
					extra = append(extra, f)
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
