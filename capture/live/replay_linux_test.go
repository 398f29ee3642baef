//go:build linux

package live

import (
	"context"
	"errors"
	"fmt"
	"github.com/gopacket/gopacket/layers"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
	"github.com/pcapaudit/pcapaudit/internal/netnstest"
)

// realCaptures are the project's recordings (127.0.0.0/8 only, frames up to 1338 bytes).
func realCaptures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../../testdata/real/*.pcap")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata/real: %v", err)
	}
	return files
}

// flowKey is a direction-free key of a TCP or UDP frame, "" for other frames.
func flowKey(d *decode.Decoder, data []byte) string {
	var p decode.Packet
	if d.Decode(data, layers.LinkTypeEthernet, time.Time{}, &p) != decode.OK {
		return ""
	}
	a, b := fmt.Sprint(p.Src, p.SrcPort), fmt.Sprint(p.Dst, p.DstPort)
	if a > b {
		a, b = b, a
	}
	return fmt.Sprint(p.Proto, a, b)
}

// TestReplayProjectCaptures: the project's recordings replayed with tcpreplay at top speed
// into the pair come out byte for byte, each frame once, with every flow (both directions) on
// one Source.
func TestReplayProjectCaptures(t *testing.T) {
	if _, err := exec.LookPath("tcpreplay"); err != nil {
		t.Skip("tcpreplay is not installed")
	}
	files := realCaptures(t)
	want := map[string]int{}
	total := 0
	for _, f := range files {
		src, err := capture.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		var p capture.Packet
		for {
			err := src.Next(&p)
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			want[string(p.Data)]++
			total++
		}
		src.Close()
	}
	for _, backend := range backends() {
		t.Run(backend, func(t *testing.T) {
			v := netnstest.New(t)
			c := open(t, v, Config{Backend: backend, Workers: workersFor(backend), PollTimeout: 50 * time.Millisecond})
			var raw []rawFrame
			col := collectRaw(c, nil, &raw)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := append([]string{"-q", "-i", v.B, "--topspeed"}, files...)
			if out, err := v.Command(ctx, "tcpreplay", args...).CombinedOutput(); err != nil {
				t.Fatalf("tcpreplay: %v: %s", err, out)
			}
			col.waitFor(total, 10*time.Second)
			st := sum(c.Stats())
			col.finish(t, c)
			if len(raw) != total {
				t.Errorf("received %d frames, sent %d (stats %+v)", len(raw), total, st)
			}
			left := maps.Clone(want)
			d := decode.New(decode.Config{})
			flowSource := map[string]int{}
			for _, f := range raw {
				if left[f.data] == 0 {
					t.Errorf("a frame not sent, or received once more (%d bytes)", len(f.data))
					continue
				}
				left[f.data]--
				if k := flowKey(d, []byte(f.data)); k != "" {
					if s, ok := flowSource[k]; ok && s != f.source {
						t.Errorf("flow %s on sources %d and %d", k, s, f.source)
					}
					flowSource[k] = f.source
				}
			}
			if len(flowSource) < 40 {
				t.Errorf("%d flows, want the recordings' 40 or more", len(flowSource))
			}
			t.Logf("%d frames of %d files, %d flows, stats %+v", len(raw), len(files), len(flowSource), st)
		})
	}
}
