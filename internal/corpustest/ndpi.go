package corpustest

import (
	"bufio"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// OtherDir returns the corpus of captures of other protocols, <root>/../shared/corpus-other
// (nDPI's test captures, each with nDPI's expected output NAME.out beside it), and skips the
// test when it is absent.
func OtherDir(t testing.TB) string {
	t.Helper()
	return sharedDir(t, "corpus-other", "corpus of other protocols absent (../shared/corpus-other beside the repository)")
}

// FlowKey names a flow whichever way round its ends are given.
type FlowKey struct {
	Transport flow.Transport
	Lo, Hi    netip.AddrPort
}

// Key returns the FlowKey of a flow between a and b.
func Key(tr flow.Transport, a, b netip.AddrPort) FlowKey {
	a, b = netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), netip.AddrPortFrom(b.Addr().Unmap(), b.Port())
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return FlowKey{tr, a, b}
}

// ndpiFlow matches a flow line of nDPI's expected output, for example
//
//	1	UDP 192.168.2.225:45290 <-> 192.168.2.134:53 [proto: 5/DNS][IP: 0/Unknown]...
//	2	TCP [2001:db8::1]:60205 -> [2001:db8::2]:443 [proto: 91.126/TLS.Google]...
//	5	UDP 10.140.117.35:45634 <-> 193.122.35.237:8801 [VLAN: 113][proto: GTP:189/Zoom]...
var ndpiFlow = regexp.MustCompile(`^\s*\d+\s+(TCP|UDP) (\S+) <?-> (\S+) (?:\[[A-Za-z ]+: [^\]]*\])*?\[proto: ([^\]]*)\]`)

// NDPIProtocols reads nDPI's expected output (a NAME.out file) and returns, per TCP and UDP
// flow, the protocol names nDPI gave it: "91.126/TLS.Google" gives TLS and Google,
// "CAPWAP:91.239/TLS.GoogleServices" CAPWAP, TLS and GoogleServices.
func NDPIProtocols(t testing.TB, path string) map[FlowKey][]string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	out := map[FlowKey][]string{}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := ndpiFlow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		a, errA := netip.ParseAddrPort(m[2])
		b, errB := netip.ParseAddrPort(m[3])
		if errA != nil || errB != nil {
			t.Fatalf("%s: unreadable flow line %q", path, sc.Text())
		}
		tr := flow.TCP
		if m[1] == "UDP" {
			tr = flow.UDP
		}
		var names []string
		for _, p := range strings.Split(m[4], ":") {
			_, n, _ := strings.Cut(p, "/")
			names = append(names, strings.Split(n, ".")...)
		}
		k := Key(tr, a, b)
		out[k] = append(out[k], names...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
