package audit

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/rules"
)

// keeper is a sink that keeps every record it is given, to read them at Close: the kind of
// consumer that must keep a Clone, since the audit recycles a record's facts once the sinks
// have returned. It writes each record's facts as JSON during its Flow call (seen) and again
// at Close from what it kept (kept).
type keeper struct {
	clone      bool
	recs       []flow.Record
	seen, kept []string
}

func (k *keeper) Flow(r *flow.Record, _ []*rules.Finding) {
	k.seen = append(k.seen, factsJSON(r))
	if k.clone {
		k.recs = append(k.recs, r.Clone())
	} else {
		k.recs = append(k.recs, *r) // wrong: the facts are released after this call
	}
}

func (k *keeper) Close(*report.Summary) error {
	for i := range k.recs {
		k.kept = append(k.kept, factsJSON(&k.recs[i]))
	}
	return nil
}

func factsJSON(r *flow.Record) string {
	b, err := json.Marshal(struct {
		NTP  *flow.NTPFacts
		SIP  *flow.SIPFacts
		LDAP *flow.LDAPFacts
		TLS  *flow.TLSFacts
	}{r.NTP, r.SIP, r.LDAP, r.TLS})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestKeptRecordsNeedAClone: a sink that keeps the records it is given reads at Close exactly
// what it was given when it keeps a Clone, while the facts of the flows go back to their
// pools and are reused (filled with garbage in between: flow.PoisonReleasedFacts). The same
// sink keeping a plain copy of the record reads garbage: this is what the poisoned output
// tests of the commands catch, and what Reporter's contract forbids.
func TestKeptRecordsNeedAClone(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "real", "*.pcap*"))
	if len(files) == 0 {
		t.Fatal("no captures under testdata/real")
	}
	flow.PoisonReleasedFacts(true)
	defer flow.PoisonReleasedFacts(false)
	for _, clone := range []bool{true, false} {
		k := &keeper{clone: clone}
		a := New(Options{Policy: rules.Default(), Workers: 2, All: true, Sinks: []Sink{k}, Log: zerolog.Nop()})
		for _, f := range files {
			a.File(context.Background(), f, nil)
		}
		if _, err := a.Close(); err != nil {
			t.Fatal(err)
		}
		facts, differ := 0, 0
		for i := range k.seen {
			if k.seen[i] != `{"NTP":null,"SIP":null,"LDAP":null,"TLS":null}` {
				facts++
			}
			if k.kept[i] != k.seen[i] {
				differ++
			}
		}
		if facts < 20 {
			t.Fatalf("only %d flows with facts", facts)
		}
		switch {
		case clone && differ > 0:
			t.Errorf("%d of %d records kept as a Clone read otherwise after the audit than during their Flow call", differ, len(k.seen))
		case !clone && differ == 0:
			t.Errorf("records kept without a Clone read the same after their facts were released: the facts were not recycled")
		}
	}
}
