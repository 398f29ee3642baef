package ntp

import (
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// FuzzInspect checks that no datagram panics the detector, on or off port 123, before and
// after the claim, and that a claim always comes with consistent facts.
func FuzzInspect(f *testing.F) {
	for _, s := range [][]byte{
		clientRequest, serverReply, kissRATE, cat(clientRequest, sha1MAC), cat(serverReply, md5MAC),
		cat(serverReply, cryptoNAK), ntsRequest, ntsReply, readvarRequest, readvarResponse,
		monlistRequest, monlistResponse, dnsQuery, rtpPacket,
	} {
		f.Add(s, true)
	}
	d := New()
	f.Fuzz(func(t *testing.T, data []byte, onPort bool) {
		fl := newFlow(onPort)
		v, n := d.Inspect(fl, flow.FromClient, data)
		switch v {
		case flow.Reject:
			if fl.Label != flow.Unknown || fl.NTP != nil || fl.ParseErrors != 0 {
				t.Fatalf("rejected but changed the flow")
			}
			return
		case flow.More:
			if n != len(data) || fl.NTP == nil || fl.Label != flow.NTP || fl.NTP.Messages != 1 {
				t.Fatalf("claimed: n %d of %d, facts %+v", n, len(data), fl.NTP)
			}
		default:
			t.Fatalf("verdict %v", v)
		}
		// The same bytes again from the other side, after the claim.
		if v, n := d.Inspect(fl, flow.FromServer, data); v != flow.More || n != len(data) || fl.NTP.Messages != 2 {
			t.Fatalf("after claim: verdict %v n %d messages %d", v, n, fl.NTP.Messages)
		}
		if len(fl.NTP.Mode6) > maxControl || len(fl.NTP.Mode7) > maxPrivate || len(fl.NTP.ExtensionFields) > maxEFTypes {
			t.Fatalf("lists past their bounds")
		}
	})
}
