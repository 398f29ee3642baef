package ntp

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/lookalike"
)

func TestClientServer(t *testing.T) {
	d := New()
	f := newFlow(true)
	if v := feed(d, f, step{flow.FromClient, clientRequest}, step{flow.FromServer, serverReply}); v != flow.More {
		t.Fatalf("verdict %v, want More (NTP flows keep counting)", v)
	}
	if f.Label != flow.NTP || f.NTP == nil {
		t.Fatalf("not claimed: label %v", f.Label)
	}
	x := f.NTP
	if x.Version != 4 || x.Mode != 3 || !slices.Equal(x.Modes, []int{3, 4}) || x.ModeMask != 1<<3|1<<4 {
		t.Errorf("version %d mode %d modes %v mask %#x", x.Version, x.Mode, x.Modes, x.ModeMask)
	}
	if x.First.Frame != 1 || x.ClientMessages != 1 || x.ServerMessages != 1 || x.Messages != 2 {
		t.Errorf("first %v counts %d/%d/%d", x.First, x.ClientMessages, x.ServerMessages, x.Messages)
	}
	if x.OldVersion || x.TimeVersion != 4 || !x.StandardPort {
		t.Errorf("old %v time version %d standard port %v", x.OldVersion, x.TimeVersion, x.StandardPort)
	}
	if x.Auth != "none" || x.UnauthenticatedResponses != 1 || x.ServerAuthenticated || x.ClientAuthenticated {
		t.Errorf("auth %q unauth %d", x.Auth, x.UnauthenticatedResponses)
	}
	if x.RequestBytes != 48 || x.ResponseBytes != 48 || x.Amplification != 1 {
		t.Errorf("bytes %d/%d amp %v", x.RequestBytes, x.ResponseBytes, x.Amplification)
	}
	rq, rs := x.Request, x.Response
	if !rq.Seen || rq.Mode != 3 || rq.Poll != 6 || rq.Precision != -23 || rq.ReferenceID != "" {
		t.Errorf("request %+v", rq)
	}
	if want := time.Date(2024, 5, 1, 12, 0, 0, 5e8, time.UTC); !rq.Transmit.Time().Equal(want) || !rq.Origin.IsZero() {
		t.Errorf("request transmit %v origin %v", rq.Transmit, rq.Origin)
	}
	if !rs.Seen || rs.At.Frame != 2 || rs.Stratum != 2 || rs.ReferenceID != "192.0.2.123" ||
		rs.RootDelay != 0.03125 || rs.RootDispersion != 1 || rs.Precision != -24 || rs.Auth != "none" {
		t.Errorf("response %+v", rs)
	}
	if !rs.Origin.Equal(rq.Transmit) || !rs.Reference.Time().Equal(time.Date(2024, 5, 1, 11, 54, 40, 0, time.UTC)) {
		t.Errorf("response origin %v reference %v", rs.Origin, rs.Reference)
	}
	if x.KissCode != "" || x.Mode6 != nil || x.Mode7 != nil || x.Monlist.Seen {
		t.Errorf("unexpected kiss %q / mode 6/7 facts", x.KissCode)
	}
	if f.ParseErrors != 0 {
		t.Errorf("parse errors %d: %s", f.ParseErrors, f.ParseError)
	}
}

func TestResponseFirstReverses(t *testing.T) {
	d := New()
	f := newFlow(true)
	// The capture starts with the server's reply, sent by what the engine took for the client.
	feed(d, f, step{flow.FromClient, serverReply}, step{flow.FromServer, clientRequest})
	if f.Client != addrServer || f.Server != addrClient {
		t.Fatalf("not reversed: client %v server %v", f.Client, f.Server)
	}
	x := f.NTP
	if x.ServerMessages != 1 || x.ClientMessages != 1 || x.Mode != 4 || !x.Response.Seen || !x.Request.Seen {
		t.Errorf("counts %d/%d mode %d", x.ClientMessages, x.ServerMessages, x.Mode)
	}
	// A request first keeps the orientation.
	f = newFlow(true)
	feed(d, f, step{flow.FromClient, clientRequest})
	if f.Client != addrClient {
		t.Errorf("request first reversed the flow")
	}
}

