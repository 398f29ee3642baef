// Package decode turns a captured frame into what flow tracking needs — addresses, ports, TCP
// flags and sequence numbers, and the transport payload — in place, without allocating in the
// steady state. It follows tunnels (GRE, ERSPAN, VXLAN, Geneve, GTP-U, MPLS, PPPoE, IP-in-IP,
// PPTP, CAPWAP) to the innermost packet, reassembles IP fragments within fixed bounds and
// counts every packet it cannot use.
package decode

import "encoding/binary"

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

	// Tunnels are the tunnel layers the packet came out of, outermost first; the first
	// NTunnels are valid. Src, Dst and the ports above are those of the innermost packet.
	Tunnels  [MaxTunnels]Tunnel
	NTunnels uint8
	// VLAN holds the ids of the first NVLAN (at most 2) VLAN tags of the frame that carried
	// the innermost packet: the outer (service) tag first, then the inner one of QinQ. Tags
	// of a frame that carried a tunnel go with that tunnel layer (Tunnel.VLAN).
	VLAN  [2]uint16
	NVLAN uint8
	// ExtVLAN is an input: the TCI of the frame's outer VLAN tag when it was removed before
	// capture (a live capture's kernel strips it into the ring's metadata), 0 for none.
	// Decode reads it as the frame's first tag and never changes it.
	ExtVLAN uint16
}

// CopyTo copies p into q: the same as *q = *p for what is valid, but only the tunnel layers in
// use are copied (a plain packet is a fifth of the struct). Payload still aliases p's bytes.
func (p *Packet) CopyTo(q *Packet) {
	q.Proto, q.IPv4, q.Src, q.Dst = p.Proto, p.IPv4, p.Src, p.Dst
	q.SrcPort, q.DstPort, q.IPLen = p.SrcPort, p.DstPort, p.IPLen
	q.Flags, q.Seq, q.Ack, q.Payload = p.Flags, p.Seq, p.Ack, p.Payload
	q.NTunnels, q.VLAN, q.NVLAN, q.ExtVLAN = p.NTunnels, p.VLAN, p.NVLAN, p.ExtVLAN
	copy(q.Tunnels[:p.NTunnels], p.Tunnels[:p.NTunnels])
}

// TunnelType is the kind of a tunnel layer.
type TunnelType uint8

// Tunnel types. The names (String) are those of the output.
const (
	TunnelGRE    TunnelType = iota + 1 // GRE (RFC 2784/2890); ID is the key when HasID
	TunnelPPTP                         // enhanced GRE (version 1) with PPP; ID is the call id
	TunnelERSPAN                       // ERSPAN type I, II or III in GRE; ID is the session id (not type I)
	TunnelVXLAN                        // ID is the VNI
	TunnelGeneve                       // ID is the VNI
	TunnelGTPU                         // GTPv1-U; ID is the TEID
	TunnelMPLS                         // one label stack entry; ID is the label
	TunnelPPPoE                        // PPPoE session; ID is the session id
	TunnelIPIP                         // IPv4 or IPv6 directly in IPv4 or IPv6 (4in4, 6in4, 4in6, 6in6)
	TunnelCAPWAP                       // CAPWAP data channel
)

var tunnelNames = [...]string{"", "gre", "pptp", "erspan", "vxlan", "geneve", "gtp-u", "mpls", "pppoe", "ip-in-ip", "capwap"}

func (t TunnelType) String() string {
	if int(t) < len(tunnelNames) {
		return tunnelNames[t]
	}
	return "unknown"
}

// Tunnel is one tunnel layer of a packet.
type Tunnel struct {
	Type TunnelType
	// HasAddr says Src and Dst hold the outer IP endpoints of the layer (all types but MPLS
	// and PPPoE); IPv4 that they are IPv4 (v4-mapped).
	HasAddr, IPv4 bool
	HasID         bool // ID is set
	// HasVLAN says the frame that carried this layer had a VLAN tag; VLAN is its id.
	HasVLAN  bool
	VLAN     uint16
	ID       uint32
	Src, Dst [16]byte
}

// symmetricID says whether a layer's identifier is the same in both directions of a flow, and so
// part of its identity. MPLS labels, GTP TEIDs and PPTP call ids are chosen by each receiver.
func (t *Tunnel) symmetricID() bool {
	switch t.Type {
	case TunnelMPLS, TunnelGTPU, TunnelPPTP:
		return false
	}
	return t.HasID
}

// TunnelID is a digest of the tunnel layers that tells flows with the same inner 5-tuple in
// different tunnels apart: the type of each layer, its outer endpoints (in canonical order) and
// its identifier when both directions share it (VNI, GRE key, ERSPAN and PPPoE session). It is
// the same for both directions of a flow, and 0 for a packet outside any tunnel. A sensor that
// spreads packets over workers hashes it with the inner 5-tuple.
func (p *Packet) TunnelID() uint64 {
	if p.NTunnels == 0 {
		return 0
	}
	// A multiply-xorshift over 8-byte words: a few nanoseconds a layer. The table that uses
	// the identity compares whole keys, so it needs no cryptographic strength.
	h := uint64(0x9e3779b97f4a7c15)
	mix := func(v uint64) {
		h = (h ^ v) * 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	for i := range p.NTunnels {
		t := &p.Tunnels[i]
		v := uint64(t.Type)
		if t.symmetricID() {
			v |= 1<<8 | uint64(t.ID)<<32
		}
		mix(v)
		if t.HasAddr {
			a, b := &t.Src, &t.Dst
			if string(a[:]) > string(b[:]) {
				a, b = b, a
			}
			mix(binary.LittleEndian.Uint64(a[:8]))
			mix(binary.LittleEndian.Uint64(a[8:]))
			mix(binary.LittleEndian.Uint64(b[:8]))
			mix(binary.LittleEndian.Uint64(b[8:]))
		}
	}
	if h == 0 {
		h = 1
	}
	return h
}
