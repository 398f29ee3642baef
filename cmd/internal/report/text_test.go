package report

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

// A rule raised on many flows is shown once, with as many instances as --list allows and a
// count of the rest; its remedy is said once.
func TestTextGroupsFindingsByRule(t *testing.T) {
	rule := rules.Default().Rules[0]
	var out bytes.Buffer
	x := NewText(&out, false, false, 2)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		r := &flow.Record{File: flow.FileRefOf("f.pcap"), FirstFrame: uint64(10 * i), Start: flow.TimeOf(t0), End: flow.TimeOf(t0), Transport: flow.TCP, Label: flow.LDAP,
			Client: netip.MustParseAddrPort("127.0.0.1:4000" + string(rune('0'+i))), Server: netip.MustParseAddrPort("127.0.0.2:389")}
		x.Flow(r, []*rules.Finding{{Rule: rule, Message: "m", Evidence: flow.Event{Frame: uint64(10*i + 4), Time: flow.TimeOf(t0)}, Count: 1}})
	}
	if err := x.Close(&Summary{Policy: "default"}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"Findings: 5 " + rule.Severity.String(), rule.ID + "  " + rule.Name + "  (5 findings)", "… and 3 more (all of them with --format json)"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if n := strings.Count(s, "    flow      "); n != 2 {
		t.Errorf("%d instances shown, want 2:\n%s", n, s)
	}
	if n := strings.Count(s, "    remedy    "); n != 1 {
		t.Errorf("remedy said %d times, want once:\n%s", n, s)
	}
}
