package ntp

import (
	"slices"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/detectortest"
)

// TestDefaultPolicyOnDetectorFacts runs the default policy (rules/default.yaml) over the facts
// this detector reads from hand-made exchanges: the detector gives the policy what its rules
// look for, and nothing that raises a rule it should not.
func TestDefaultPolicyOnDetectorFacts(t *testing.T) {
	bigMonlist := []step{{flow.FromClient, monlistRequest}}
	for range 20 {
		bigMonlist = append(bigMonlist, step{flow.FromServer, monlistResponse})
	}
	peerList := slices.Clone(monlistRequest)
	peerList[3] = 0
	v3 := slices.Clone(clientRequest)
	v3[0] = 0x1b
	cases := []struct {
		name   string
		onPort bool
		steps  []step
		fire   []string
	}{
		{"plain client/server", true, []step{{flow.FromClient, clientRequest}, {flow.FromServer, serverReply}},
			[]string{"ntp.unauthenticated"}},
		{"sha1 both ways", true, []step{{flow.FromClient, cat(clientRequest, sha1MAC)}, {flow.FromServer, cat(serverReply, sha1MAC)}},
			nil},
		{"mac on the request only", true, []step{{flow.FromClient, cat(clientRequest, sha1MAC)}, {flow.FromServer, cat(serverReply, cryptoNAK)}},
			[]string{"ntp.unauthenticated"}},
		{"nts", true, []step{{flow.FromClient, ntsRequest}, {flow.FromServer, ntsReply}},
			nil},
		{"kiss-of-death", true, []step{{flow.FromClient, clientRequest}, {flow.FromServer, kissRATE}},
			[]string{"ntp.unauthenticated"}},
		{"old version off port 123", false, []step{{flow.FromClient, v3}},
			[]string{"ntp.old-version", "proto.nonstandard-port"}},
		{"readvar", true, []step{{flow.FromClient, readvarRequest}, {flow.FromServer, readvarResponse}},
			[]string{"ntp.mode6"}},
		{"readvar unanswered", true, []step{{flow.FromClient, readvarRequest}},
			[]string{"ntp.mode6"}},
		{"monlist probe", true, []step{{flow.FromClient, monlistRequest}},
			[]string{"ntp.monlist"}},
		{"monlist amplified", true, bigMonlist,
			[]string{"ntp.monlist", "ntp.amplification"}},
		// At the victim of a reflection only the replies are seen: no request to name.
		{"monlist reflection at the victim", true, bigMonlist[1:],
			[]string{"ntp.amplification"}},
		{"peer_list", true, []step{{flow.FromClient, peerList}},
			[]string{"ntp.mode7"}},
	}
	for _, c := range cases {
		f := newFlow(c.onPort)
		feed(New(), f, c.steps...)
		fired := detectortest.Findings(t, &f.Record)
		slices.Sort(c.fire)
		if !slices.Equal(fired, c.fire) {
			t.Errorf("%s: fired %v, want %v", c.name, fired, c.fire)
		}
	}
}
