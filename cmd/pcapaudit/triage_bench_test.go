package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var benchSet struct {
	once        sync.Once
	file, dir   string
	packets     int
	bytes       int64
	err         error
	cleanupRoot string
}

// TestMain removes the benchmark's generated captures.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchSet.cleanupRoot != "" {
		os.RemoveAll(benchSet.cleanupRoot)
	}
	os.Exit(code)
}

// triageBenchSet generates the mix (200,000 packets) once, as one file and as a directory of
// 20 rotated files (split by packet count, as tcpdump -C or editcap -c would).
func triageBenchSet(b *testing.B) (file, dir string, packets int, size int64) {
	b.Helper()
	s := &benchSet
	s.once.Do(func() {
		root, err := os.MkdirTemp("", "pcapaudit-triage-bench")
		if err != nil {
			s.err = err
			return
		}
		s.cleanupRoot = root
		s.file, s.dir = filepath.Join(root, "mix.pcap"), filepath.Join(root, "rotated")
		cmd := exec.Command("go", "run", "../pcapgen", "-scenario", "mix", "-flows", "20000", "-packets", "200000", "-o", s.file)
		if out, err := cmd.CombinedOutput(); err != nil {
			s.err = fmt.Errorf("pcapgen: %v: %s", err, out)
			return
		}
		all := readPcap(b, s.file)
		s.packets = len(all)
		st, _ := os.Stat(s.file)
		s.bytes = st.Size()
		per := (len(all) + 19) / 20
		for i := 0; i*per < len(all); i++ {
			writePcap(b, filepath.Join(s.dir, fmt.Sprintf("mix-%02d.pcap", i)), all[i*per:min((i+1)*per, len(all))], false)
		}
	})
	if s.err != nil {
		b.Skip(s.err)
	}
	return s.file, s.dir, s.packets, s.bytes
}

// BenchmarkTriage: the same packets as one file and as 20 rotated files merged in time (the
// rate should be the same), and with cheap filters that turn most packets away before the
// detectors (faster).
func BenchmarkTriage(b *testing.B) {
	file, dir, packets, size := triageBenchSet(b)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"one-file", []string{file}},
		{"dir-20-files", []string{dir}},
		{"dir-20-files/port-123", []string{"--port", "123", dir}},
		{"dir-20-files/host-/24", []string{"--host", "127.1.0.0/24", dir}},
		{"dir-20-files/until-1s", []string{"--until", "1s", dir}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				args := append([]string{"-f", "json", "--fail-on", "none"}, c.args...)
				if code := run(context.Background(), args, nil, io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
			b.ReportMetric(float64(packets)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