func TestKissOfDeath(t *testing.T) {
	f := newFlow(true)
	feed(New(), f, step{flow.FromClient, clientRequest}, step{flow.FromServer, kissRATE})
	x := f.NTP
	if x.KissCode != "RATE" || x.Response.Stratum != 0 || x.Response.ReferenceID != "RATE" || x.Response.Leap != 3 {
		t.Errorf("kiss %q response %+v", x.KissCode, x.Response)
	}
	// Off port 123 a kiss code is still readable (its reference id is text).
	f = newFlow(false)
	feed(New(), f, step{flow.FromServer, kissRATE})
	if f.NTP == nil || f.NTP.KissCode != "RATE" {
		t.Errorf("kiss-of-death off port 123 not claimed")
	}
}

func TestSymmetricKey(t *testing.T) {
	cases := []struct {
		name      string
		mac       []byte
		keyID     uint32
		length    int
		typ       string
		replyAuth bool
	}{
		{"sha1", sha1MAC, 2, 20, "sha1", true},
		{"md5", md5MAC, 1, 16, "md5/aes-cmac", true},
		{"request only", sha1MAC, 2, 20, "sha1", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reply := serverReply
			if c.replyAuth {
				reply = cat(serverReply, c.mac)
			}
			f := newFlow(false) // also off port 123: a MAC is a valid trailer there too
			feed(New(), f, step{flow.FromClient, cat(clientRequest, c.mac)}, step{flow.FromServer, reply})
			x := f.NTP
			if x == nil {
				t.Fatal("not claimed")
			}
			if x.Auth != "symmetric" || x.KeyID != c.keyID || x.MACLength != c.length || x.MACType != c.typ {
				t.Errorf("auth %q key %d len %d type %q", x.Auth, x.KeyID, x.MACLength, x.MACType)
			}
			if !x.ClientAuthenticated || x.ServerAuthenticated != c.replyAuth || x.Request.Auth != "symmetric" {
				t.Errorf("client %v server %v", x.ClientAuthenticated, x.ServerAuthenticated)
			}
			if c.replyAuth != (x.UnauthenticatedResponses == 0) || c.replyAuth != (x.AuthenticatedResponses == 1) {
				t.Errorf("unauth %d auth %d", x.UnauthenticatedResponses, x.AuthenticatedResponses)
			}
		})
	}
}

func TestCryptoNAK(t *testing.T) {
	f := newFlow(true)
	feed(New(), f, step{flow.FromClient, cat(clientRequest, sha1MAC)}, step{flow.FromServer, cat(serverReply, cryptoNAK)})
	x := f.NTP
	if !x.CryptoNAK || x.ServerAuthenticated || x.UnauthenticatedResponses != 1 || x.Response.Auth != "crypto-nak" {
		t.Errorf("nak %v server auth %v unauth %d response auth %q", x.CryptoNAK, x.ServerAuthenticated, x.UnauthenticatedResponses, x.Response.Auth)
	}
}

func TestNTS(t *testing.T) {
	f := newFlow(true)
	feed(New(), f, step{flow.FromClient, ntsRequest}, step{flow.FromServer, ntsReply})
	x := f.NTP
	if x.Auth != "nts" || !x.ClientAuthenticated || !x.ServerAuthenticated || x.UnauthenticatedResponses != 0 {
		t.Errorf("auth %q client %v server %v unauth %d", x.Auth, x.ClientAuthenticated, x.ServerAuthenticated, x.UnauthenticatedResponses)
	}
	if want := []int{0x0104, 0x0204, 0x0304, 0x0404}; !slices.Equal(x.ExtensionFields, want) {
		t.Errorf("extension fields %v, want %v", x.ExtensionFields, want)
	}
	if x.MACLength != 0 || x.Request.Auth != "nts" || x.Response.Auth != "nts" {
		t.Errorf("mac %d request %q response %q", x.MACLength, x.Request.Auth, x.Response.Auth)
	}
	// Extension fields without the Authenticator: not NTS-protected.
	f = newFlow(true)
	feed(New(), f, step{flow.FromClient, cat(clientRequest, ntsUID, ntsCookie)}, step{flow.FromServer, cat(serverReply, ntsUID)})
	if x := f.NTP; x.Auth != "none" || x.UnauthenticatedResponses != 1 {
		t.Errorf("fields without authenticator: auth %q", x.Auth)
	}
}

