package main

import (
	"os"

	"github.com/spf13/pflag"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/cmd/internal/triage"
)

// triageFlags narrow an audit down: the filters every output shares and the flagged-flow
// capture.
type triageFlags struct {
	spec    triage.Spec
	flagged string
}

// add adds the filters and --write-flagged.
func (t *triageFlags) add(fl *pflag.FlagSet) {
	t.addFilters(fl)
	fl.StringVar(&t.flagged, "write-flagged", "", "write every packet of the flows with a finding (after the filters) to this pcapng file, evidence packets commented")
}

// addFilters adds the filters alone (the summary takes them too).
func (t *triageFlags) addFilters(fl *pflag.FlagSet) {
	fl.StringArrayVar(&t.spec.Hosts, "host", nil, "keep flows with an end in this IP or CIDR (repeatable; checked before the detectors run)")
	fl.StringArrayVar(&t.spec.Ports, "port", nil, "keep flows with an end on this port (repeatable, or a comma list; checked before the detectors run)")
	fl.StringArrayVar(&t.spec.Protocols, "protocol", nil, "keep flows of these protocols: ntp, sip, sip-tls, ldap, ldaps, unknown (comma list)")
	fl.StringVar(&t.spec.Since, "since", "", "read packets from this time on: RFC 3339, or a duration from the start of the input (10m)")
	fl.StringVar(&t.spec.Until, "until", "", "read packets before this time: RFC 3339, or a duration from the start of the input")
	fl.BoolVar(&t.spec.OnlyFindings, "only-findings", false, "keep only flows with a finding (that passes --min-severity and --rule)")
	fl.StringVar(&t.spec.MinSeverity, "min-severity", "", "keep findings of this severity or higher: low, medium, high, critical")
	fl.StringArrayVar(&t.spec.Rules, "rule", nil, "keep findings of the rules matching this id or glob (repeatable, e.g. 'ldap.*')")
}

// setup checks the triage flags before anything starts: the filter, and the flagged capture's
// file (created now, so that a path that cannot be written stops the run at once).
func (t *triageFlags) setup(inputs []string) (*triage.Filter, *os.File, error) {
	f, err := triage.Parse(t.spec)
	if err != nil {
		return nil, nil, usageErr("%v", err)
	}
	var out *os.File
	if t.flagged != "" {
		for _, n := range inputs {
			if n == capture.Stdin {
				return nil, nil, usageErr("%v", triage.ErrNeedsFile)
			}
		}
		if out, err = triage.CreateOutput("write-flagged", t.flagged); err != nil {
			return nil, nil, usageErr("%v", err)
		}
	}
	return f, out, nil
}
