package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// frames gives n frames, one per second from start, each holding its own timestamp.
func frames(n int, start time.Time, step time.Duration) []frame {
	out := make([]frame, n)
	for i := range out {
		ts := start.Add(time.Duration(i) * step)
		out[i] = frame{data: []byte(fmt.Sprintf("%-40d", ts.UnixNano())), ts: ts, lt: layers.LinkTypeEthernet}
	}
	return out
}

func writeCapture(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type ended struct {
	i   int
	err error
}

func mergeAll(t *testing.T, names []string) ([]Packet, []ended, *Merge) {
	t.Helper()
	m := NewMerge(names, nil)
	var ends []ended
	m.OnEnd = func(i int, err error) { ends = append(ends, ended{i, err}) }
	var out []Packet
	var p Packet
	for {
		err := m.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c := p
		c.Data = append([]byte(nil), p.Data...)
		out = append(out, c)
	}
	return out, ends, m
}

// TestMergeRotated: a rotated set given in any order comes out in time order, each packet
// with its own file and frame, with at most two files open at once.
func TestMergeRotated(t *testing.T) {
	dir := t.TempDir()
	all := frames(100, t0, time.Second)
	var names []string
	for i := 9; i >= 0; i-- { // given newest first
		b := pcapgoFile(t, true, 65535, layers.LinkTypeEthernet, all[i*10:(i+1)*10])
		if i%3 == 0 {
			b = gz(t, b)
		}
		names = append(names, writeCapture(t, dir, fmt.Sprintf("rot-%d", i), b))
	}
	// After the first look at every file, the files not open yet hold nothing of their
	// readers (a buffer each would make memory grow with the number of files).
	m0 := NewMerge(names, nil)
	var p0 Packet
	if err := m0.Next(&p0); err != nil {
		t.Fatal(err)
	}
	if len(m0.pending) != 9 {
		t.Errorf("%d files waiting after the first packet, want 9", len(m0.pending))
	}
	for _, in := range m0.pending {
		if in.p.Data != nil || in.src != nil {
			t.Errorf("%s: waiting, but holds its reader or a packet's data", in.name)
		}
	}
	m0.Close()

	got, ends, m := mergeAll(t, names)
	if len(got) != 100 {
		t.Fatalf("%d packets, want 100", len(got))
	}
	for i, p := range got {
		if !p.Timestamp.Equal(all[i].ts) || string(p.Data) != string(all[i].data) {
			t.Fatalf("packet %d: %v, want %v", i, p.Timestamp, all[i].ts)
		}
		if want := names[9-i/10]; p.File != want || p.Frame != uint64(i%10+1) {
			t.Fatalf("packet %d: %s frame %d, want %s frame %d", i, p.File, p.Frame, want, i%10+1)
		}
	}
	if len(ends) != 10 {
		t.Errorf("%d files ended, want 10", len(ends))
	}
	for _, e := range ends {
		if e.err != nil {
			t.Errorf("file %d: %v", e.i, e.err)
		}
	}
	if m.MaxOpen() > 2 {
		t.Errorf("%d files open at once for a rotated set, want at most 2", m.MaxOpen())
	}
	// Every buffer made is back on the free list at the end: the ten files shared two.
	if len(m.free) > 2 {
		t.Errorf("%d sets of read buffers made for a rotated set, want at most 2", len(m.free))
	}
	var size int64
	for _, n := range names {
		st, _ := os.Stat(n)
		size += st.Size()
	}
	if m.Consumed() != size {
		t.Errorf("Consumed %d bytes, the files hold %d", m.Consumed(), size)
	}
}

// TestMergeOverlapAndDamage: files that overlap in time are interleaved; a file cut short is
// read up to the cut and its error reported, a file that is not a capture is reported, and
// the others are read to the end.
func TestMergeOverlapAndDamage(t *testing.T) {
	dir := t.TempDir()
	a := frames(20, t0, 2*time.Second)                         // 0, 2, 4, ...
	b := frames(20, t0.Add(time.Second), 2*time.Second)        // 1, 3, 5, ...
	c := frames(10, t0.Add(500*time.Millisecond), time.Second) // cut after 4 packets
	cb := pcapgoFile(t, false, 65535, layers.LinkTypeEthernet, c)
	per := (len(cb) - 24) / 10
	names := []string{
		writeCapture(t, dir, "a.pcap", pcapgoFile(t, true, 65535, layers.LinkTypeEthernet, a)),
		writeCapture(t, dir, "b.pcap", pcapgoFile(t, true, 65535, layers.LinkTypeEthernet, b)),
		writeCapture(t, dir, "c.pcap", cb[:24+4*per+10]),
		writeCapture(t, dir, "notes.txt", []byte("not a capture at all\n")),
	}
	got, ends, _ := mergeAll(t, names)
	if len(got) != 44 {
		t.Fatalf("%d packets, want 20+20+4", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Timestamp.Before(got[i-1].Timestamp) {
			t.Fatalf("packet %d (%s) is earlier than the one before", i, got[i].File)
		}
	}
	errs := map[int]error{}
	for _, e := range ends {
		errs[e.i] = e.err
	}
	if len(ends) != 4 || errs[0] != nil || errs[1] != nil {
		t.Errorf("ends %v: want every file ended once, a and b cleanly", ends)
	}
	if !errors.Is(errs[2], ErrTruncated) {
		t.Errorf("the cut file ended with %v, want a truncation", errs[2])
	}
	if !errors.Is(errs[3], ErrNotCapture) {
		t.Errorf("notes.txt ended with %v, want not a capture", errs[3])
	}
}