func TestMode6(t *testing.T) {
	f := newFlow(true)
	feed(New(), f, step{flow.FromClient, readvarRequest}, step{flow.FromServer, readvarResponse})
	x := f.NTP
	if x.Mode != 6 || x.Version != 2 || x.Mode6Requests != 1 || x.Mode6Responses != 1 || !x.Mode6Answered {
		t.Fatalf("mode %d counts %d/%d answered %v", x.Mode, x.Mode6Requests, x.Mode6Responses, x.Mode6Answered)
	}
	if len(x.Mode6) != 2 {
		t.Fatalf("mode6 list %d", len(x.Mode6))
	}
	rq, rs := x.Mode6[0], x.Mode6[1]
	if rq.Opcode != 2 || rq.Name != "readvar" || rq.Response || rq.At.Frame != 1 || rq.Sequence != 1 {
		t.Errorf("request %+v", rq)
	}
	if rs.Opcode != 2 || !rs.Response || rs.Error || rs.Count != 53 || rs.At.Frame != 2 {
		t.Errorf("response %+v", rs)
	}
	if x.OldVersion || x.TimeVersion != 0 || x.UnauthenticatedResponses != 0 {
		t.Errorf("mode 6 version 2 counted as old time protocol, or as unauthenticated time")
	}
	if x.RequestBytes != 12 || x.ResponseBytes != uint64(len(readvarResponse)) || x.Amplification != float64(len(readvarResponse))/12 {
		t.Errorf("bytes %d/%d amp %v", x.RequestBytes, x.ResponseBytes, x.Amplification)
	}
	// An error response is not an answer.
	errResp := slices.Clone(readvarResponse)
	errResp[1] |= 0x40
	f = newFlow(true)
	feed(New(), f, step{flow.FromClient, readvarRequest}, step{flow.FromServer, errResp})
	if f.NTP.Mode6Answered || !f.NTP.Mode6[1].Error {
		t.Errorf("error response counted as answered")
	}
}

func TestMode7Monlist(t *testing.T) {
	f := newFlow(true)
	feed(New(), f, step{flow.FromClient, monlistRequest}, step{flow.FromServer, monlistResponse}, step{flow.FromServer, monlistResponse})
	x := f.NTP
	ml := x.Monlist
	if !ml.Seen || !ml.Answered || ml.Requests != 1 || ml.Responses != 2 || ml.Request.Frame != 1 || ml.Response.Frame != 2 {
		t.Errorf("monlist %+v", ml)
	}
	if ml.ResponseBytes != 2*uint64(len(monlistResponse)) || x.Mode7Requests != 1 || x.Mode7Responses != 2 || !x.Mode7Answered {
		t.Errorf("monlist bytes %d mode 7 %d/%d", ml.ResponseBytes, x.Mode7Requests, x.Mode7Responses)
	}
	p := x.Mode7[0]
	if p.Implementation != 3 || p.ImplementationName != "xntpd" || p.RequestCode != 42 || p.Name != "mon_getlist_1" || p.Response {
		t.Errorf("request %+v", p)
	}
	if r := x.Mode7[1]; !r.Response || r.Items != 2 || r.ItemSize != 72 {
		t.Errorf("response %+v", r)
	}
	if want := float64(2*len(monlistResponse)) / 48; x.Amplification != want {
		t.Errorf("amplification %v, want %v", x.Amplification, want)
	}
	// A response alone (a reflection seen at the victim) is reversed and still monlist.
	f = newFlow(false)
	f.Client = addrServer // the amplifier sends from 123 to the victim
	f.Server = addrClient
	feed(New(), f, step{flow.FromClient, monlistResponse})
	if f.NTP == nil || !f.NTP.Monlist.Answered || f.NTP.Monlist.Requests != 0 || f.Client != addrClient {
		t.Errorf("lone monlist response: facts %+v client %v", f.NTP, f.Client)
	}
	// Another mode 7 request is listed but is not monlist.
	peerList := slices.Clone(monlistRequest)
	peerList[3] = 0
	f = newFlow(true)
	feed(New(), f, step{flow.FromClient, peerList})
	if x := f.NTP; x.Monlist.Seen || x.Mode7[0].Name != "peer_list" || x.Mode7Requests != 1 {
		t.Errorf("peer_list: %+v", x.Mode7)
	}
}

