package ntp

import (
	"slices"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// proposedRules are the conditions the README proposes for the policy, over the expr names
// of the facts. The test compiles them against flow.Record, so a renamed field breaks here
// first, and checks which fire on each exchange.
var proposedRules = map[string]string{
	"ntp.monlist":           `ntp.monlist.seen`,
	"ntp.monlist_amplifier": `ntp.monlist.answered`,
	"ntp.mode7":             `ntp.mode7_requests > ntp.monlist.requests`,
	"ntp.mode7_each":        `any(ntp.mode7, {!.response && .request_code not in [20, 42]})`,
	"ntp.mode6":             `ntp.mode6_requests > 0 && !ntp.mode6_answered`,
	"ntp.mode6_answered":    `ntp.mode6_answered`,
	"ntp.amplification":     `(ntp.amplification >= 10 || ntp.request_bytes == 0) && ntp.response_bytes >= 2048 && (6 in ntp.modes || 7 in ntp.modes)`,
	"ntp.unauthenticated":   `ntp.unauthenticated_responses > 0 && ntp.authenticated_responses == 0`,
	"ntp.old_version":       `ntp.old_version`,
	"ntp.kiss_of_death":     `ntp.kiss_code in ["DENY", "RSTR", "RATE"]`,
	"ntp.nonstandard_port":  `!ntp.standard_port`,
	"ntp.request_only_auth": `ntp.client_authenticated && !ntp.server_authenticated && ntp.response.seen`,
}

func TestProposedRules(t *testing.T) {
	progs := map[string]func(*flow.Record) bool{}
	for id, cond := range proposedRules {
		p, err := expr.Compile(cond, expr.Env(flow.Record{}), expr.AsBool())
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		progs[id] = func(r *flow.Record) bool {
			out, err := expr.Run(p, *r)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			return out.(bool)
		}
	}
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
			[]string{"ntp.unauthenticated", "ntp.request_only_auth"}},
		{"nts", true, []step{{flow.FromClient, ntsRequest}, {flow.FromServer, ntsReply}},
			nil},
		{"kiss-of-death", true, []step{{flow.FromClient, clientRequest}, {flow.FromServer, kissRATE}},
			[]string{"ntp.unauthenticated", "ntp.kiss_of_death"}},
		{"old version off port 123", false, []step{{flow.FromClient, v3}},
			[]string{"ntp.old_version", "ntp.nonstandard_port"}},
		{"readvar", true, []step{{flow.FromClient, readvarRequest}, {flow.FromServer, readvarResponse}},
			[]string{"ntp.mode6_answered"}},
		{"readvar unanswered", true, []step{{flow.FromClient, readvarRequest}},
			[]string{"ntp.mode6"}},
		{"monlist probe", true, []step{{flow.FromClient, monlistRequest}},
			[]string{"ntp.monlist"}},
		{"monlist amplified", true, bigMonlist,
			[]string{"ntp.monlist", "ntp.monlist_amplifier", "ntp.amplification"}},
		{"monlist reflection at the victim", true, bigMonlist[1:],
			[]string{"ntp.monlist", "ntp.monlist_amplifier", "ntp.amplification"}},
		{"peer_list", true, []step{{flow.FromClient, peerList}},
			[]string{"ntp.mode7", "ntp.mode7_each"}},
	}
	for _, c := range cases {
		f := newFlow(c.onPort)
		feed(New(), f, c.steps...)
		var fired []string
		for id, run := range progs {
			if run(&f.Record) {
				fired = append(fired, id)
			}
		}
		slices.Sort(fired)
		slices.Sort(c.fire)
		if !slices.Equal(fired, c.fire) {
			t.Errorf("%s: fired %v, want %v", c.name, fired, c.fire)
		}
	}
}
