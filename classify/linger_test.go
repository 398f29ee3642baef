package classify_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestAnsweredUDPExchangeEndsAfterItsLinger plays each real UDP exchange twice on the same
// endpoints, the second time a minute later (as ntpd polls): an answered exchange (an NTP
// reply, a CLDAP search result, a SIP OPTIONS or REGISTER answered) ends after its protocol's
// short linger, so the two plays are two records, the first ended "idle" at its last packet
// plus the linger; a SIP dialog (INVITE) keeps the 2-minute UDP timeout and stays one flow.
func TestAnsweredUDPExchangeEndsAfterItsLinger(t *testing.T) {
	lingers := classify.DefaultUDPAnswered()
	cases := []struct {
		file  string
		label flow.Label
		early bool
	}{
		{"real/ntp-client.pcap", flow.NTP, true},
		{"real/ntp-mode6-rv-mrulist.pcap", flow.NTP, true},
		{"gen/cldap.pcap", flow.LDAP, true},
		{"real/sip-options-udp-5080.pcap", flow.SIP, true},
		{"real/sip-register-digest-udp.pcap", flow.SIP, true},
		{"real/sip-invite-rtp-udp.pcap", flow.SIP, false},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			frames := readAll(t, filepath.Join("..", "testdata", filepath.FromSlash(c.file)))
			var recs []flow.Record
			cfg := classify.DefaultConfig()
			cfg.Detectors = classify.Detectors(nil)
			e := classify.New(cfg, func(r *flow.Record) { recs = append(recs, *r) })
			playTwice(e, frames)
			if !c.early {
				if len(recs) != 1 || recs[0].EndReason != flow.EndEOF || recs[0].Label != c.label {
					t.Fatalf("want one %v flow open to the end, got %d records: %+v", c.label, len(recs), recs)
				}
				return
			}
			if len(recs) != 2 || recs[0].Label != c.label || recs[1].Label != c.label {
				t.Fatalf("want two %v records, got %d: %+v", c.label, len(recs), recs)
			}
			first := recs[0]
			if first.EndReason != flow.EndIdle || !first.EmitAt.Equal(first.End.Add(lingers[c.label])) {
				t.Errorf("first record: reason %v, emitted at %v, want idle at its last packet %v + %v",
					first.EndReason, first.EmitAt, first.End, lingers[c.label])
			}
			if recs[1].EndReason != flow.EndEOF || recs[1].Packets != first.Packets {
				t.Errorf("second record: reason %v, packets %v, want eof with the packets of the first %v",
					recs[1].EndReason, recs[1].Packets, first.Packets)
			}
		})
	}

	// With the lingers off, the two plays stay one flow (the UDP idle timeout is 2 minutes).
	frames := readAll(t, filepath.Join("..", "testdata", "real", "ntp-client.pcap"))
	cfg := classify.DefaultConfig()
	cfg.Detectors = classify.Detectors(nil)
	cfg.UDPAnswered = [flow.NumLabels]time.Duration{}
	n := 0
	e := classify.New(cfg, func(*flow.Record) { n++ })
	playTwice(e, frames)
	if n != 1 {
		t.Errorf("lingers off: %d records, want 1", n)
	}
}

// playTwice plays frames through e, then again a minute later on the same endpoints, and
// ends the input.
func playTwice(e *classify.Engine, frames []frame) {
	for _, shift := range []time.Duration{0, time.Minute} {
		for i := range frames {
			p := frames[i].p
			p.Timestamp = p.Timestamp.Add(shift)
			e.Packet(&p)
		}
	}
	e.Flush()
}
