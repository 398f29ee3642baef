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
			if first.EndReason != flow.EndIdle || !first.EmitAt.Equal(flow.TimeOf(first.End.Time().Add(lingers[c.label]))) {
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

// TestNTPBurstIsOneRecord: ntpd's iburst sends eight requests about 2 s apart (chrony's four),
// each answered at once; the client's timer fires a little late, never early. With the default
// linger the burst is one record of all sixteen packets, not records cut wherever the gap after
// a reply came to just over 2 s; after the burst the flow ends at its last reply plus the linger.
func TestNTPBurstIsOneRecord(t *testing.T) {
	frames := readAll(t, filepath.Join("..", "testdata", "real", "ntp-client.pcap"))
	if len(frames) != 2 {
		t.Fatalf("ntp-client.pcap: %d frames, want a request and its reply", len(frames))
	}
	var recs []flow.Record
	cfg := classify.DefaultConfig()
	cfg.Detectors = classify.Detectors(nil)
	e := classify.New(cfg, func(r *flow.Record) { recs = append(recs, *r) })
	const burst = 8
	for i := 0; i < burst; i++ {
		for _, f := range frames {
			p := f.p
			p.Timestamp = p.Timestamp.Add(time.Duration(i) * (2*time.Second + 30*time.Millisecond))
			e.Packet(&p)
		}
	}
	// The next poll, a minute later, is a record of its own.
	late := frames[0].p
	late.Timestamp = late.Timestamp.Add(time.Minute)
	e.Packet(&late)
	e.Flush()
	if len(recs) != 2 || recs[0].Label != flow.NTP || recs[0].Packets != [2]uint64{burst, burst} {
		t.Fatalf("want the burst as one NTP record of %d packets each way and the next poll as another, got %d records: %+v", burst, len(recs), recs)
	}
	linger := classify.DefaultUDPAnswered()[flow.NTP]
	if first := recs[0]; first.EndReason != flow.EndIdle || !first.EmitAt.Equal(flow.TimeOf(first.End.Time().Add(linger))) {
		t.Errorf("burst record: reason %v, emitted at %v, want idle at its last reply %v + %v", first.EndReason, first.EmitAt, first.End, linger)
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
