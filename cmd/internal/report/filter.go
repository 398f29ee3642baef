package report

import (
	"net/netip"
	"strconv"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// DisplayFilter is a Wireshark display filter that isolates one flow: both addresses and both
// ports, for example
//
//	ip.addr==10.0.0.1 && ip.addr==10.0.0.2 && tcp.port==51000 && tcp.port==389
//
// IPv6 flows use ipv6.addr; an IPv4-mapped IPv6 address is written as IPv4. Every output that
// names a flow's evidence (text, NDJSON, HTML) uses this one function.
func DisplayFilter(t flow.Transport, client, server netip.AddrPort) string {
	return string(AppendDisplayFilter(make([]byte, 0, 96), t, client, server))
}

// AppendDisplayFilter appends DisplayFilter's filter to b, for a writer that must not allocate
// per document (the NDJSON).
func AppendDisplayFilter(b []byte, t flow.Transport, client, server netip.AddrPort) []byte {
	b = appendAddr(b, client.Addr())
	b = append(b, " && "...)
	b = appendAddr(b, server.Addr())
	proto := "tcp"
	if t == flow.UDP {
		proto = "udp"
	}
	b = append(b, " && "...)
	b = append(b, proto...)
	b = append(b, ".port=="...)
	b = strconv.AppendUint(b, uint64(client.Port()), 10)
	b = append(b, " && "...)
	b = append(b, proto...)
	b = append(b, ".port=="...)
	return strconv.AppendUint(b, uint64(server.Port()), 10)
}

func appendAddr(b []byte, a netip.Addr) []byte {
	a = a.Unmap()
	if a.Is4() {
		b = append(b, "ip.addr=="...)
	} else {
		b = append(b, "ipv6.addr=="...)
	}
	return a.AppendTo(b)
}

// Human writes a byte count for a person ("12.3 KiB"), as every report does.
func Human(b uint64) string { return human(b) }
