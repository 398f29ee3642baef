package report

import (
	"net/netip"
	"strconv"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// DisplayFilter is a Wireshark display filter that isolates the flow of r: both addresses
// and both ports, for example
//
//	ip.addr==10.0.0.1 && ip.addr==10.0.0.2 && tcp.port==50000 && tcp.port==389
//
// (ipv6.addr for IPv6). When both ends share an address or a port the filter names it once.
func DisplayFilter(r *flow.Record) string {
	return string(appendDisplayFilter(nil, r.Client, r.Server, r.Transport))
}

func appendDisplayFilter(b []byte, c, s netip.AddrPort, t flow.Transport) []byte {
	ca, sa := c.Addr().Unmap(), s.Addr().Unmap()
	field := "ip.addr=="
	if !ca.Is4() {
		field = "ipv6.addr=="
	}
	b = append(b, field...)
	b = ca.AppendTo(b)
	if sa != ca {
		b = append(b, " && "...)
		b = append(b, field...)
		b = sa.AppendTo(b)
	}
	port := " && udp.port=="
	if t == flow.TCP {
		port = " && tcp.port=="
	}
	b = append(b, port...)
	b = strconv.AppendUint(b, uint64(c.Port()), 10)
	if s.Port() != c.Port() {
		b = append(b, port...)
		b = strconv.AppendUint(b, uint64(s.Port()), 10)
	}
	return b
}
