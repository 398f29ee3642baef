package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/internal/packetprog"
)

// FuzzAudit plays packet programs (see internal/packetprog) through the whole command:
// decoder, engine, detectors, the default policy and both reports. Whatever the packets, the
// audit ends with exit 0 or 1, writes one JSON document per line with the flow and finding
// fields every consumer relies on, closes with the summary, writes the same report with one
// worker as with two, and no rule of the default
// policy fails to evaluate on a flow the engine produced (a failing rule finds nothing, so
// such a flow would hide what the rule is for).
func FuzzAudit(f *testing.F) {
	for _, name := range []string{"ldap-simple-bind.pcap", "ldap-starttls-failed.pcap", "ldaps-tls10.pcap", "sip-register-digest-udp.pcap",
		"sip-invite-srtp-sdes-udp.pcap", "sip-tls-5061.pcap", "ntp-client-auth-md5.pcap", "ntp-mode6-rv-mrulist.pcap", "ldap-spn-search.pcap"} {
		s, err := packetprog.Seed(filepath.Join(repo, "testdata", "real", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	// The public corpus beside the repository, when it is there (a failure found from one of
	// these must become a regression test written by hand: the corpus is not copied in).
	for _, s := range packetprog.SeedsIn(filepath.Join(repo, "..", "shared", "corpus"), 64<<10) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		prog := packetprog.Build(data)
		var pcap bytes.Buffer
		if err := packetprog.WritePcap(&pcap, prog); err != nil {
			t.Fatal(err)
		}
		r := runCmd(t, pcap.Bytes(), "--format", "json", "--all", "--workers", "2", "-")
		if r.code != exitOK && r.code != exitFindings {
			t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "failed to evaluate") || strings.Contains(r.stderr, "panic") {
			t.Fatalf("stderr:\n%s", r.stderr)
		}
		var flows, summaries int
		sc := bufio.NewScanner(strings.NewReader(r.stdout))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var doc struct {
				Event struct {
					Dataset string `json:"dataset"`
				} `json:"event"`
				Source *struct {
					IP string `json:"ip"`
				} `json:"source"`
				Rule *struct {
					ID string `json:"id"`
				} `json:"rule"`
				Pcapaudit struct {
					Summary *struct {
						PolicyErrors []any `json:"policy_errors"`
					} `json:"summary"`
				} `json:"pcapaudit"`
			}
			if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
				t.Fatalf("line is not JSON: %v\n%s", err, sc.Text())
			}
			switch doc.Event.Dataset {
			case "pcapaudit.flow":
				flows++
				if doc.Source == nil || doc.Source.IP == "" {
					t.Fatalf("flow without source.ip:\n%s", sc.Text())
				}
			case "pcapaudit.finding":
				if doc.Rule == nil || doc.Rule.ID == "" || doc.Source == nil {
					t.Fatalf("finding without rule.id or source:\n%s", sc.Text())
				}
			case "pcapaudit.summary":
				summaries++
				if s := doc.Pcapaudit.Summary; s == nil || len(s.PolicyErrors) > 0 {
					t.Fatalf("summary with policy errors (or none):\n%s", sc.Text())
				}
			default:
				t.Fatalf("document of dataset %q:\n%s", doc.Event.Dataset, sc.Text())
			}
		}
		if summaries != 1 || (len(prog) > 0 && flows == 0) {
			t.Fatalf("%d packets gave %d flow documents and %d summaries:\n%s", len(prog), flows, summaries, r.stdout)
		}
		// The report is the same for any number of workers.
		if r1 := runCmd(t, pcap.Bytes(), "--format", "json", "--all", "--workers", "1", "-"); r1.stdout != r.stdout || r1.code != r.code {
			t.Fatalf("1 worker (exit %d) and 2 workers (exit %d) wrote different reports:\n%s\n---\n%s", r1.code, r.code, r1.stdout, r.stdout)
		}
		// The text report of the same capture is written too.
		if r := runCmd(t, pcap.Bytes(), "--fail-on", "none", "--color", "never", "-"); r.code != exitOK || r.stdout == "" {
			t.Fatalf("text report: exit %d; stderr:\n%s", r.code, r.stderr)
		}
	})
}
