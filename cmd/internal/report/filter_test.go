package report

import (
	"net/netip"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

func TestDisplayFilter(t *testing.T) {
	for _, c := range []struct {
		tr             flow.Transport
		client, server string
		want           string
	}{
		{flow.TCP, "10.0.0.1:51000", "10.0.0.2:389", "ip.addr==10.0.0.1 && ip.addr==10.0.0.2 && tcp.port==51000 && tcp.port==389"},
		{flow.UDP, "127.0.0.1:40000", "127.0.0.1:123", "ip.addr==127.0.0.1 && ip.addr==127.0.0.1 && udp.port==40000 && udp.port==123"},
		{flow.TCP, "[2001:db8::1]:5061", "[2001:db8::2]:443", "ipv6.addr==2001:db8::1 && ipv6.addr==2001:db8::2 && tcp.port==5061 && tcp.port==443"},
		// An IPv4-mapped address is IPv4 on the wire: Wireshark's ip.addr matches it.
		{flow.UDP, "[::ffff:192.0.2.7]:5060", "192.0.2.8:5060", "ip.addr==192.0.2.7 && ip.addr==192.0.2.8 && udp.port==5060 && udp.port==5060"},
	} {
		got := DisplayFilter(c.tr, netip.MustParseAddrPort(c.client), netip.MustParseAddrPort(c.server))
		if got != c.want {
			t.Errorf("%s %s %s:\n got %s\nwant %s", c.tr, c.client, c.server, got, c.want)
		}
	}
}
