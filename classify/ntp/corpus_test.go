package ntp

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// capFlow is one UDP flow of a capture, fed to the detector as the engine would: the first
// sender is the client until the detector turns the flow round.
type capFlow struct {
	f        *flow.Flow
	done     bool // rejected: the detector is not called again
	reversed bool // the detector turned the flow round
}

// runCapture feeds every UDP payload of a capture to the detector, one flow per address
// pair, and returns the flows in the order they started.
func runCapture(t *testing.T, path string) []*capFlow {
	t.Helper()
	d := New()
	flows, err := corpustest.Flows(t, path, func(client, server netip.AddrPort, tr flow.Transport, _ bool) (*capFlow, corpustest.Sink) {
		if tr != flow.UDP {
			return nil, nil
		}
		cf := &capFlow{f: flow.New()}
		cf.f.Transport = flow.UDP
		cf.f.Client, cf.f.Server = client, server
		return cf, func(fromClient bool, frame uint64, ts time.Time, payload []byte) {
			if cf.done {
				return
			}
			f := cf.f
			f.Frame, f.Time = frame, flow.TimeOf(ts)
			dir := flow.FromClient
			if fromClient == cf.reversed {
				dir = flow.FromServer
			}
			claimed := f.NTP != nil
			v, n := d.Inspect(f, dir, payload)
			if v == flow.More && n != len(payload) {
				t.Errorf("%s frame %d: consumed %d of %d", path, frame, n, len(payload))
			}
			if !claimed && f.TakeReverse() {
				f.Client, f.Server = f.Server, f.Client
				cf.reversed = !cf.reversed
			}
			if v != flow.More && claimed {
				cf.done = true
			}
		}
	})
	if err != nil {
		t.Log(err)
	}
	return flows
}

func ntpFlows(flows []*capFlow) []*flow.NTPFacts {
	var out []*flow.NTPFacts
	for _, cf := range flows {
		if cf.f.NTP != nil {
			out = append(out, cf.f.NTP)
		}
	}
	return out
}