func TestOldVersion(t *testing.T) {
	v3 := slices.Clone(clientRequest)
	v3[0] = 0x1b // VN 3, mode 3
	f := newFlow(true)
	feed(New(), f, step{flow.FromClient, v3}, step{flow.FromServer, serverReply})
	if !f.NTP.OldVersion || f.NTP.TimeVersion != 3 {
		t.Errorf("old %v time version %d", f.NTP.OldVersion, f.NTP.TimeVersion)
	}
}

func TestListsBounded(t *testing.T) {
	f := newFlow(true)
	d := New()
	steps := []step{}
	for range 100 {
		steps = append(steps, step{flow.FromClient, readvarRequest}, step{flow.FromClient, monlistRequest})
	}
	feed(d, f, steps...)
	x := f.NTP
	if len(x.Mode6) != maxControl || len(x.Mode7) != maxPrivate || x.Mode6Requests != 100 || x.Mode7Requests != 100 || x.Monlist.Requests != 100 {
		t.Errorf("lists %d/%d counts %d/%d", len(x.Mode6), len(x.Mode7), x.Mode6Requests, x.Mode7Requests)
	}
}

func TestMalformedAfterClaim(t *testing.T) {
	f := newFlow(true)
	feed(New(), f, step{flow.FromClient, clientRequest}, step{flow.FromServer, serverReply}, step{flow.FromServer, rtpPacket})
	x := f.NTP
	if x.Malformed != 1 || f.ParseErrors != 1 || x.Messages != 2 || !x.Response.Seen {
		t.Errorf("malformed %d parse errors %d messages %d", x.Malformed, f.ParseErrors, x.Messages)
	}
}

func TestRejects(t *testing.T) {
	short := slices.Clone(clientRequest[:47])
	badStratum := slices.Clone(serverReply)
	badStratum[1] = 32
	badTrailer := cat(serverReply, make([]byte, 25))
	unknownImpl := slices.Clone(monlistRequest)
	unknownImpl[2] = 9
	ctrlBadCount := slices.Clone(readvarRequest)
	ctrlBadCount[11] = 40 // count past the datagram
	reqWithE := slices.Clone(readvarRequest)
	reqWithE[1] |= 0x40
	v5 := slices.Clone(clientRequest)
	v5[0] = 0x2b
	mode0 := slices.Clone(clientRequest)
	mode0[0] = 0x20
	cases := []struct {
		name    string
		data    []byte
		onPort  bool
		offPort bool // rejected off port 123 too (always true here: rejected everywhere)
	}{
		{"dns query", dnsQuery, false, true},
		{"dns query shaped like mode 6", dnsControl, false, true},
		{"rtp", rtpPacket, true, true},
		{"short", short, true, true},
		{"stratum 32", badStratum, true, true},
		{"version 5", v5, true, true},
		{"mode 0", mode0, true, true},
		{"mode 7 implementation 9", unknownImpl, true, true},
		{"mode 6 count past end", ctrlBadCount, true, true},
		{"mode 6 request with error bit", reqWithE, true, true},
		{"25 unknown trailing bytes", badTrailer, true, true},
		{"empty", nil, true, true},
	}
	d := New()
	for _, c := range cases {
		for _, onPort := range []bool{false, true} {
			if onPort && !c.onPort {
				continue
			}
			f := newFlow(onPort)
			if v, _ := d.Inspect(f, flow.FromClient, c.data); v != flow.Reject || f.Label != flow.Unknown || f.NTP != nil {
				t.Errorf("%s (port 123 %v): verdict %v label %v", c.name, onPort, v, f.Label)
			}
		}
	}
	// On port 123 too a sane header with an unreadable trailer claims nothing: the port does
	// not make up for what the datagram lacks. Once the flow is NTP, such a datagram is
	// counted as NTP, with a parse error.
	f := newFlow(true)
	if v, _ := d.Inspect(f, flow.FromServer, badTrailer); v != flow.Reject || f.NTP != nil {
		t.Errorf("port 123 bad trailer claimed the flow: %v", v)
	}
	f = newFlow(true)
	feed(d, f, step{flow.FromClient, clientRequest}, step{flow.FromServer, serverReply}, step{flow.FromServer, badTrailer})
	if f.NTP == nil || f.NTP.Messages != 3 || f.ParseErrors != 1 || f.ParseError.String() != ErrTrailer.Error() {
		t.Errorf("port 123 bad trailer after the claim: %+v errors %d", f.NTP, f.ParseErrors)
	}
}

