// Command pcapfloor is the decode-and-flow-map floor that pcapaudit's speed is measured
// against: it reads one capture with pcapaudit's own reader and decoder and counts packets and
// bytes per flow in a plain Go map keyed by the bidirectional 5-tuple. It does nothing else —
// no TCP reassembly, no protocol detection, no policy, no output beyond one line — on one
// goroutine.
//
//	pcapfloor capture.pcap
//	packets 1000000 flows 100000
//
// "packets" counts every frame read; "flows" counts the distinct TCP and UDP 5-tuples, with
// both directions of a conversation in one flow.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
)

// key is a 5-tuple in canonical order: endpoint A is the smaller of the two (address, then
// port), so both directions of a flow share one key.
type key struct {
	a, b   [16]byte
	pa, pb uint16
	proto  uint8
}

type counters struct {
	packets, bytes uint64
}

func canonical(p *decode.Packet) key {
	k := key{a: p.Src, b: p.Dst, pa: p.SrcPort, pb: p.DstPort, proto: p.Proto}
	if c := compare(p.Src, p.Dst); c > 0 || (c == 0 && p.SrcPort > p.DstPort) {
		k.a, k.b, k.pa, k.pb = p.Dst, p.Src, p.DstPort, p.SrcPort
	}
	return k
}

func compare(x, y [16]byte) int {
	for i := range x {
		if x[i] != y[i] {
			if x[i] < y[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// floor reads the capture named name and returns the number of frames read and the flow map.
func floor(name string) (uint64, map[key]*counters, error) {
	src, err := capture.Open(name)
	if err != nil {
		return 0, nil, err
	}
	defer src.Close()
	dec := decode.New(decode.Config{})
	flows := make(map[key]*counters)
	var (
		pkt     capture.Packet
		dp      decode.Packet
		packets uint64
	)
	for {
		if err := src.Next(&pkt); err != nil {
			if errors.Is(err, io.EOF) {
				return packets, flows, nil
			}
			return packets, flows, err
		}
		packets++
		if dec.Decode(pkt.Data, pkt.LinkType, pkt.Timestamp, &dp) != decode.OK {
			continue
		}
		k := canonical(&dp)
		c := flows[k]
		if c == nil {
			c = &counters{}
			flows[k] = c
		}
		c.packets++
		c.bytes += uint64(pkt.Length)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pcapfloor CAPTURE")
		os.Exit(2)
	}
	packets, flows, err := floor(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "pcapfloor:", err)
		os.Exit(2)
	}
	fmt.Printf("packets %d flows %d\n", packets, len(flows))
}
