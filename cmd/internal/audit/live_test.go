package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
	"github.com/pcapaudit/pcapaudit/rules"
)

// shipped returns the packets of a capture in testdata/real, each with its own copy of data.
func shipped(t *testing.T, name string) []capture.Packet {
	t.Helper()
	src, err := capture.Open(filepath.Join(corpustest.Root(t), "testdata", "real", name))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var pkts []capture.Packet
	var p capture.Packet
	for src.Next(&p) == nil {
		c := p
		c.Data = bytes.Clone(p.Data)
		pkts = append(pkts, c)
	}
	return pkts
}

// heldOpen is a live source made of a capture's packets without its closing ones (FIN, RST),
// so its flow stays open; after them it reports quiet polls while the test's clock moves on a
// minute at a time, then stops.
type heldOpen struct {
	pkts    []capture.Packet
	i       int
	clock   *time.Time
	minutes int
}

func (h *heldOpen) Next(p *capture.Packet) error {
	if h.i < len(h.pkts) {
		*p = h.pkts[h.i]
		h.i++
		return nil
	}
	if h.minutes == 0 {
		return capture.ErrStopped
	}
	h.minutes--
	*h.clock = h.clock.Add(time.Minute)
	return capture.ErrTimeout
}

func (h *heldOpen) Close() error { return nil }

// TestInterimRecordsAndSuppression: a cleartext LDAP bind on a connection that stays open gets
// an interim record every interval with its counters so far, and its findings are reported
// once — on the first record that carries them — while the repeats within the suppression
// window are held back and counted; the final record at the end says the same flow ended.
func TestInterimRecordsAndSuppression(t *testing.T) {
	var pkts []capture.Packet
	for _, p := range shipped(t, "ldap-simple-bind.pcap") {
		// TCP flags at byte 14+20+13 of these Ethernet/IPv4 frames: leave out FIN and RST.
		if len(p.Data) <= 47 || p.Data[47]&0x05 == 0 {
			pkts = append(pkts, p)
		}
	}
	clock := pkts[len(pkts)-1].Timestamp
	var out bytes.Buffer
	js := report.NewJSON(&out, false, "default")
	a := New(Options{Policy: rules.Default(), Workers: 2, Sinks: []Sink{js}, Log: zerolog.Nop(),
		Suppress: 10 * time.Minute, FlushEvery: 0,
		Engine: func(c *classify.Config) { c.Interim = 2 * time.Minute }})
	a.now = func() time.Time { return clock }
	a.Live(context.Background(), "eth0", []capture.Source{&heldOpen{pkts: pkts, clock: &clock, minutes: 9}}, func() {}, nil)
	sum, err := a.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	var interim, final int
	findings := map[string]int{}
	dec := json.NewDecoder(strings.NewReader(text))
	for {
		var d struct {
			Event     struct{ Dataset string }
			Rule      struct{ ID string }
			Pcapaudit struct {
				Interim    bool
				EndReason  string `json:"end_reason"`
				Suppressed uint64
			}
			Source struct{ Packets int }
		}
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch d.Event.Dataset {
		case "pcapaudit.flow":
			if d.Pcapaudit.Interim {
				interim++
				if d.Pcapaudit.EndReason != "" {
					t.Errorf("interim record with end reason %q", d.Pcapaudit.EndReason)
				}
			} else {
				final++
			}
		case "pcapaudit.finding":
			findings[d.Rule.ID]++
		}
	}
	// Open for 9 minutes after its last packet, 2-minute interval: interim records at
	// minutes 2, 4, 6 and 8 (of flow age, counted from its first packet).
	if interim != 4 || final != 1 {
		t.Errorf("%d interim and %d final records, want 4 and 1", interim, final)
	}
	if len(findings) == 0 {
		t.Fatal("no finding on a cleartext simple bind")
	}
	for id, n := range findings {
		if n != 1 {
			t.Errorf("finding %s reported %d times within the suppression window, want once", id, n)
		}
	}
	if want := uint64(4 * len(findings)); sum.Suppressed != want {
		t.Errorf("summary counts %d suppressed findings, want %d (each of %d rules on 3 more interim records and the final one)", sum.Suppressed, want, len(findings))
	}
	if !strings.Contains(text, `"interim":true`) {
		t.Error("no interim marker in the NDJSON")
	}
}

// flappy fails a few times with a transient error (a link that went away), then yields its
// packets, then stops; it records how many readers the audit counted as capturing meanwhile.
type flappy struct {
	a        *Audit
	fails    int
	pkts     []capture.Packet
	i        int
	seenDown bool
}

var errLinkGone = errors.New("link gone")

func (f *flappy) Next(p *capture.Packet) error {
	if f.fails > 0 {
		f.fails--
		if f.fails < 2 && f.a.Readers() == 0 {
			f.seenDown = true
		}
		return errLinkGone
	}
	if f.i < len(f.pkts) {
		*p = f.pkts[f.i]
		f.i++
		return nil
	}
	return capture.ErrStopped
}

func (f *flappy) Close() error { return nil }

// TestLiveReaderSurvivesTransientErrors: a ring that fails for a while (the interface gone)
// counts as not capturing, is logged, and is read again when it comes back; nothing is lost.
func TestLiveReaderSurvivesTransientErrors(t *testing.T) {
	defer func(d time.Duration) { transientPause = d }(transientPause)
	transientPause = time.Millisecond
	pkts := shipped(t, "ntp-client.pcap")
	var out, logs bytes.Buffer
	a := New(Options{Policy: rules.Default(), Workers: 1, Sinks: []Sink{report.NewJSON(&out, false, "default")}, Log: zerolog.New(&logs)})
	f := &flappy{a: a, fails: 5, pkts: pkts}
	fs := a.Live(context.Background(), "eth0", []capture.Source{f}, func() {}, func(error) bool { return true })
	if _, err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !f.seenDown {
		t.Error("while the source failed, the reader still counted as capturing")
	}
	if fs.Packets != uint64(len(pkts)) || fs.Err != "" {
		t.Errorf("read %d of %d packets, error %q", fs.Packets, len(pkts), fs.Err)
	}
	if !strings.Contains(out.String(), `"protocol":"ntp"`) {
		t.Error("the NTP flow after the failures was not reported")
	}
	if n := strings.Count(logs.String(), "link gone"); n != 1 {
		t.Errorf("the failure was logged %d times, want once (at most once a minute)", n)
	}
}