// TestRandomRejected feeds random datagrams on and off port 123: almost none may pass, and
// the port makes no difference (it never turns a weak match into a claim).
func TestRandomRejected(t *testing.T) {
	d := New()
	const n = 200000
	buf := make([]byte, 600)
	for _, onPort := range []bool{false, true} {
		r := rand.New(rand.NewPCG(1, 2))
		claims := 0
		for i := range n {
			b := buf[:8+r.IntN(len(buf)-8)]
			if i%4 == 0 {
				b = buf[:48]
			}
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			f := newFlow(onPort)
			if v, _ := d.Inspect(f, flow.FromClient, b); v != flow.Reject {
				claims++
			}
		}
		// At most 1 in 20,000, wherever.
		if limit := n / 20000; claims > limit {
			t.Errorf("port 123 %v: %d of %d random datagrams claimed", onPort, claims, n)
		}
		t.Logf("port 123 %v: %d of %d random datagrams claimed", onPort, claims, n)
	}
}

func TestTruncation(t *testing.T) {
	fixtures := map[string][]byte{
		"client": clientRequest, "server": serverReply, "kiss": kissRATE,
		"sha1": cat(clientRequest, sha1MAC), "nts request": ntsRequest, "nts reply": ntsReply,
		"readvar request": readvarRequest, "readvar response": readvarResponse,
		"monlist request": monlistRequest, "monlist response": monlistResponse,
	}
	d := New()
	for name, full := range fixtures {
		min := timeHeader
		switch full[0] & 7 {
		case 6:
			min = controlHeader
		case 7:
			min = privateHeader
		}
		for _, onPort := range []bool{false, true} {
			for i := range len(full) {
				f := newFlow(onPort)
				v, n := d.Inspect(f, flow.FromClient, full[:i])
				if i < min && v != flow.Reject {
					t.Errorf("%s: %d-byte prefix (header %d) claimed", name, i, min)
				}
				if v != flow.Reject && (f.NTP == nil || n != i || f.NTP.Messages != 1) {
					t.Errorf("%s: %d-byte prefix claimed without consistent facts", name, i)
				}
			}
		}
	}
}

