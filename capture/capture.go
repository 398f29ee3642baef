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
	// File is the name the file was opened by ("-" for standard input); for a live capture,
	// the interface's name.
	File string
	// VLAN is the VLAN identifier (the 12-bit VID) of an 802.1Q or 802.1ad tag that the capture
	// took out of the frame into its metadata, as Linux does for the outermost tag of every
	// frame an AF_PACKET socket receives; valid when HasVLAN is set. A tag that is still inside
	// Data (always the case for capture files) is not reported here: the decoder reads it from
	// the frame. Length counts a stripped tag, as it was on the wire.
	VLAN uint16
	// HasVLAN says that VLAN holds a tag taken out of the frame (VLAN 0 is a priority tag).
	HasVLAN bool
}

// Source yields packets one at a time.
type Source interface {
	// Next fills p with the next packet. It returns io.EOF at the clean end of input; any other
	// error ends the source too (for a truncated file, a *TruncatedError naming the offset).
	Next(p *Packet) error
	// Close releases the file.
	Close() error
}