// corpusExpect holds what each capture's MANIFEST "expected" column (and the source
// project's ground truth) says about its NTP traffic.
var corpusExpect = map[string]func(t *testing.T, flows []*capFlow){
	"ndpi/NTPv2.pcap": func(t *testing.T, flows []*capFlow) {
		// One mode 7 monlist response (implementation 3, request 42), 123 -> 80.
		x := one(t, flows)
		if !x.Monlist.Seen || !x.Monlist.Answered || x.Monlist.Responses != 1 || x.Mode7Responses != 1 {
			t.Errorf("monlist %+v", x.Monlist)
		}
		if p := x.Mode7[0]; p.Implementation != 3 || p.RequestCode != 42 || !p.Response || p.Items != 5 || p.ItemSize != 72 {
			t.Errorf("mode7 %+v", p)
		}
		if c := flows[0].f.Client; c.Port() != 80 {
			t.Errorf("client %v: the monlist target should be the requester", c)
		}
	},
	"ndpi/NTPv4.pcap": func(t *testing.T, flows []*capFlow) {
		x := one(t, flows)
		if x.Version != 4 || x.Mode != 3 || x.Response.Seen || x.UnauthenticatedResponses != 0 || x.OldVersion {
			t.Errorf("%+v", x)
		}
	},
	"zeek/Traces/ntp/ntp.pcap": func(t *testing.T, flows []*capFlow) {
		xs := ntpFlows(flows)
		old, pairs := 0, 0
		for _, x := range xs {
			if !slices.Equal(x.Modes, []int{3, 4}) || x.Mode6 != nil || x.Mode7 != nil {
				t.Errorf("modes %v", x.Modes)
			}
			pairs += int(x.ServerMessages)
			if x.OldVersion {
				old++
			}
			if s := x.Response.Stratum; s < 1 || s > 4 { // ntp.log: strata 1 to 4
				t.Errorf("stratum %d", s)
			}
		}
		if pairs != 16 || old != 1 {
			t.Errorf("%d responses (want 16), %d flows with an old version (want 1)", pairs, old)
		}
	},
	"zeek/Traces/ntp/NTP_sync.pcap": func(t *testing.T, flows []*capFlow) {
		xs := ntpFlows(flows)
		if len(xs) < 5 {
			t.Errorf("%d NTP flows, want 5 or more", len(xs))
		}
		for _, x := range xs {
			if x.Mode != 1 || x.Version != 3 || !x.OldVersion || x.Mode6 != nil || x.Mode7 != nil {
				t.Errorf("mode %d version %d modes %v", x.Mode, x.Version, x.Modes)
			}
		}
		notClaimedOff123(t, flows)
	},
	"zeek/Traces/ntp/ntpmode67.pcap": func(t *testing.T, flows []*capFlow) {
		var ops, codes []int
		monlist := false
		for _, x := range ntpFlows(flows) {
			for _, c := range x.Mode6 {
				ops = append(ops, int(c.Opcode))
			}
			for _, p := range x.Mode7 {
				codes = append(codes, int(p.RequestCode))
			}
			monlist = monlist || x.Monlist.Seen && x.Monlist.Requests == 1 && !x.Monlist.Answered
			if x.OldVersion || x.UnauthenticatedResponses != 0 {
				t.Errorf("control traffic counted as old or unauthenticated time")
			}
		}
		if !slices.Equal(ops, []int{1, 2, 2, 1, 2, 2}) || !slices.Equal(codes, []int{1, 42, 1}) || !monlist {
			t.Errorf("mode 6 opcodes %v, mode 7 codes %v, monlist %v", ops, codes, monlist)
		}
	},
	"zeek/Traces/ntp/ntp-no-extensions-mac.pcap": func(t *testing.T, flows []*capFlow) {
		// Stratum 32, poll 32, precision 32 and 25 stray bytes: malformed, not NTP.
		if xs := ntpFlows(flows); len(xs) != 0 {
			t.Errorf("malformed datagram claimed")
		}
	},
	"zeek/Traces/ntp.pcap": func(t *testing.T, flows []*capFlow) {
		n := 0
		for _, x := range ntpFlows(flows) {
			n += int(x.Messages)
			if x.TimeVersion != 4 || x.Mode6 != nil || x.Mode7 != nil {
				t.Errorf("version %d modes %v", x.TimeVersion, x.Modes)
			}
		}
		if n != 12 {
			t.Errorf("%d messages, want 12", n)
		}
	},
	"tcpdump/ntp.pcap": func(t *testing.T, flows []*capFlow) {
		xs := ntpFlows(flows)
		keyed, nak := false, false
		for _, x := range xs {
			keyed = keyed || x.Auth == "symmetric" && x.KeyID == 8 && x.MACLength == 20 && x.MACType == "sha1" && x.ServerAuthenticated
			nak = nak || x.CryptoNAK
		}
		if !keyed || !nak {
			t.Errorf("key id 8 SHA1 exchange %v, crypto-NAK %v", keyed, nak)
		}
	},
	"tcpdump/ntp-time.pcap": func(t *testing.T, flows []*capFlow) {
		x := one(t, flows)
		if x.ClientMessages != 1 || x.ServerMessages != 1 || x.Auth != "none" || x.UnauthenticatedResponses != 1 {
			t.Errorf("%+v", x)
		}
	},
	"tcpdump/ntp-time-ef.pcap": func(t *testing.T, flows []*capFlow) {
		x := one(t, flows)
		if x.Auth != "nts" || !x.ServerAuthenticated || !x.ClientAuthenticated || x.UnauthenticatedResponses != 0 {
			t.Errorf("auth %q client %v server %v", x.Auth, x.ClientAuthenticated, x.ServerAuthenticated)
		}
		for _, typ := range []int{0x0104, 0x0204, 0x0304, 0x0404} {
			if !slices.Contains(x.ExtensionFields, typ) {
				t.Errorf("extension field %#04x missing from %v", typ, x.ExtensionFields)
			}
		}
	},
	"suricata-verify/ntp-keywords/input.pcap": func(t *testing.T, flows []*capFlow) {
		var versions []int
		for _, x := range ntpFlows(flows) {
			versions = append(versions, int(x.Request.Version))
			if x.Response.Stratum != 2 || x.Response.ReferenceID != "LOCL" || x.Request.Stratum != 0 {
				t.Errorf("response stratum %d refid %q", x.Response.Stratum, x.Response.ReferenceID)
			}
		}
		slices.Sort(versions)
		if !slices.Equal(versions, []int{3, 4}) {
			t.Errorf("request versions %v, want v3 and v4 exchanges", versions)
		}
	},
	"ipfixprobe/inputs/ntp.pcap": func(t *testing.T, flows []*capFlow) {
		n, ref := 0, false
		for _, x := range ntpFlows(flows) {
			n += int(x.Messages)
			ref = ref || x.Response.ReferenceID == "195.113.144.238"
		}
		if n != 56 || !ref {
			t.Errorf("%d messages (want 56), reference id 195.113.144.238 seen %v", n, ref)
		}
	},
	"pcapplusplus/Ntp.pcap": func(t *testing.T, flows []*capFlow) {
		var keys []uint32
		n := 0
		for _, cf := range flows {
			if x := cf.f.NTP; x != nil {
				n += int(x.Messages)
				if cf.f.Client.Addr().Is6() && x.Auth == "symmetric" {
					keys = append(keys, x.KeyID)
				}
			}
		}
		if n != 5 || !slices.Equal(keys, []uint32{1}) && !slices.Equal(keys, []uint32{11}) && !slices.Equal(keys, []uint32{1, 11}) {
			t.Errorf("%d messages, IPv6 key ids %v", n, keys)
		}
	},
	"ndpi/tls_certificate_too_long.pcap": func(t *testing.T, flows []*capFlow) {
		if xs := ntpFlows(flows); len(xs) != 4 {
			t.Errorf("%d NTP flows, want 4", len(xs))
		}
		notClaimedOff123(t, flows)
	},
}