func TestJSONNames(t *testing.T) {
	f := newFlow(true)
	feed(New(), f, step{flow.FromClient, monlistRequest}, step{flow.FromClient, readvarRequest}, step{flow.FromClient, clientRequest})
	b, err := json.Marshal(f.NTP)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"modes":[7,6,3]`, `"monlist":{"seen":true`, `"mode7":[{`, `"name":"mon_getlist_1"`, `"transmit":"2024-05-01T12:00:00.5Z"`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s: %s", want, s)
		}
	}
	if strings.Contains(s, `"origin"`) {
		t.Errorf("zero timestamp not left out: %s", s)
	}
}

func TestAllocs(t *testing.T) {
	d := New()
	for name, data := range map[string][]byte{"dns": dnsQuery, "rtp": rtpPacket, "random": []byte("\x23garbage that is not ntp at all, long enough for a header"),
		"dns reply read as mode 6": lookalike.DNSRefusedE6, "dtls hello verify": lookalike.DTLS0100HelloVerify} {
		f := newFlow(false)
		if a := testing.AllocsPerRun(100, func() { d.Inspect(f, flow.FromClient, data) }); a != 0 {
			t.Errorf("reject %s: %v allocs", name, a)
		}
	}
	// A sane reply after the other side sent something else.
	other := newFlow(true)
	other.Payload[flow.FromClient] = 40
	var v flow.Verdict
	if a := testing.AllocsPerRun(100, func() { v, _ = d.Inspect(other, flow.FromServer, serverReply) }); a != 0 || v != flow.Reject {
		t.Errorf("reply after another protocol: %v, %v allocs", v, a)
	}
	// Steady state after the claim: the first request and response are recorded, the lists
	// are full; further messages of every kind cost nothing.
	f := newFlow(true)
	steps := []step{{flow.FromClient, cat(clientRequest, sha1MAC)}, {flow.FromServer, kissRATE}, {flow.FromServer, ntsReply}}
	for range 20 {
		steps = append(steps, step{flow.FromClient, readvarRequest}, step{flow.FromClient, monlistRequest})
	}
	feed(d, f, steps...)
	for name, data := range map[string][]byte{"request": clientRequest, "nts": ntsRequest, "mode6": readvarResponse, "mode7": monlistResponse} {
		dir := flow.FromServer
		if data[0]&7 == 3 {
			dir = flow.FromClient
		}
		if a := testing.AllocsPerRun(100, func() { d.Inspect(f, dir, data) }); a != 0 {
			t.Errorf("steady state %s: %v allocs", name, a)
		}
	}
	if a := testing.AllocsPerRun(100, func() { d.Inspect(f, flow.FromServer, serverReply) }); a != 0 {
		t.Errorf("steady state reply: %v allocs", a)
	}
}

func BenchmarkInspect(b *testing.B) {
	d := New()
	b.Run("steady", func(b *testing.B) {
		f := newFlow(true)
		feed(d, f, step{flow.FromClient, clientRequest}, step{flow.FromServer, serverReply})
		b.ReportAllocs()
		b.SetBytes(int64(len(clientRequest) + len(serverReply)))
		for b.Loop() {
			d.Inspect(f, flow.FromClient, clientRequest)
			d.Inspect(f, flow.FromServer, serverReply)
		}
	})
	b.Run("claim", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(clientRequest)))
		for b.Loop() {
			f := newFlow(true)
			d.Inspect(f, flow.FromClient, clientRequest)
		}
	})
	b.Run("reject", func(b *testing.B) {
		f := newFlow(false)
		b.ReportAllocs()
		b.SetBytes(int64(len(dnsQuery)))
		for b.Loop() {
			d.Inspect(f, flow.FromClient, dnsQuery)
		}
	})
}

// TestDataMinimisedClient: NTS clients such as ntpd-rs write precision 32 and a random
// transmit timestamp (NTP data minimisation); that is still a client request.
func TestDataMinimisedClient(t *testing.T) {
	req := slices.Clone(clientRequest)
	req[3] = 0x20                                                          // precision 32
	copy(req[40:], []byte{0x3a, 0x9c, 0x11, 0x07, 0x5e, 0x21, 0x90, 0x0c}) // random transmit
	for _, onPort := range []bool{false, true} {
		f := newFlow(onPort)
		feed(New(), f, step{flow.FromClient, cat(req, ntsUID, ntsCookie, ntsAuthReq)})
		if f.NTP == nil || f.NTP.Request.Precision != 32 || f.NTP.Auth != "nts" {
			t.Errorf("port 123 %v: data-minimised NTS request not read: %+v", onPort, f.NTP)
		}
	}
	// Precision 32 from a server is not plausible.
	rep := slices.Clone(serverReply)
	rep[3] = 0x20
	if v, _ := New().Inspect(newFlow(true), flow.FromServer, rep); v != flow.Reject {
		t.Errorf("server reply with precision 32 claimed")
	}
}

// TestReplyMustAnswer: a claim made on a control or private request stands when the first
// reply echoes it (and the label becomes certain), and is withdrawn when the reply answers
// another request (sequence, opcode, implementation or request code differ).
func TestReplyMustAnswer(t *testing.T) {
	otherSeq := slices.Clone(readvarResponse)
	otherSeq[3] = 9
	otherOp := slices.Clone(readvarResponse)
	otherOp[1] = 0x81 // READSTAT
	otherCode := slices.Clone(monlistResponse)
	otherCode[3] = 20 // MON_GETLIST, asked MON_GETLIST_1
	for _, c := range []struct {
		name         string
		request      []byte
		reply        []byte
		claimed      bool
		certainAfter bool
	}{
		{"readvar answered", readvarRequest, readvarResponse, true, true},
		{"readvar, reply to sequence 9", readvarRequest, otherSeq, false, false},
		{"readvar, readstat reply", readvarRequest, otherOp, false, false},
		{"monlist answered", monlistRequest, monlistResponse, true, true},
		{"monlist, reply to another request code", monlistRequest, otherCode, false, false},
	} {
		f := newFlow(true)
		d := New()
		feed(d, f, step{flow.FromClient, c.request})
		if f.Label != flow.NTP || f.Certain {
			t.Errorf("%s: after the request: label %v certain %v", c.name, f.Label, f.Certain)
		}
		v, _ := d.Inspect(f, flow.FromServer, c.reply)
		if (f.Label == flow.NTP) != c.claimed || (f.NTP != nil) != c.claimed || f.Certain != c.certainAfter || (v == flow.Reject) == c.claimed {
			t.Errorf("%s: after the reply: %v label %v certain %v", c.name, v, f.Label, f.Certain)
		}
	}
}
