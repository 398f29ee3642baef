// Package packetprog turns a fuzzer's bytes into a packet program: Ethernet frames of TCP and
// UDP conversations between 127.0.0.1 and 127.0.0.2 on the ports of every protocol pcapaudit
// reads, in whatever order, with whatever sequence numbers, flags and timing the bytes say.
// The engine's and the command's fuzz targets play such programs; Seed turns a capture into
// one, so the fuzzers start from real conversations.
//
// It exists for tests only: no package may import it from a non-test file.
//
// Each operation is six bytes and a payload:
//
//	[0] bits 0–2: the conversation (Convs); bit 3: sent by the server; bits 4–7: the
//	    payload length's high bits
//	[1] TCP flags (FIN SYN RST PSH ACK; ignored on UDP)
//	[2:4] signed distance of the sequence number from the next one expected in that
//	      direction: 0 continues the stream, others overlap it, leave gaps or go far away
//	[4] time since the previous packet: 0–200 ms, 201–250 seconds, 251–255 seconds back
//	[5] payload length's low byte; the payload follows (shorter if the input ends)
//
// so a fuzzer can reach retransmissions, overlaps that disagree, gaps, reordering, port reuse,
// RST and FIN in any order, SYN floods, idle expiry, table eviction and emergency mode.
package packetprog

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
)

// OpLen is the length of an operation's header.
const OpLen = 6

// MaxPackets bounds a program, whatever the input's length.
const MaxPackets = 2000

// Convs are the conversations a program plays on: transport and server port. The client of
// conversation i is 127.0.0.1:40000+i, the server 127.0.0.2.
var Convs = [8]struct {
	Proto uint8
	Port  uint16
}{
	{decode.ProtoTCP, 389}, {decode.ProtoUDP, 389}, {decode.ProtoTCP, 636}, {decode.ProtoUDP, 5060},
	{decode.ProtoTCP, 5060}, {decode.ProtoTCP, 5061}, {decode.ProtoUDP, 123}, {decode.ProtoTCP, 7777},
}

// T0 is the time of a program's first packet.
var T0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Packet is one frame of a program.
type Packet struct {
	Frame []byte // Ethernet
	Time  time.Time
}

var (
	client = [4]byte{127, 0, 0, 1}
	server = [4]byte{127, 0, 0, 2}
)

// Build turns data into a program of at most MaxPackets packets.
func Build(data []byte) []Packet {
	var next [len(Convs)][2]uint32 // next sequence number expected, by conversation and direction
	for c := range next {
		next[c] = [2]uint32{1000, 900000}
	}
	ts := T0
	var out []Packet
	for len(data) >= OpLen && len(out) < MaxPackets {
		op := data[:OpLen]
		data = data[OpLen:]
		c, dir := op[0]&7, int(op[0]>>3&1)
		n := min(int(op[0]>>4)<<8|int(op[5]), len(data))
		payload := data[:n]
		data = data[n:]
		switch t := op[4]; {
		case t <= 200:
			ts = ts.Add(time.Duration(t) * time.Millisecond)
		case t <= 250:
			ts = ts.Add(time.Duration(t-200) * time.Second)
		default:
			ts = ts.Add(-time.Duration(t-250) * time.Second)
		}
		cv := Convs[c]
		src, dst := client, server
		sport, dport := 40000+uint16(c), cv.Port
		if dir == 1 {
			src, dst, sport, dport = dst, src, dport, sport
		}
		var l4 []byte
		if cv.Proto == decode.ProtoTCP {
			flags := op[1] & (decode.FlagFIN | decode.FlagSYN | decode.FlagRST | decode.FlagPSH | decode.FlagACK)
			seq := next[c][dir] + uint32(int32(int16(binary.BigEndian.Uint16(op[2:4]))))
			end := seq + uint32(n)
			if flags&(decode.FlagSYN|decode.FlagFIN) != 0 {
				end++
			}
			if int32(end-next[c][dir]) > 0 {
				next[c][dir] = end
			}
			l4 = tcp(sport, dport, seq, next[c][1-dir], flags, payload)
		} else {
			l4 = udp(sport, dport, payload)
		}
		out = append(out, Packet{Frame: ethIPv4(src, dst, cv.Proto, l4), Time: ts})
	}
	return out
}

func tcp(sport, dport uint16, seq, ack uint32, flags uint8, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12], h[13] = 5<<4, flags
	binary.BigEndian.PutUint16(h[14:], 65535)
	return append(h, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

func ethIPv4(src, dst [4]byte, proto uint8, l4 []byte) []byte {
	b := make([]byte, 14+20, 14+20+len(l4))
	copy(b, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	h := b[14:]
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	h[8], h[9] = 64, proto
	copy(h[12:], src[:])
	copy(h[16:], dst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	return append(b, l4...)
}

// WritePcap writes the program as a pcap file (nanosecond timestamps, Ethernet).
func WritePcap(w io.Writer, prog []Packet) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	for _, p := range prog {
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Frame), Length: len(p.Frame)}
		if err := pw.WritePacket(ci, p.Frame); err != nil {
			return err
		}
	}
	return nil
}

// Seed turns the conversations of a capture into a program: every TCP or UDP packet whose
// server port is one of Convs' becomes an operation on that conversation, in order, with its
// flags, its payload and the time since the previous one (at most 200 ms).
func Seed(path string) ([]byte, error) {
	src, err := capture.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var prog []byte
	dec := decode.New(decode.Config{})
	var last time.Time
	for {
		var cp capture.Packet
		if err := src.Next(&cp); err != nil {
			if errors.Is(err, io.EOF) {
				return prog, nil
			}
			return nil, err
		}
		var p decode.Packet
		if dec.Decode(cp.Data, cp.LinkType, cp.Timestamp, &p) != decode.OK {
			continue
		}
		conv, dir := -1, 0
		for i, c := range Convs {
			switch {
			case c.Proto != p.Proto:
			case p.DstPort == c.Port:
				conv = i
			case p.SrcPort == c.Port:
				conv, dir = i, 1
			}
		}
		if conv < 0 {
			continue
		}
		dt := byte(0)
		if !last.IsZero() {
			dt = byte(min(max(cp.Timestamp.Sub(last).Milliseconds(), 0), 200))
		}
		last = cp.Timestamp
		n := min(len(p.Payload), 4095)
		prog = append(prog, byte(conv)|byte(dir)<<3|byte(n>>8)<<4, p.Flags, 0, 0, dt, byte(n))
		prog = append(prog, p.Payload[:n]...)
	}
}

// SeedsIn turns every capture below dir (*.pcap, *.pcapng, either gzipped) into a program, as
// Seed does, keeping those that play at least one packet, cut to maxLen bytes. A missing dir,
// or a file that is not a readable capture, gives nothing: the seeds are a bonus (the public
// corpus beside the repository), not something a test may depend on.
func SeedsIn(dir string, maxLen int) [][]byte {
	var seeds [][]byte
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error { //nolint:errcheck // best effort
		if err != nil || d.IsDir() {
			return nil
		}
		name := strings.TrimSuffix(d.Name(), ".gz")
		if !strings.HasSuffix(name, ".pcap") && !strings.HasSuffix(name, ".pcapng") {
			return nil
		}
		if s, err := Seed(path); err == nil && len(s) >= OpLen {
			seeds = append(seeds, s[:min(len(s), maxLen)])
		}
		return nil
	})
	return seeds
}