func one(t *testing.T, flows []*capFlow) *flow.NTPFacts {
	t.Helper()
	xs := ntpFlows(flows)
	if len(xs) != 1 {
		t.Fatalf("%d NTP flows, want 1", len(xs))
	}
	return xs[0]
}

// notClaimedOff123 asserts that no flow away from port 123 (DNS, mDNS, ...) was taken for NTP.
func notClaimedOff123(t *testing.T, flows []*capFlow) {
	t.Helper()
	for _, cf := range flows {
		if cf.f.NTP != nil && cf.f.Client.Port() != Port && cf.f.Server.Port() != Port {
			t.Errorf("flow %v-%v claimed off port 123", cf.f.Client, cf.f.Server)
		}
	}
}

// TestCorpus runs the public NTP captures listed in the corpus MANIFEST.
func TestCorpus(t *testing.T) {
	corpustest.Dir(t)
	for path, check := range corpusExpect {
		t.Run(path, func(t *testing.T) {
			check(t, runCapture(t, corpustest.Path(t, "shared:"+path)))
		})
	}
}

// TestCorpusNoFalsePositives runs every capture of the corpus that is not NTP: nothing may be
// taken for NTP off port 123.
func TestCorpusNoFalsePositives(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := corpustest.Dir(t)
	for _, cols := range corpustest.Manifest(t, dir) {
		if len(cols) < 6 || cols[5] == "-" || !strings.HasPrefix(cols[5], "pcap") {
			continue
		}
		full := filepath.Join(dir, cols[0])
		if _, err := os.Stat(full); err != nil {
			continue
		}
		for _, cf := range runCapture(t, full) {
			f := cf.f
			if f.NTP != nil && f.Client.Port() != Port && f.Server.Port() != Port {
				t.Errorf("%s: flow %v-%v claimed off port 123 (modes %v)", cols[0], f.Client, f.Server, f.NTP.Modes)
			}
		}
	}
}

// TestRealCaptures checks the project's own recordings of ntpd, ntpdig and ntpq
// (testdata/real, see its README).
func TestRealCaptures(t *testing.T) {
	dir := filepath.Join(corpustest.Root(t), "testdata", "real")
	run := func(name string) *flow.NTPFacts {
		t.Helper()
		flows := runCapture(t, filepath.Join(dir, name))
		if len(flows) != 1 || flows[0].f.NTP == nil {
			t.Fatalf("%s: %d flows, want one NTP flow", name, len(flows))
		}
		if flows[0].f.ParseErrors != 0 {
			t.Errorf("%s: parse error %s", name, flows[0].f.ParseError)
		}
		return flows[0].f.NTP
	}
	x := run("ntp-client.pcap")
	if x.Version != 4 || !slices.Equal(x.Modes, []int{3, 4}) || x.Response.Stratum != 8 || x.Response.ReferenceID != "127.0.0.1" ||
		x.Auth != "none" || x.UnauthenticatedResponses != 1 || x.OldVersion || x.RequestBytes != 48 || x.ResponseBytes != 48 {
		t.Errorf("ntp-client: %+v", x)
	}
	for name, want := range map[string][3]int{"ntp-client-auth-md5.pcap": {1, 16}, "ntp-client-auth-sha1.pcap": {2, 20}} {
		x := run(name)
		if x.Auth != "symmetric" || int(x.KeyID) != want[0] || x.MACLength != want[1] || !x.ServerAuthenticated ||
			!x.ClientAuthenticated || x.UnauthenticatedResponses != 0 {
			t.Errorf("%s: auth %q key %d mac %d", name, x.Auth, x.KeyID, x.MACLength)
		}
	}
	x = run("ntp-mode6-rv-mrulist.pcap")
	var ops []int
	for _, c := range x.Mode6 {
		ops = append(ops, int(c.Opcode))
	}
	if !slices.Equal(ops, []int{2, 2, 12, 12, 10, 10}) || !x.Mode6Answered || x.Mode6Requests != 3 || x.Mode6Responses != 3 ||
		x.RequestBytes != 12+12+52 || x.ResponseBytes != 364+44+248 || x.OldVersion || x.UnauthenticatedResponses != 0 {
		t.Errorf("mode6: opcodes %v answered %v bytes %d/%d", ops, x.Mode6Answered, x.RequestBytes, x.ResponseBytes)
	}
}
