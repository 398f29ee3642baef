// Package corpustest finds the capture files the tests run over and walks their TCP and UDP
// payloads flow by flow, as the engine would present them to a detector.
//
// It exists for tests only: no package may import it from a non-test file.
//
// The public corpus lives beside the repository, in ../shared/corpus from the module root,
// described by its MANIFEST.tsv. It is not part of the repository, so the tests that use it
// skip when it is absent. The project's own recordings are in testdata/real.
package corpustest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// Root returns the repository root: the nearest folder above the working directory (the
// package under test) that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// Dir returns the public capture corpus, <root>/../shared/corpus, and skips the test when it
// (or its MANIFEST.tsv) is absent.
func Dir(t testing.TB) string {
	t.Helper()
	return sharedDir(t, "corpus", "public capture corpus absent (../shared/corpus beside the repository)")
}

// sharedDir returns <root>/../shared/name and skips the test with why when it (or its
// MANIFEST.tsv) is absent.
func sharedDir(t testing.TB, name, why string) string {
	t.Helper()
	dir := filepath.Join(Root(t), "..", "shared", name)
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		t.Skip(why)
	}
	return dir
}

// Manifest returns the rows of the corpus MANIFEST.tsv in dir, each split into its columns
// (path, source_repo, source_path, source_commit, license_of_source_repo, link_type,
// packets, what_it_contains, expected), without the header.
func Manifest(t testing.TB, dir string) [][]string {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var rows [][]string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if cols[0] == "path" {
			continue
		}
		rows = append(rows, cols)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// Name returns the file name of a capture given as "shared:<path in the public corpus>" or
// "real:<path under testdata/real>", without its prefix.
func Name(spec string) string {
	_, name, _ := strings.Cut(spec, ":")
	return name
}

// Path returns the file of a capture given as "shared:<path in the public corpus>" or
// "real:<path under testdata/real>", and skips the test when the file is absent.
func Path(t testing.TB, spec string) string {
	t.Helper()
	where, name, _ := strings.Cut(spec, ":")
	var path string
	switch where {
	case "shared":
		path = filepath.Join(Root(t), "..", "shared", "corpus", name)
	case "real":
		path = filepath.Join(Root(t), "testdata", "real", name)
	default:
		t.Fatalf("capture %q: want a shared: or real: prefix", spec)
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("capture absent: %v", err)
	}
	return path
}

// Sink receives the payloads of one flow in capture order: fromClient tells the direction,
// frame is the 1-based number of the packet in the file and ts its time stamp.
type Sink func(fromClient bool, frame uint64, ts time.Time, payload []byte)

// Flows reads a pcap or pcapng file and hands every TCP and UDP payload to the Sink of its
// flow. open is called once per flow, at its first packet (for UDP, its first datagram with
// a payload), with the flow's ends: the client is the sender of that packet, except that a
// SYN-ACK makes its receiver the client; syn tells whether the TCP handshake was seen.
// open returns the caller's flow value and its Sink; a nil Sink ignores the flow.
//
// TCP payloads are given in the order of the capture, without reassembly: a SYN sets the
// next sequence number of its side, bytes already seen (retransmissions) are trimmed and a
// segment holding only such bytes is dropped; a segment ahead of the expected number is
// given as it is.
//
// Flows returns the values of the flows that had a Sink, in the order they started, and the
// error that ended the reading before the end of the file, if any.
func Flows[F any](t testing.TB, path string, open func(client, server netip.AddrPort, tr flow.Transport, syn bool) (F, Sink)) ([]F, error) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	linkType := func(gopacket.CaptureInfo) layers.LinkType { return layers.LinkTypeEthernet }
	if r, err := pcapgo.NewReader(fh); err == nil {
		src = r
		lt := r.LinkType()
		linkType = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	} else {
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewNgReader(fh, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: neither pcap nor pcapng: %v", path, err)
		}
		src = r
		linkType = func(ci gopacket.CaptureInfo) layers.LinkType {
			if intf, err := r.Interface(ci.InterfaceIndex); err == nil {
				return intf.LinkType
			}
			return layers.LinkTypeEthernet
		}
	}
	type key struct {
		lo, hi netip.AddrPort
		proto  flow.Transport
	}
	type state struct {
		sink     Sink
		client   netip.AddrPort
		next     [2]uint32 // next expected TCP sequence number per side (0: the client)
		seqKnown [2]bool
	}
	flows := map[key]*state{}
	var order []F
	for frame := uint64(1); ; frame++ {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return order, nil
		}
		if err != nil {
			return order, fmt.Errorf("%s frame %d: %w", path, frame, err)
		}
		pkt := gopacket.NewPacket(data, linkType(ci), gopacket.Default)
		var srcIP, dstIP netip.Addr
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			srcIP, _ = netip.AddrFromSlice(ip.SrcIP)
			dstIP, _ = netip.AddrFromSlice(ip.DstIP)
		case *layers.IPv6:
			srcIP, _ = netip.AddrFromSlice(ip.SrcIP)
			dstIP, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		var (
			proto    flow.Transport
			sp, dp   uint16
			payload  []byte
			syn, ack bool
			seq      uint32
		)
		switch l4 := pkt.TransportLayer().(type) {
		case *layers.TCP:
			proto, sp, dp, payload, syn, ack, seq = flow.TCP, uint16(l4.SrcPort), uint16(l4.DstPort), l4.Payload, l4.SYN, l4.ACK, l4.Seq
		case *layers.UDP:
			proto, sp, dp, payload = flow.UDP, uint16(l4.SrcPort), uint16(l4.DstPort), l4.Payload
			if len(payload) == 0 {
				continue
			}
		default:
			continue
		}
		from, to := netip.AddrPortFrom(srcIP.Unmap(), sp), netip.AddrPortFrom(dstIP.Unmap(), dp)
		k := key{from, to, proto}
		if k.hi.Compare(k.lo) < 0 {
			k.lo, k.hi = k.hi, k.lo
		}
		st := flows[k]
		if st == nil {
			client, server := from, to
			if syn && ack { // a SYN-ACK first: its receiver is the client
				client, server = to, from
			}
			v, sink := open(client, server, proto, syn)
			st = &state{sink: sink, client: client}
			flows[k] = st
			if sink != nil {
				order = append(order, v)
			}
		}
		if st.sink == nil {
			continue
		}
		side := 0
		if from != st.client {
			side = 1
		}
		if proto == flow.TCP {
			if syn {
				st.next[side], st.seqKnown[side] = seq+1, true
				continue
			}
			if st.seqKnown[side] {
				if d := int32(seq - st.next[side]); d < 0 {
					if -int(d) >= len(payload) {
						continue // retransmission
					}
					payload, seq = payload[-d:], st.next[side]
				}
			}
			if len(payload) > 0 {
				st.next[side], st.seqKnown[side] = seq+uint32(len(payload)), true
			}
		}
		if len(payload) == 0 {
			continue
		}
		st.sink(side == 0, frame, ci.Timestamp, payload)
	}
}
