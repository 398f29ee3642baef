package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/rules"
)

// TestMetricsLint: every metric passes client_golang's linter (promlint) with every source
// present, and the sink's counts show up under their names and labels.
func TestMetricsLint(t *testing.T) {
	st := classify.Stats{Flows: 7, TCPGaps: 2, TCPAckedGaps: 1}
	m := New(Sources{
		Interface: "eth0",
		Engine:    func() classify.Stats { return st },
		Feeders:   func() []classify.Stats { return []classify.Stats{{Packets: 5, Bytes: 500}} },
		Workers:   func() ([]classify.Stats, []int) { return []classify.Stats{st}, []int{3} },
		Rings:     func() []Ring { return []Ring{{Packets: 6, Drops: 1, LinkDowns: 1}} },
		Output:    func() (uint64, uint64) { return 10, 2 },
		Suppressed: func() (uint64, uint64) {
			return 4, 0
		},
	}, "v0")
	r := rules.Default().Rules[0]
	m.Sink().Flow(&flow.Record{Label: flow.LDAP}, []*rules.Finding{{Rule: r}})
	m.Reloaded(true, time.Unix(1700000000, 0))
	problems, err := testutil.CollectAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if got := testutil.CollectAndCount(m.Registry(), "pcapaudit_findings_total"); got != 1 {
		t.Errorf("pcapaudit_findings_total has %d series, want 1", got)
	}
	want := `pcapaudit_findings_total{rule="` + r.ID + `",severity="` + r.Severity.String() + `"} 1`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader("# HELP pcapaudit_findings_total Findings reported, by rule and severity.\n# TYPE pcapaudit_findings_total counter\n"+want+"\n"), "pcapaudit_findings_total"); err != nil {
		t.Error(err)
	}
}
