// Package decode turns a captured frame into what flow tracking needs — addresses, ports, TCP
// flags and sequence numbers, and the transport payload — in place, without allocating in the
// steady state. It reassembles IPv4 fragments within fixed bounds and counts every packet it
// cannot use.
package decode

// Transport protocol numbers the decoder reports.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// TCP flag bits in Packet.Flags.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
)

// Packet is a decoded TCP or UDP packet. Payload aliases the frame (or, for a reassembled IPv4
// datagram, the decoder's buffer) and is valid until the next Decode call.
type Packet struct {
	Proto uint8 // ProtoTCP or ProtoUDP
	IPv4  bool  // addresses are IPv4 (stored v4-mapped in Src and Dst)
	// Src and Dst are 16-byte addresses; IPv4 ones are in IPv4-mapped IPv6 form (::ffff:a.b.c.d).
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	// IPLen is the number of bytes from the IP header onward (as the IP header says, bounded by
	// what was captured).
	IPLen int
	// TCP only.
	Flags    uint8
	Seq, Ack uint32
	Payload  []byte
}
