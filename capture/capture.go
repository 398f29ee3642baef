// Package capture reads packets from capture files (pcap, pcapng, either gzip-compressed,
// decided by magic bytes) and standard input, numbering frames as Wireshark does and giving
// each packet its own link type. It knows nothing of flows or protocols.
package capture

import (
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Packet is one captured frame. Data aliases the reader's buffer and is valid only until the
// next call to Next on the same Source: copy what you keep.
type Packet struct {
	Data      []byte
	Timestamp time.Time
	// Length is the frame's length on the wire; len(Data) may be shorter (snap length).
	Length   int
	LinkType layers.LinkType
	// Frame is the frame number as Wireshark counts it: 1 for the first packet of each file.
	Frame uint64
	// File is the name the file was opened by ("-" for standard input).
	File string
}

// Source yields packets one at a time.
type Source interface {
	// Next fills p with the next packet. It returns io.EOF at the clean end of input; any other
	// error ends the source too (for a truncated file, a *TruncatedError naming the offset).
	Next(p *Packet) error
	// Close releases the file.
	Close() error
}
