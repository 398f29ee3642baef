package main

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// ndpiNames are the nDPI protocol names that agree with each of our labels. A TLS flow's label
// comes from its server port (LDAPS, SIP-TLS), where nDPI may only say TLS.
var ndpiNames = map[string][]string{
	"ntp":     {"NTP"},
	"sip":     {"SIP"},
	"sip-tls": {"SIP", "TLS"},
	"ldap":    {"LDAP"},
	"ldaps":   {"LDAP", "TLS"},
}

// dissectorSays lists the flows of corpus-other where nDPI's output names another protocol
// but a dissector (tshark) agrees with our label, as "file|transport a:p b:q" (the ends in
// the order corpustest.Key puts them) with the label and why. None so far: nDPI names none of
// the corpus's flows NTP, SIP or LDAP, and tshark's dissectors (display filter
// "ntp || sip || ldap || cldap", heuristics on) match no packet of it either.
var dissectorSays = map[string]string{}

// TestPrecisionOtherProtocols audits every capture of ../shared/corpus-other (public captures
// of protocols other than ours, each with nDPI's expected output beside it) as the command
// does, engine and default policy: no flow may get one of our labels unless nDPI (or, where
// they disagree, tshark) says it is that protocol, no finding may be raised, and no capture
// may make the audit fail. It is skipped when the corpus is absent.
func TestPrecisionOtherProtocols(t *testing.T) {
	dir := corpustest.OtherDir(t)
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "*.cap"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	slices.Sort(files)
	if len(files) < 300 {
		t.Fatalf("%d captures in %s: the corpus holds 349", len(files), dir)
	}
	labelled := 0
	for _, path := range files {
		name := filepath.Base(path)
		r := runCmd(t, nil, "--format", "json", "--fail-on", "none", "--workers", "1", path)
		if r.code != 0 {
			// A file that is not a capture pcapaudit reads is reported with exit 2 and one
			// line; nothing else may go wrong.
			if r.code != 2 || strings.Contains(r.stderr, "panic") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("%s: exit %d: %s", name, r.code, r.stderr)
			}
			continue
		}
		if strings.Contains(r.stderr, "panic") {
			t.Errorf("%s: %s", name, r.stderr)
		}
		var ndpi map[corpustest.FlowKey][]string
		sc := bufio.NewScanner(strings.NewReader(r.stdout))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var d precisionDoc
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			switch d.Event.Kind {
			case "alert":
				t.Errorf("%s: finding %s on %s:%d → %s:%d: %s", name, d.Rule.ID, d.Source.IP, d.Source.Port, d.Destination.IP, d.Destination.Port, d.Message)
			case "metric":
				if n := d.Pcapaudit.Summary.Bounds["detector_failures"]; n > 0 {
					t.Errorf("%s: %d detector failures", name, n)
				}
			case "event":
				if d.Network.Protocol == "unknown" {
					continue
				}
				if ndpi == nil {
					ndpi = corpustest.NDPIProtocols(t, path+".out")
				}
				tr := flow.UDP
				if d.Network.Transport == "tcp" {
					tr = flow.TCP
				}
				k := corpustest.Key(tr, netip.AddrPortFrom(netip.MustParseAddr(d.Source.IP), d.Source.Port),
					netip.AddrPortFrom(netip.MustParseAddr(d.Destination.IP), d.Destination.Port))
				said := ndpi[k]
				agree := slices.ContainsFunc(ndpiNames[d.Network.Protocol], func(n string) bool { return slices.Contains(said, n) })
				id := name + "|" + d.Network.Transport + " " + k.Lo.String() + " " + k.Hi.String()
				if agree || dissectorSays[id] != "" {
					labelled++
				} else {
					t.Errorf("%s: flow %s labelled %s; nDPI says %v", name, id, d.Network.Protocol, said)
				}
			}
		}
	}
	t.Logf("%d captures audited, %d flows given one of our labels with nDPI's agreement", len(files), labelled)
}

// precisionDoc is what TestPrecisionOtherProtocols reads of an NDJSON document.
type precisionDoc struct {
	Event struct {
		Kind string `json:"kind"`
	} `json:"event"`
	Network struct {
		Protocol  string `json:"protocol"`
		Transport string `json:"transport"`
	} `json:"network"`
	Source, Destination struct {
		IP   string `json:"ip"`
		Port uint16 `json:"port"`
	}
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	Message   string `json:"message"`
	Pcapaudit struct {
		Summary struct {
			Bounds map[string]int `json:"bounds"`
		} `json:"summary"`
	} `json:"pcapaudit"`
}
